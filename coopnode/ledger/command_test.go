package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/coopnode/store/storetest"
	"github.com/icn-coop/icn/money"
)

// randomCommands drives s with n random ledger operations (payments that
// pass or fail the credit check, holds, incoming credits, their decisions
// both ways, repeats, modified repeats, limit changes) and feed events.
func randomCommands(t *testing.T, s *Store, rng *rand.Rand, n int) {
	t.Helper()
	m := memberDIDs(t, rng.Uint64(), 5)
	clr := ClearingAccount("did:icn:hub")
	var open []Payment
	var done []Transfer
	for i := range n {
		a, b := m[rng.IntN(len(m))], m[rng.IntN(len(m))]
		for b == a {
			b = m[rng.IntN(len(m))]
		}
		units := 1 + rng.Int64N(6000)
		switch op := rng.IntN(10); {
		case op < 3:
			tr := xfer(a, b, units)
			if _, err := s.Pay(bg, tr); err != nil {
				t.Fatal(err)
			}
			done = append(done, tr)
		case op == 3 && len(done) > 0:
			tr := done[rng.IntN(len(done))]
			if rng.IntN(2) == 0 {
				tr.Memo += " changed" // a modified repeat: refused, nothing written
			}
			if _, err := s.Pay(bg, tr); err != nil && !errors.Is(err, ErrModifiedRequest) {
				t.Fatal(err)
			}
		case op == 4:
			tr := xfer(a, Account("other:"+string(b)), units)
			tr.ToCoop = "other"
			p, err := s.Hold(bg, tr)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status == StatusPending {
				open = append(open, p)
			}
		case op == 5:
			p, err := s.CreditPending(bg, xfer(clr, b, units))
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, p)
		case op == 6 && len(open) > 0:
			j := rng.IntN(len(open))
			p := open[j]
			open = append(open[:j], open[j+1:]...)
			var err error
			switch commit := rng.IntN(2) == 0; {
			case p.Hold && commit:
				_, err = s.CommitHold(bg, p.ID, clr)
			case p.Hold:
				_, err = s.ReleaseHold(bg, p.ID, "expired")
			case commit:
				_, err = s.CommitCredit(bg, p.ID)
			default:
				_, err = s.VoidCredit(bg, p.ID, "aborted")
			}
			if err != nil {
				t.Fatal(err)
			}
			// Releasing it again: unchanged if released, else a command
			// that fails (ErrFinal, ErrWrongKind) and must leave no trace.
			if _, err := s.ReleaseHold(bg, p.ID, "late"); err != nil && !errors.Is(err, ErrFinal) && !errors.Is(err, ErrWrongKind) {
				t.Fatal(err)
			}
		case op == 7:
			if err := s.SetCreditLimit(bg, a, money.FromUnits(rng.Int64N(20000), money.Hours)); err != nil {
				t.Fatal(err)
			}
		case op == 8:
			if _, err := s.CommitCredit(bg, fmt.Sprintf("unknown-%d", i)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("decide unknown: %v", err)
			}
		default:
			// A payment between the same two members, both ways.
			mustPay(t, s, xfer(b, a, units/2+1))
		}
	}
}

// checkZeroSum: balances sum to zero per currency, and Verify finds nothing.
func checkZeroSum(t *testing.T, s *Store) {
	t.Helper()
	r, err := s.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("verify: %v", r.Mismatches)
	}
	sums := map[string]int64{}
	err = s.View(func(tx *store.View) error {
		return tx.Bucket(bktBalances).ForEach(func(k, v []byte) error {
			b, err := decodeBalance(v)
			if err != nil {
				return err
			}
			cur := string(k[len(k)-len(money.Hours.Code):])
			sums[cur] += b.Balance
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for cur, sum := range sums {
		if sum != 0 {
			t.Fatalf("balances in %s sum to %d", cur, sum)
		}
	}
}

// replay applies log to a fresh ledger, in random batches, and returns it.
func replay(t *testing.T, rng *rand.Rand, log *storetest.Log) *Store {
	t.Helper()
	s, _ := openStore(t, nil)
	start, err := s.st.AppliedIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := storetest.Replay(s.st, log.Entries(start), func() int { return 1 + rng.IntN(40) }); err != nil {
		t.Fatal(err)
	}
	return s
}

func stateHash(t *testing.T, s *Store) [32]byte {
	t.Helper()
	h, err := s.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCommandsReplay is a property over random command sequences: money is
// conserved after every run (balances sum to zero per currency, the chain
// verifies), and applying the same commands to a fresh store, in other
// batches, gives the identical state hash: the state is a function of the
// command log alone, as a Raft follower needs.
func TestCommandsReplay(t *testing.T) {
	seed := testSeed(t, 11)
	for run := range 4 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(run)))
			s, _ := openStore(t, nil)
			rec := storetest.Record(s.st)
			randomCommands(t, s, rng, 150)
			checkZeroSum(t, s)
			r := replay(t, rng, rec)
			checkZeroSum(t, r)
			if got, want := stateHash(t, r), stateHash(t, s); got != want {
				t.Fatalf("replayed state %x, original %x", got, want)
			}
		})
	}
}

// TestSnapshotRestore: a snapshot restored into another store gives the
// identical state hash, replacing what that store held, and the restored
// ledger goes on applying commands like the original.
func TestSnapshotRestore(t *testing.T) {
	seed := testSeed(t, 12)
	rng := rand.New(rand.NewPCG(seed, 1))
	s, _ := openStore(t, nil)
	randomCommands(t, s, rng, 120)
	var snap bytes.Buffer
	if err := s.st.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	other, _ := openStore(t, nil)
	randomCommands(t, other, rand.New(rand.NewPCG(seed, 2)), 30) // state to be replaced
	restored := 0
	other.st.OnRestore(func(*store.View) error { restored++; return nil })
	if err := other.st.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if restored != 1 {
		t.Fatalf("OnRestore ran %d times", restored)
	}
	if got, want := stateHash(t, other), stateHash(t, s); got != want {
		t.Fatalf("restored state %x, snapshot of %x", got, want)
	}
	checkZeroSum(t, other)
	// Both go on the same way.
	m := memberDIDs(t, seed, 2)
	for _, l := range []*Store{s, other} {
		tr := xfer(m[0], m[1], 7)
		tr.ID = "after-restore"
		mustPay(t, l, tr)
	}
	if ia, _ := s.st.AppliedIndex(); ia == 0 {
		t.Fatal("applied index not kept")
	}
	ha, _, _ := s.Head()
	hb, _, _ := other.Head()
	if ha != hb {
		t.Fatalf("heads %d and %d after the same payment", ha, hb)
	}
	// A truncated snapshot is refused and the state is left as it was.
	before := stateHash(t, other)
	var again bytes.Buffer
	if err := s.st.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	again.Truncate(again.Len() / 3)
	if err := other.st.Restore(&again); err == nil {
		t.Fatal("restored a truncated snapshot")
	}
	if stateHash(t, other) != before {
		t.Fatal("a refused restore changed the state")
	}
}
