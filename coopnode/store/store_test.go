package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

var bktTest = []byte("test")

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Options{Path: filepath.Join(t.TempDir(), "state.db"), Buckets: [][]byte{bktTest}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var errOdd = errors.New("odd period")

// putPeriod is a handler over PutStatement commands: it writes the period,
// its time and its index, then fails for odd periods, after writing.
func putPeriod(hooks *[]uint64, mu *sync.Mutex) Handler {
	return func(tx *Tx, cmd *icnv1.CoopCommand) (any, error) {
		p := cmd.GetPutStatement().Period
		if err := tx.Bucket(bktTest).Put(u64(p), u64(uint64(tx.Now().UnixNano())+tx.Index())); err != nil {
			return nil, err
		}
		tx.AfterCommit(func() { mu.Lock(); *hooks = append(*hooks, p); mu.Unlock() })
		if p%2 == 1 {
			return nil, errOdd
		}
		return p * 10, nil
	}
}

func cmdPeriod(p uint64) *icnv1.CoopCommand {
	return &icnv1.CoopCommand{AtUnixNano: int64(p) * 1000, Kind: &icnv1.CoopCommand_PutStatement{PutStatement: &icnv1.PutStatement{Period: p}}}
}

// TestSubmitApply: results come back to their submitter; a failing command
// leaves no write and runs no hook, but takes its index; an unknown kind is
// ErrUnknownCommand; hooks run in order after the commit.
func TestSubmitApply(t *testing.T) {
	s := openTest(t)
	var hooks []uint64
	var mu sync.Mutex
	s.Handle((*icnv1.CoopCommand_PutStatement)(nil), putPeriod(&hooks, &mu))
	ctx := context.Background()
	var wg sync.WaitGroup
	for p := uint64(1); p <= 40; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.Submit(ctx, cmdPeriod(p))
			switch {
			case p%2 == 1 && !errors.Is(err, errOdd):
				t.Errorf("period %d: %v, want errOdd", p, err)
			case p%2 == 0 && (err != nil || v != p*10):
				t.Errorf("period %d: %v %v", p, v, err)
			}
		}()
	}
	wg.Wait()
	if _, err := s.Submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_PruneSessions{PruneSessions: &icnv1.PruneSessions{}}}); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("unknown kind: %v", err)
	}
	if n, err := s.AppliedIndex(); err != nil || n != 41 {
		t.Fatalf("applied index %d %v, want 41", n, err)
	}
	err := s.View(func(v *View) error {
		b := v.Bucket(bktTest)
		if b.KeyN() != 20 {
			t.Errorf("%d keys, want the 20 even periods", b.KeyN())
		}
		for p := uint64(1); p <= 40; p += 2 {
			if b.Get(u64(p)) != nil {
				t.Errorf("failed period %d left its write", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 20 {
		t.Fatalf("hooks %v, want the 20 even periods", hooks)
	}
	for _, p := range hooks {
		if p%2 == 1 {
			t.Fatalf("hook of failed period %d ran", p)
		}
	}
}

// TestApplyBatchDeterministic: the same entries applied in one batch, or
// one by one, give the same state and results; Tx.Now is the command's.
func TestApplyBatchDeterministic(t *testing.T) {
	var entries []Entry
	for p := uint64(1); p <= 12; p++ {
		data, err := marshal(cmdPeriod(p))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Index: 100 + p, Data: data})
	}
	var hashes [][32]byte
	for _, size := range []int{12, 1, 5} {
		s := openTest(t)
		var hooks []uint64
		var mu sync.Mutex
		s.Handle((*icnv1.CoopCommand_PutStatement)(nil), putPeriod(&hooks, &mu))
		for i := 0; i < len(entries); i += size {
			res, err := s.ApplyBatch(entries[i:min(i+size, len(entries))])
			if err != nil {
				t.Fatal(err)
			}
			for j, r := range res {
				if p := uint64(i + j + 1); (r.Err != nil) != (p%2 == 1) {
					t.Fatalf("batch %d: period %d: %+v", size, p, r)
				}
			}
		}
		h, err := s.StateHash()
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
		_ = s.View(func(v *View) error {
			if got, want := v.Bucket(bktTest).Get(u64(2)), u64(uint64(time.Unix(0, 2000).UnixNano())+102); string(got) != string(want) {
				t.Errorf("period 2 wrote %x, want %x (time and index of its command)", got, want)
			}
			return nil
		})
	}
	if hashes[0] != hashes[1] || hashes[0] != hashes[2] {
		t.Fatalf("state hashes differ with batching: %x", hashes)
	}
}
