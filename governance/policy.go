package governance

import (
	"fmt"
	"time"
)

// Kind is what a proposal is about; each kind has its rule.
type Kind string

// The kinds of proposal (issue #17).
const (
	// KindEconomic changes credit limits: the default for new members, a
	// member's own.
	KindEconomic Kind = "economic"
	// KindMembership grants or revokes roles.
	KindMembership Kind = "membership"
	// KindRemoval removes a member.
	KindRemoval Kind = "removal"
	// KindAppeal reverses a removal; only the removed member opens one
	// (OpenAppeal).
	KindAppeal Kind = "appeal"
	// KindDues sets the co-op's dues schedule.
	KindDues Kind = "dues"
)

// Kinds lists every kind, in a fixed order.
var Kinds = []Kind{KindEconomic, KindMembership, KindRemoval, KindAppeal, KindDues}

// Threshold is the share of decisive votes (For and Against) a proposal
// needs. Abstentions count towards the quorum and not here.
type Threshold string

const (
	// Majority: more For than Against. A tie fails.
	Majority Threshold = "majority"
	// TwoThirds: For at least two thirds of For + Against (and at least one).
	TwoThirds Threshold = "two_thirds"
)

// Fraction is Num/Den, for quorums (no floats in a rule).
type Fraction struct{ Num, Den int }

// Rule is how a kind of proposal is decided.
type Rule struct {
	Threshold Threshold
	// Quorum is the share of the electorate that must take part (For,
	// Against or Abstain, directly or through a delegate).
	Quorum Fraction
	// Discussion is how long a proposal is discussed before voting opens
	// (may be zero); Voting how long voting lasts.
	Discussion, Voting time.Duration
}

// Policy is a co-op's rule per kind.
type Policy map[Kind]Rule

const day = 24 * time.Hour

// DefaultPolicy is the rules a co-op starts with: economic, membership and
// appeal proposals by simple majority with a third of the members taking
// part, after three days of discussion and a week of voting; removals and
// dues changes by two thirds with half taking part, after a week of
// discussion. A removal therefore needs a supermajority, and its appeal
// only a majority: the removed member's side is the one the rules favour.
func DefaultPolicy() Policy {
	third, half := Fraction{1, 3}, Fraction{1, 2}
	return Policy{
		KindEconomic:   {Majority, third, 3 * day, 7 * day},
		KindMembership: {Majority, third, 3 * day, 7 * day},
		KindRemoval:    {TwoThirds, half, 7 * day, 7 * day},
		KindAppeal:     {Majority, third, 3 * day, 7 * day},
		KindDues:       {TwoThirds, half, 7 * day, 7 * day},
	}
}

// MaxPeriod bounds a discussion or voting period.
const MaxPeriod = 90 * day

// Validate checks that every kind has a usable rule.
func (p Policy) Validate() error {
	for _, k := range Kinds {
		r, ok := p[k]
		if !ok {
			return errorf(ErrInvalidPolicy, "no rule for %s proposals", k)
		}
		if err := r.validate(); err != nil {
			return fmt.Errorf("%s proposals: %w", k, err)
		}
	}
	return nil
}

func (r Rule) validate() error {
	switch {
	case r.Threshold != Majority && r.Threshold != TwoThirds:
		return errorf(ErrInvalidPolicy, "threshold %q is neither %s nor %s", r.Threshold, Majority, TwoThirds)
	case r.Quorum.Den <= 0 || r.Quorum.Num < 0 || r.Quorum.Num > r.Quorum.Den:
		return errorf(ErrInvalidPolicy, "quorum %d/%d is not a fraction in [0, 1]", r.Quorum.Num, r.Quorum.Den)
	case r.Discussion < 0 || r.Discussion > MaxPeriod:
		return errorf(ErrInvalidPolicy, "discussion period %s outside 0..%s", r.Discussion, MaxPeriod)
	case r.Voting <= 0 || r.Voting > MaxPeriod:
		return errorf(ErrInvalidPolicy, "voting period %s outside (0, %s]", r.Voting, MaxPeriod)
	}
	return nil
}

// errorf wraps kind with a detail message.
func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)
}
