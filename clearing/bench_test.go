package clearing_test

import (
	"strconv"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// BenchmarkPrepareCommit: one Prepare and one Commit of a new transfer between
// 100 participants, with about 1000 transfers pending, on MemRecords (which
// grows to b.N records and dominates the cost).
func BenchmarkPrepareCommit(b *testing.B) { benchPrepareCommit(b, clearing.NewMemRecords()) }

// BenchmarkPrepareCommitNullRecords: the same with records that keep nothing:
// the book's own cost.
func BenchmarkPrepareCommitNullRecords(b *testing.B) { benchPrepareCommit(b, nullRecords{}) }

type nullRecords struct{}

func (nullRecords) Get(string) (clearing.Transfer, bool, error) {
	return clearing.Transfer{}, false, nil
}
func (nullRecords) Put(clearing.Transfer) error { return nil }

func benchPrepareCommit(b *testing.B, rec clearing.Records) {
	env := newEnv()
	var dids []identity.DID
	for i := range 100 {
		d := identity.DID("did:icn:bench" + strconv.Itoa(i))
		dids = append(dids, d)
		env.known[d], env.active[d] = true, true
		env.caps[capKey{d, "hours"}] = money.FromUnits(1<<60, hours)
	}
	env.min = 0
	const backlog = 1000
	ids := make([]string, b.N+backlog)
	for i := range ids {
		ids[i] = "bench-" + strconv.Itoa(i)
	}
	book := clearing.NewBook(rec)
	prep := func(i int) {
		r := clearing.PrepareRequest{ID: ids[i], From: dids[i%100], To: dids[(i*7+1)%100], Amount: h(int64(1 + i%1000)), ExpiresAt: int64(i) + 1<<40}
		if o, err := book.Prepare(env, r, int64(i)); err != nil || o.Transfer.State != clearing.StatePrepared {
			b.Fatal(o, err)
		}
	}
	for i := range backlog {
		prep(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		prep(backlog + i)
		if o, err := book.Commit(ids[i], int64(backlog+i)); err != nil || o.Transfer.State != clearing.StateCommitted {
			b.Fatal(o, err)
		}
	}
}
