package governance

import (
	"time"

	"github.com/icn-coop/icn/identity"
)

// Counted is one member of the electorate whose vote counted: its own
// ballot (By == Member) or, through its delegations, the ballot of By.
type Counted struct {
	Member identity.DID
	Choice Choice
	By     identity.DID
}

// Tally is a proposal's count. Each member of the electorate counts at
// most once, with its own latest vote if it voted, otherwise with the
// latest vote of the first member along its delegation chain who voted,
// otherwise not at all.
type Tally struct {
	Eligible              int
	For, Against, Abstain int
	// Counted lists the members who counted, sorted by Member: with the
	// ballots, it is the audit of the result.
	Counted []Counted
}

// Participants is how many members counted.
func (t Tally) Participants() int { return t.For + t.Against + t.Abstain }

// Result says why a proposal closed as it did.
type Result string

// The results.
const (
	ResultPassed    Result = "passed"
	ResultNoQuorum  Result = "no_quorum" // too few of the electorate took part
	ResultTie       Result = "tie"       // as many For as Against
	ResultRejected  Result = "rejected"  // the threshold was not met
	ResultCancelled Result = "cancelled"
)

// Outcome is how a proposal closed, and what it makes happen.
type Outcome struct {
	Proposal string
	Status   Status // passed, failed or cancelled
	Result   Result
	Tally    Tally
	ClosedAt time.Time
	// ClosedBy is the moderator who closed voting early, or the one who
	// cancelled; empty when the deadline closed it.
	ClosedBy identity.DID
	// Effects are the changes to apply, in order; empty unless passed.
	Effects []Effect
}

// Tally counts p's ballots as they stand, with delegations d (nil: none).
func (p *Proposal) Tally(d *Delegations) Tally {
	if d == nil {
		d = &Delegations{}
	}
	direct := p.latestChoices()
	memo := map[identity.DID]identity.DID{}
	t := Tally{Eligible: len(p.Electorate)}
	for _, m := range p.Electorate {
		by := resolve(m, direct, d, memo)
		if by == "" {
			continue
		}
		c := direct[by]
		t.Counted = append(t.Counted, Counted{Member: m, Choice: c, By: by})
		switch c {
		case For:
			t.For++
		case Against:
			t.Against++
		case Abstain:
			t.Abstain++
		}
	}
	return t
}

// latestChoices maps each voter to the choice of its highest revision.
func (p *Proposal) latestChoices() map[identity.DID]Choice {
	rev := make(map[identity.DID]uint32, len(p.Ballots))
	out := make(map[identity.DID]Choice, len(p.Ballots))
	for _, b := range p.Ballots {
		if v := b.Vote; v.Revision > rev[v.Voter] {
			rev[v.Voter], out[v.Voter] = v.Revision, v.Choice
		}
	}
	return out
}

// resolve finds whose ballot counts for m: m's own, or the first voter along
// its delegation chain; "" if none. memo keeps the answer for every member
// walked through, so a tally is linear in the delegations. The walk is
// bounded by their number (they are acyclic; the bound keeps a corrupt
// list from looping).
func resolve(m identity.DID, direct map[identity.DID]Choice, d *Delegations, memo map[identity.DID]identity.DID) identity.DID {
	var path []identity.DID
	cur, by := m, identity.DID("")
	for n := 0; n <= d.Len(); n++ {
		if hit, ok := memo[cur]; ok {
			by = hit
			break
		}
		path = append(path, cur)
		if _, ok := direct[cur]; ok {
			by = cur
			break
		}
		next, ok := d.To(cur)
		if !ok {
			break
		}
		cur = next
	}
	for _, w := range path {
		memo[w] = by
	}
	return by
}

// result applies the rule to t. The quorum is over the electorate:
// participants × Den ≥ Num × eligible, and nobody eligible means no quorum.
// Abstentions count towards the quorum only; the threshold is over For and
// Against.
func (t Tally) result(r Rule) Result {
	if t.Eligible == 0 || t.Participants()*r.Quorum.Den < r.Quorum.Num*t.Eligible {
		return ResultNoQuorum
	}
	if t.For == t.Against {
		return ResultTie
	}
	pass := t.For > t.Against
	if r.Threshold == TwoThirds {
		pass = 3*t.For >= 2*(t.For+t.Against)
	}
	if !pass {
		return ResultRejected
	}
	return ResultPassed
}
