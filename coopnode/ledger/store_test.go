package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
)

var bktTestExtra = []byte("test_extra")

var errTestFail = errors.New("test: fn fails after writing")

// blockWriter runs an Update whose fn blocks the writer goroutine until the
// returned release is called; it returns once the writer is inside it.
func blockWriter(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	entered := make(chan struct{})
	gate := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(bg, func(tx *Tx) error {
			once.Do(func() { close(entered) })
			<-gate
			if b := tx.Bucket(bktTestExtra); b != nil {
				return b.Put([]byte("blocker"), []byte("x"))
			}
			return nil
		})
	}()
	<-entered
	var rel sync.Once
	return func() { rel.Do(func() { close(gate) }) }, errc
}

// waitQueued spins (without sleeping) until n ops wait in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.st.Queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d ops queued, waiting for %d", s.st.Queued(), n)
		}
		runtime.Gosched()
	}
}

// TestUpdateFailureIsolated: fns that fail after writing lose their writes
// (ledger buckets, feed sequence and the extra bucket alike), and the other
// fns of the same batch are committed whole.
func TestUpdateFailureIsolated(t *testing.T) {
	seed := testSeed(t, 7)
	t.Run("one batch", func(t *testing.T) {
		s, _ := openStore(t, func(o *Options) { o.Buckets = [][]byte{bktTestExtra} })
		m := memberDIDs(t, seed, 4)
		var batches []int
		var hookMu sync.Mutex
		s.SetCommitHook(func(n int) { hookMu.Lock(); batches = append(batches, n); hookMu.Unlock() })

		release, blockerDone := blockWriter(t, s)
		// Queue n ops behind the blocked writer: they will form one batch.
		const n = 300
		rng := rand.New(rand.NewPCG(seed, 3))
		fail := make([]bool, n)
		for i := range fail {
			fail[i] = rng.IntN(3) == 0
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = s.Update(bg, func(tx *Tx) error {
					key := fmt.Appendf(nil, "k%03d", i)
					if err := tx.Bucket(bktTestExtra).Put(key, []byte("v")); err != nil {
						return err
					}
					if fail[i] {
						if err := tx.Bucket(bktTestExtra).Put([]byte("poison"), key); err != nil {
							return err
						}
						// Write into the ledger's own buckets too, then fail.
						if err := tx.AppendEvent(EventSpec{Type: "Doomed", Payload: i, Members: []identity.DID{identity.DID(m[0])}}); err != nil {
							return err
						}
						return fmt.Errorf("op %d: %w", i, errTestFail)
					}
					return tx.AppendEvent(EventSpec{Type: "Kept", Payload: i, Members: []identity.DID{identity.DID(m[1])}})
				})
			}(i)
		}
		waitQueued(t, s, n)
		release()
		wg.Wait()
		if err := <-blockerDone; err != nil {
			t.Fatal(err)
		}

		kept := 0
		for i, err := range errs {
			if fail[i] {
				wantErr(t, err, errTestFail)
			} else if err != nil {
				t.Fatalf("op %d: %v", i, err)
			} else {
				kept++
			}
		}
		err := s.View(func(tx *store.View) error {
			b := tx.Bucket(bktTestExtra)
			for i := 0; i < n; i++ {
				v := b.Get(fmt.Appendf(nil, "k%03d", i))
				if (v != nil) == fail[i] {
					t.Errorf("op %d (fails %v): key present %v", i, fail[i], v != nil)
				}
			}
			if v := b.Get([]byte("poison")); v != nil {
				t.Errorf("the poison key written by failing ops is present: %s", v)
			}
			if b.Get([]byte("blocker")) == nil {
				t.Error("blocker's write missing")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The feed has exactly the kept events, with seqs 1..kept.
		evs := readAll(t, s, CoopFeed, 0)
		if len(evs) != kept {
			t.Fatalf("%d events, want %d", len(evs), kept)
		}
		for i, ev := range evs {
			if ev.Seq != uint64(i+1) || ev.Type != "Kept" {
				t.Fatalf("event %d: seq %d type %s", i, ev.Seq, ev.Type)
			}
		}
		if evs := readAll(t, s, string(m[0]), 0); len(evs) != 0 {
			t.Fatalf("member feed of failing ops has %d events", len(evs))
		}
		if evs := readAll(t, s, string(m[1]), 0); len(evs) != kept {
			t.Fatalf("member feed has %d events, want %d", len(evs), kept)
		}
		hookMu.Lock()
		defer hookMu.Unlock()
		if len(batches) != 2 || batches[0] != 1 || batches[1] != kept {
			t.Fatalf("committed batches %v, want [1 %d]", batches, kept)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		s, _ := openStore(t, func(o *Options) { o.Buckets = [][]byte{bktTestExtra}; o.MaxBatch = 16 })
		m := memberDIDs(t, seed, 4)
		const workers, per = 16, 40
		var okOps, failOps atomic.Int64
		var wg sync.WaitGroup
		var mu sync.Mutex
		wantKeys := map[string]bool{}
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				for i := 0; i < per; i++ {
					key := fmt.Sprintf("w%02d-%03d", w, i)
					fails := rng.IntN(4) == 0
					if rng.IntN(5) == 0 {
						// Interleave real payments, some of them modified repeats.
						tr := xfer(m[rng.IntN(2)], m[2+rng.IntN(2)], 1+rng.Int64N(100))
						if _, err := s.Pay(bg, tr); err != nil {
							t.Error(err)
						}
						tr.Amount = hours(tr.Amount.Units() + 1)
						if _, err := s.Pay(bg, tr); !errors.Is(err, ErrModifiedRequest) {
							t.Errorf("modified repeat: %v", err)
						}
					}
					err := s.Update(bg, func(tx *Tx) error {
						if err := tx.Bucket(bktTestExtra).Put([]byte(key), []byte("v")); err != nil {
							return err
						}
						if fails {
							return errTestFail
						}
						return nil
					})
					switch {
					case fails && errors.Is(err, errTestFail):
						failOps.Add(1)
					case !fails && err == nil:
						okOps.Add(1)
						mu.Lock()
						wantKeys[key] = true
						mu.Unlock()
					default:
						t.Errorf("op %s (fails %v): %v", key, fails, err)
					}
				}
			}(w)
		}
		wg.Wait()
		got := map[string]bool{}
		if err := s.View(func(tx *store.View) error {
			return tx.Bucket(bktTestExtra).ForEach(func(k, _ []byte) error { got[string(k)] = true; return nil })
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, wantKeys) {
			t.Fatalf("%d keys stored, want the %d of successful ops", len(got), len(wantKeys))
		}
		t.Logf("%d ok, %d failed", okOps.Load(), failOps.Load())
		mustVerify(t, s)
	})
}

func TestCloseThenUpdate(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 30, 2)
	mustPay(t, s, xfer(m[0], m[1], 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantErr(t, s.Update(bg, func(*Tx) error { return nil }), ErrClosed)
	_, err := s.Pay(bg, xfer(m[0], m[1], 1))
	wantErr(t, err, ErrClosed)
	_, err = s.Hold(bg, xfer(m[0], m[1], 1))
	wantErr(t, err, ErrClosed)
	_, err = s.CommitHold(bg, "x", ClearingAccount("hub"))
	wantErr(t, err, ErrClosed)
	wantErr(t, s.SetCreditLimit(bg, m[0], hours(1)), ErrClosed)
}

// TestCloseDrainsQueued: writes queued before Close are committed, durably.
func TestCloseDrainsQueued(t *testing.T) {
	s, opts := openStore(t, func(o *Options) { o.NoSync = false })
	m := memberDIDs(t, 31, 3)
	release, blockerDone := blockWriter(t, s)
	const n = 40
	var wg sync.WaitGroup
	payments := make([]Payment, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p, err := s.Pay(bg, xfer(m[i%3], m[(i+1)%3], int64(i+1)))
			if err != nil {
				t.Error(err)
			}
			payments[i] = p
		}(i)
	}
	waitQueued(t, s, n)
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := <-blockerDone; err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	for _, p := range payments {
		got, err := s.Payment(p.ID)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("after reopen: %+v %v, want %+v", got, err, p)
		}
	}
	if seq := headSeq(t, s); seq != n {
		t.Fatalf("head %d, want %d", seq, n)
	}
	mustVerify(t, s)
}

// TestReopenKeepsEverything: balances, holds, limits, payments, history,
// feeds and the chain head survive Close and Open, and writing continues
// where it stopped.
func TestReopenKeepsEverything(t *testing.T) {
	seed := testSeed(t, 11)
	s, opts := openStore(t, func(o *Options) { o.NoSync = false })
	m := memberDIDs(t, seed, 4)
	hub := ClearingAccount("hub")
	rng := rand.New(rand.NewPCG(seed, 0))
	var ids []string
	for i := 0; i < 30; i++ {
		tr := xfer(m[rng.IntN(4)], m[rng.IntN(4)], 1+rng.Int64N(4000))
		if tr.From == tr.To {
			tr.To = hub
		}
		if i%5 == 0 {
			mustHold(t, s, tr)
		} else {
			mustPay(t, s, tr)
		}
		ids = append(ids, tr.ID)
	}
	if _, err := s.CommitHold(bg, ids[0], hub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseHold(bg, ids[5], "expired"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCreditLimit(bg, m[2], hours(123)); err != nil {
		t.Fatal(err)
	}

	type snapshot struct {
		balances map[Account]Balance
		payments map[string]Payment
		history  map[Account][]Payment
		feeds    map[string][]Event
		headSeq  uint64
		headHash []byte
	}
	snap := func(s *Store) snapshot {
		sn := snapshot{balances: map[Account]Balance{}, payments: map[string]Payment{}, history: map[Account][]Payment{}, feeds: map[string][]Event{}}
		for _, a := range append([]Account{hub}, m...) {
			sn.balances[a] = mustBalance(t, s, a)
			h, _, err := s.History(a, 1000, 0)
			if err != nil {
				t.Fatal(err)
			}
			sn.history[a] = h
			sn.feeds[string(a)] = readAll(t, s, string(a), 0)
		}
		sn.feeds[CoopFeed] = readAll(t, s, CoopFeed, 0)
		for _, id := range ids {
			p, err := s.Payment(id)
			if err != nil {
				t.Fatal(err)
			}
			sn.payments[id] = p
		}
		var err error
		sn.headSeq, sn.headHash, err = s.Head()
		if err != nil {
			t.Fatal(err)
		}
		return sn
	}
	before := snap(s)
	r1 := mustVerify(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	after := snap(s)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed across reopen:\nbefore %+v\nafter  %+v", before, after)
	}
	r2 := mustVerify(t, s)
	if r1.HeadHash != r2.HeadHash || r1.Entries != r2.Entries {
		t.Fatalf("verify before %+v, after %+v", r1, r2)
	}
	// Writing continues: next entry and next feed seq follow on.
	p := mustPay(t, s, xfer(hub, m[0], 1))
	if p.EntrySeq != before.headSeq+1 {
		t.Fatalf("entry seq %d after reopen, want %d", p.EntrySeq, before.headSeq+1)
	}
	_, e := entryAt(t, s, p.EntrySeq)
	if string(e.PrevHash) != string(before.headHash) {
		t.Fatal("the first entry after reopen does not chain to the old head")
	}
	evs := readAll(t, s, CoopFeed, 0)
	if last := evs[len(evs)-1]; last.Seq != uint64(len(before.feeds[CoopFeed])+1) {
		t.Fatalf("feed seq %d after reopen", last.Seq)
	}
	mustVerify(t, s)

	// Reopening with another schema version is refused.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(opts.Path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyVersion, u64(schemaVersion+1)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s2, err := Open(opts); err == nil {
		s2.Close()
		t.Fatal("opened a ledger of a newer schema")
	}
}

// TestAppendBucketsFill: the buckets written in key order keep their pages
// well filled (bbolt's default split leaves them half empty for good).
func TestAppendBucketsFill(t *testing.T) {
	s, opts := openStore(t, nil)
	m := memberDIDs(t, 3, 4)
	for i := range 3000 {
		mustPay(t, s, xfer(m[i%4], m[(i+1)%4], 1))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range appendBuckets {
			st := tx.Bucket(name).Stats()
			if st.LeafPageN < 4 {
				continue // too small to tell (open: the payments are settled)
			}
			if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.8 {
				t.Errorf("%s: leaf pages %.0f %% full (%d pages), want at least 80 %%", name, 100*fill, st.LeafPageN)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
