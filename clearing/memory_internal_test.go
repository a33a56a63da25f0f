package clearing

import (
	"strconv"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

type openEnv struct{}

func (openEnv) Participant(identity.DID) (bool, bool)   { return true, true }
func (openEnv) Trust(identity.DID, identity.DID) uint32 { return 1_000_000 }
func (openEnv) MinTrust() uint32                        { return 100_000 }
func (openEnv) DebitCap(_ identity.DID, cur string) (money.Amount, bool) {
	return money.FromUnits(1_000_000_000, money.Hours), cur == money.Hours.Code
}

// TestMemoryHoldsOnlyPending: decided transfers leave memory; positions and
// bilateral sums are bounded by the participants of the period.
func TestMemoryHoldsOnlyPending(t *testing.T) {
	rec := NewMemRecords()
	b := NewBook(rec)
	dids := []identity.DID{"did:icn:a", "did:icn:b", "did:icn:c"}
	for i := range 3000 {
		id := strconv.Itoa(i)
		r := PrepareRequest{ID: id, From: dids[i%3], To: dids[(i+1)%3], Amount: money.FromUnits(int64(1+i%7), money.Hours), ExpiresAt: int64(i) + 50}
		if _, err := b.Prepare(openEnv{}, r, int64(i)); err != nil {
			t.Fatal(err)
		}
		var err error
		switch i % 3 {
		case 0:
			_, err = b.Commit(id, int64(i))
		case 1:
			_, err = b.Abort(id, ReasonReceiverRejected, int64(i))
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ExpireDue(int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.pending) != len(b.expiry) || len(b.pending) > 20 {
		t.Fatalf("pending %d, heap %d", len(b.pending), len(b.expiry))
	}
	if len(b.pos) != 3 || len(b.bil) != 1 || rec.Len() != 3000 {
		t.Fatalf("pos %d, bil %d, records %d", len(b.pos), len(b.bil), rec.Len())
	}
	if _, err := b.ExpireDue(1 << 40); err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenPeriod(2, 1<<40); err != nil {
		t.Fatal(err)
	}
	// Only the carried debit of a (sender) and credit of b remain: every commit went a → b.
	if len(b.pending) != 0 || len(b.expiry) != 0 || len(b.pos) != 2 || len(b.bil) != 0 {
		t.Fatalf("after close: pending %d, heap %d, pos %d, bil %d", len(b.pending), len(b.expiry), len(b.pos), len(b.bil))
	}
	for k, p := range b.pos {
		if *p != (pos{carried: p.carried}) || p.carried == 0 {
			t.Fatalf("after close: %v %+v", k, *p)
		}
	}
	for i, p := range b.expiry {
		if p.idx != i {
			t.Fatal("heap index out of sync")
		}
	}
}
