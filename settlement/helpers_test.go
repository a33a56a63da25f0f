package settlement_test

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

var (
	hours = money.Hours
	kwh   = money.Currency{Code: "kwh", Scale: 3}
	curs  = money.Currencies{hours.Code: hours, kwh.Code: kwh}
)

// keyN returns the deterministic key number n (seed = n as 4 bytes, repeated).
func keyN(n int) *identity.Key {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(n >> (8 * (i % 4)))
	}
	seed[31] ^= 0x5a
	k, err := identity.KeyFromSeed(seed)
	if err != nil {
		panic(err)
	}
	return k
}

var didCache = map[int]identity.DID{}

// did returns the DID of keyN(n).
func did(n int) identity.DID {
	if d, ok := didCache[n]; ok {
		return d
	}
	d := keyN(n).DID()
	didCache[n] = d
	return d
}

func dids(n int) []identity.DID {
	out := make([]identity.DID, n)
	for i := range out {
		out[i] = did(i)
	}
	return out
}

// Named participants for table tests.
var (
	A   = did(1001)
	B   = did(1002)
	C   = did(1003)
	D   = did(1004)
	Fed = did(2000)
)

const period = 7

// tr returns a committed transfer of period 7.
func tr(id string, from, to identity.DID, amount money.Amount) clearing.Transfer {
	return clearing.Transfer{ID: id, From: from, To: to, Amount: amount, State: clearing.StateCommitted,
		Period: period, PreparedAt: 1, ExpiresAt: 1 << 62, DecidedAt: 1_700_000_000_000_000_000 + int64(len(id))}
}

func h(units int64) money.Amount { return money.FromUnits(units, hours) }
func k(units int64) money.Amount { return money.FromUnits(units, kwh) }

var header = settlement.Header{Federation: Fed, Period: period, OpenedAt: 1_699_000_000_000_000_000, ClosedAt: 1_700_000_000_500_000_000}

// randomPeriod returns n committed transfers among p participants (of ps) in
// hours and kwh, with amounts drawn to give both small and large values.
func randomPeriod(r *rand.Rand, ps []identity.DID, n int) []clearing.Transfer {
	out := make([]clearing.Transfer, n)
	for i := range out {
		f := r.IntN(len(ps))
		t := r.IntN(len(ps) - 1)
		if t >= f {
			t++
		}
		var amt int64
		switch r.IntN(4) {
		case 0:
			amt = 1 + r.Int64N(10)
		case 1:
			amt = 1 + r.Int64N(1_000)
		default:
			amt = 1 + r.Int64N(1_000_000)
		}
		a := h(amt)
		if r.IntN(3) == 0 {
			a = k(amt)
		}
		out[i] = clearing.Transfer{
			ID: fmt.Sprintf("t-%d-%08x", i, r.Uint32()), From: ps[f], To: ps[t], Amount: a,
			IntentHash: [32]byte{byte(i)}, State: clearing.StateCommitted, Period: period,
			PreparedAt: int64(i), ExpiresAt: int64(i) + 1e12, DecidedAt: 1_700_000_000_000_000_000 + int64(i)*1000 + r.Int64N(1000),
		}
	}
	return out
}

func mustNet(t testing.TB, ts []clearing.Transfer) settlement.Netting {
	t.Helper()
	n, err := settlement.Net(ts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustReport(t testing.TB, ts []clearing.Transfer) settlement.Report {
	t.Helper()
	r, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: ts, Currencies: curs})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustReportV1 builds the version 1 report (no settlement rules) of ts.
func mustReportV1(t testing.TB, ts []clearing.Transfer) settlement.Report {
	t.Helper()
	r, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: ts, Currencies: curs, Version: settlement.ReportVersion1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustTree(t testing.TB, ts []clearing.Transfer) *settlement.Tree {
	t.Helper()
	tree, err := settlement.NewTree(ts)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// proofsFor returns the proofs of every transfer of coop in ts.
func proofsFor(t testing.TB, tree *settlement.Tree, ts []clearing.Transfer, coop identity.DID) ([]clearing.Transfer, map[string]settlement.Proof) {
	t.Helper()
	var own []clearing.Transfer
	ps := map[string]settlement.Proof{}
	for _, x := range ts {
		if x.From != coop && x.To != coop {
			continue
		}
		own = append(own, x)
		p, err := tree.Proof(x.ID)
		if err != nil {
			t.Fatal(err)
		}
		ps[x.ID] = p
	}
	return own, ps
}
