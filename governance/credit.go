package governance

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// CreditPolicy gates a member's credit by the trust other members place in
// them (issue #17 item 7): the member's effective credit limit is the limit
// set for them (their own, or the co-op's default) scaled by their
// standing, a percentage from 0 to MaxPercent (docs/governance.md,
// "Trust-gated credit"):
//
//   - SponsorPercent if the member joined by an invite (its creator is the
//     member's sponsor), 0 otherwise;
//   - plus VouchPercent for each distinct member in good standing who has
//     vouched for them (a vouch for oneself never counts);
//   - at most MaxPercent;
//   - 0 while the member's trust is suspended (a removal) or while it is in
//     recovery (a voucher's emergency revoke);
//   - MaxPercent for an exempt member (the co-op's admin, the root of the
//     sponsorship tree, whom nobody sponsored).
//
// The effective limit is floor(set × standing / 100) in minor units: never
// above the set limit, never below zero, and the same on every node.
type CreditPolicy struct {
	SponsorPercent int
	VouchPercent   int
	MaxPercent     int
}

// DefaultCreditPolicy is the policy of docs/governance.md: 50 % for a
// sponsor, 25 % per vouch, capped at 100 %.
func DefaultCreditPolicy() CreditPolicy {
	return CreditPolicy{SponsorPercent: 50, VouchPercent: 25, MaxPercent: 100}
}

// Validate checks that every percentage is in [0, 100].
func (p CreditPolicy) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"sponsor_percent", p.SponsorPercent}, {"vouch_percent", p.VouchPercent}, {"max_percent", p.MaxPercent}} {
		if f.v < 0 || f.v > 100 {
			return errorf(ErrInvalidCreditPolicy, "%s is %d, want 0 to 100", f.name, f.v)
		}
	}
	return nil
}

// Standing is what the policy reads about one member. The co-op node fills
// it from its records at the instant it decides (a payment's time).
type Standing struct {
	Member identity.DID
	// Sponsored: the member joined by an invite.
	Sponsored bool
	// Vouchers are the members in good standing who vouched for Member, in
	// any order; repeats and Member itself are ignored.
	Vouchers []identity.DID
	// Suspended: a removal suspended the member's trust.
	Suspended bool
	// InRecovery: a voucher put the member's DID in recovery mode.
	InRecovery bool
	// Exempt: the member's credit is not gated (the co-op's admin).
	Exempt bool
}

// CountedVouchers returns the distinct vouchers that count, sorted.
func (s Standing) CountedVouchers() []identity.DID {
	out := make([]identity.DID, 0, len(s.Vouchers))
	for _, v := range s.Vouchers {
		if v != s.Member && v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Percent is the member's standing, 0 to p.MaxPercent.
func (p CreditPolicy) Percent(s Standing) int {
	switch {
	case s.Suspended || s.InRecovery:
		return 0
	case s.Exempt:
		return p.MaxPercent
	}
	pct := 0
	if s.Sponsored {
		pct = p.SponsorPercent
	}
	// Added one vouch at a time against the cap, so that no count of
	// vouchers overflows.
	for range s.CountedVouchers() {
		if pct >= p.MaxPercent {
			break
		}
		pct += p.VouchPercent
	}
	return min(pct, p.MaxPercent)
}

// EffectiveUnits is floor(set × percent / 100) for a limit of set minor
// units (a negative set limit counts as 0).
func EffectiveUnits(set int64, percent int) int64 {
	if set <= 0 || percent <= 0 {
		return 0
	}
	if percent >= 100 {
		return set
	}
	v := new(big.Int).Mul(big.NewInt(set), big.NewInt(int64(percent)))
	return v.Quo(v, big.NewInt(100)).Int64()
}

// EffectiveLimit is set scaled by the member's standing.
func (p CreditPolicy) EffectiveLimit(set money.Amount, s Standing) money.Amount {
	return money.FromUnits(EffectiveUnits(set.Units(), p.Percent(s)), set.Currency())
}

// String describes the policy.
func (p CreditPolicy) String() string {
	return fmt.Sprintf("sponsor %d %%, %d %% per vouch, at most %d %%", p.SponsorPercent, p.VouchPercent, p.MaxPercent)
}
