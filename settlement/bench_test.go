package settlement_test

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/settlement"
)

// period1M is 1,000,000 committed hours transfers among 1,000 co-ops, made
// once per process (outside every timer).
var period1M = sync.OnceValue(func() []clearing.Transfer {
	r := rand.New(rand.NewPCG(1, 1))
	ps := make([]identity.DID, 1000)
	for i := range ps {
		ps[i] = keyN(100_000 + i).DID()
	}
	ts := make([]clearing.Transfer, 1_000_000)
	for i := range ts {
		f := r.IntN(len(ps))
		t := (f + 1 + r.IntN(len(ps)-1)) % len(ps)
		ts[i] = clearing.Transfer{
			ID: "01J" + strconv.FormatUint(r.Uint64(), 36) + "-" + strconv.Itoa(i), From: ps[f], To: ps[t],
			Amount: h(1 + r.Int64N(100_000)), State: clearing.StateCommitted, Period: period,
			DecidedAt: 1_700_000_000_000_000_000 + int64(i)*86_400,
		}
	}
	return ts
})

// BenchmarkNet1M: netting and instruction building for 1,000,000 transfers
// among 1,000 co-ops (the target: ≤ 1 s on one core; run with -cpu 1).
func BenchmarkNet1M(b *testing.B) {
	ts := period1M()
	b.ReportAllocs()
	for b.Loop() {
		n, err := settlement.Net(ts)
		if err != nil {
			b.Fatal(err)
		}
		if ins := settlement.Plan(n); len(ins) == 0 || len(ins) >= 1000 {
			b.Fatal(len(ins))
		}
	}
}

// BenchmarkMerkleRoot1M: the Merkle root over the same 1,000,000 transfers.
func BenchmarkMerkleRoot1M(b *testing.B) {
	ts := period1M()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := settlement.MerkleRoot(ts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildReport1M: the whole report (netting, instructions, root)
// over the same transfers.
func BenchmarkBuildReport1M(b *testing.B) {
	ts := period1M()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: ts, Currencies: curs}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewTreeProofs1M: the full tree (kept for proofs) and 1,000 proofs.
func BenchmarkNewTreeProofs1M(b *testing.B) {
	ts := period1M()
	b.ReportAllocs()
	for b.Loop() {
		tree, err := settlement.NewTree(ts)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(ts); i += 1000 {
			if _, err := tree.Proof(ts[i].ID); err != nil {
				b.Fatal(err)
			}
		}
	}
}
