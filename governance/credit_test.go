package governance

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

func TestCreditPolicyRules(t *testing.T) {
	p := DefaultCreditPolicy()
	ann, bob, cid, dan, eve := key(t, "ann").DID(), key(t, "bob").DID(), key(t, "cid").DID(), key(t, "dan").DID(), key(t, "eve").DID()
	for _, c := range []struct {
		name string
		s    Standing
		want int
	}{
		{"nobody", Standing{Member: ann}, 0},
		{"sponsor", Standing{Member: ann, Sponsored: true}, 50},
		{"one vouch, no sponsor", Standing{Member: ann, Vouchers: []identity.DID{bob}}, 25},
		{"sponsor and a vouch", Standing{Member: ann, Sponsored: true, Vouchers: []identity.DID{bob}}, 75},
		{"sponsor and two", Standing{Member: ann, Sponsored: true, Vouchers: []identity.DID{bob, cid}}, 100},
		{"capped", Standing{Member: ann, Sponsored: true, Vouchers: []identity.DID{bob, cid, dan, eve}}, 100},
		{"repeats count once", Standing{Member: ann, Vouchers: []identity.DID{bob, bob, bob}}, 25},
		{"self never counts", Standing{Member: ann, Vouchers: []identity.DID{ann, ann}}, 0},
		{"suspended", Standing{Member: ann, Sponsored: true, Vouchers: []identity.DID{bob, cid}, Suspended: true}, 0},
		{"in recovery", Standing{Member: ann, Sponsored: true, Vouchers: []identity.DID{bob}, InRecovery: true}, 0},
		{"exempt", Standing{Member: ann, Exempt: true}, 100},
		{"exempt in recovery", Standing{Member: ann, Exempt: true, InRecovery: true}, 0},
	} {
		if got := p.Percent(c.s); got != c.want {
			t.Errorf("%s: %d %%, want %d %%", c.name, got, c.want)
		}
	}
	set, _ := money.Parse("40", money.Hours)
	if got := p.EffectiveLimit(set, Standing{Member: ann, Sponsored: true, Vouchers: []identity.DID{bob}}).String(); got != "30.00" {
		t.Fatalf("75 %% of 40: %s", got)
	}
	// floor in minor units: 0.01 × 75 % is 0.
	if got := EffectiveUnits(1, 75); got != 0 {
		t.Fatalf("EffectiveUnits(1, 75) = %d", got)
	}
	if got := EffectiveUnits(math.MaxInt64, 99); got != math.MaxInt64/100*99+(math.MaxInt64%100)*99/100 {
		t.Fatalf("EffectiveUnits(max, 99) = %d", got)
	}
}

func TestCreditPolicyValidate(t *testing.T) {
	if err := DefaultCreditPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []CreditPolicy{{SponsorPercent: -1}, {VouchPercent: 101}, {MaxPercent: 200}} {
		err := p.Validate()
		if !errors.Is(err, ErrInvalidCreditPolicy) || Code(err) != "invalid_credit_policy" {
			t.Fatalf("%+v: %v", p, err)
		}
	}
}

// randomStanding draws a member's standing among pool's DIDs.
func randomStanding(r *rand.Rand, pool []identity.DID) Standing {
	s := Standing{Member: pool[0], Sponsored: r.IntN(2) == 0, Suspended: r.IntN(8) == 0,
		InRecovery: r.IntN(8) == 0, Exempt: r.IntN(10) == 0}
	for range r.IntN(8) {
		s.Vouchers = append(s.Vouchers, pool[r.IntN(len(pool))])
	}
	return s
}

func randomPolicy(r *rand.Rand) CreditPolicy {
	return CreditPolicy{SponsorPercent: r.IntN(101), VouchPercent: r.IntN(101), MaxPercent: r.IntN(101)}
}

// TestPropertyCreditPolicy: for random policies, standings and set limits,
// the effective limit is never negative nor above the set limit (nor the
// policy's cap of it); adding a vouch never lowers it; the order and
// repetition of vouchers change nothing; and the same inputs always give
// the same answer.
func TestPropertyCreditPolicy(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 7))
	pool := make([]identity.DID, 6)
	for i := range pool {
		pool[i] = key(t, strings.Repeat("m", i+1)).DID()
	}
	limits := []int64{0, 1, 3, 99, 100, 4000, 123457, math.MaxInt64 / 3, math.MaxInt64}
	for range 5000 {
		p, s := randomPolicy(r), randomStanding(r, pool)
		set := money.FromUnits(limits[r.IntN(len(limits))], money.Hours)
		eff := p.EffectiveLimit(set, s)
		if eff.Sign() < 0 || eff.Cmp(set) > 0 {
			t.Fatalf("%v %+v: effective %s outside [0, %s]", p, s, eff, set)
		}
		if pct := p.Percent(s); pct < 0 || pct > p.MaxPercent {
			t.Fatalf("%v %+v: percent %d", p, s, pct)
		}
		if p.EffectiveLimit(set, s) != eff {
			t.Fatalf("%v %+v: not deterministic", p, s)
		}
		// Monotone: one more voucher, whoever it is.
		more := s
		more.Vouchers = append(slices.Clone(s.Vouchers), pool[r.IntN(len(pool))])
		if p.EffectiveLimit(set, more).Cmp(eff) < 0 || p.Percent(more) < p.Percent(s) {
			t.Fatalf("%v %+v: a vouch lowered the limit", p, s)
		}
		// Order and repeats do not matter.
		shuf := s
		shuf.Vouchers = slices.Clone(s.Vouchers)
		r.Shuffle(len(shuf.Vouchers), func(i, j int) { shuf.Vouchers[i], shuf.Vouchers[j] = shuf.Vouchers[j], shuf.Vouchers[i] })
		shuf.Vouchers = append(shuf.Vouchers, shuf.Vouchers...)
		if p.Percent(shuf) != p.Percent(s) {
			t.Fatalf("%v %+v: order or repeats of vouchers changed the standing", p, s)
		}
		// A suspended or recovering member has nothing.
		if (s.Suspended || s.InRecovery) && !eff.IsZero() {
			t.Fatalf("%v %+v: %s while suspended or in recovery", p, s, eff)
		}
		// Monotone in the set limit too.
		if bigger := money.FromUnits(min(set.Units()+r.Int64N(1000), math.MaxInt64), money.Hours); bigger.Units() >= set.Units() &&
			p.EffectiveLimit(bigger, s).Cmp(eff) < 0 {
			t.Fatalf("%v %+v: a higher set limit lowered the effective one", p, s)
		}
	}
}

func TestRecoveryQuorum(t *testing.T) {
	for n, want := range map[int]int{0: 2, 1: 2, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 4, 10: 6} {
		if got := RecoveryQuorum(n); got != want {
			t.Errorf("RecoveryQuorum(%d) = %d, want %d", n, got, want)
		}
	}
}
