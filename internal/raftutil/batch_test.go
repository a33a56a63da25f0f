package raftutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/internal/testutil"
)

// countFSM answers each entry with its number of commands (one byte each).
type countFSM struct {
	mu      sync.Mutex
	entries int
}

func (f *countFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(l.Data) > 0 {
		f.entries++
	}
	res := make([]int, len(l.Data))
	for i := range res {
		res[i] = int(l.Data[i])
	}
	return res
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (f *countFSM) Restore(io.ReadCloser) error         { return nil }

// singleNode is a bootstrapped one-node raft in memory.
func singleNode(t *testing.T, fsm raft.FSM) *raft.Raft {
	t.Helper()
	addr, trans := raft.NewInmemTransport("")
	store := raft.NewInmemStore()
	st := Settings{HeartbeatTimeout: 50 * time.Millisecond, LeaderLease: 50 * time.Millisecond,
		SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, TrailingLogs: 1 << 20}
	rc := st.RaftConfig("n1", nil, hclog.NewNullLogger())
	snaps := raft.NewInmemSnapshotStore()
	r, err := raft.NewRaft(rc, fsm, store, store, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Bootstrap(r, store, store, snaps, []raft.Server{{ID: "n1", Address: addr}}); !ok || err != nil {
		t.Fatalf("bootstrap: %v, %v", ok, err)
	}
	select {
	case <-r.LeaderCh():
	case <-time.After(10 * time.Second):
		t.Fatal("no leader")
	}
	return r
}

// TestBatcher: concurrent proposals share entries and each gets its own
// result; after Close proposals fail with raft.ErrRaftShutdown.
func TestBatcher(t *testing.T) {
	fsm := &countFSM{}
	r := singleNode(t, fsm)
	b := NewBatcher(r, BatchOptions[byte, int]{
		Encode: func(cmds []byte) ([]byte, error) { return append([]byte(nil), cmds...), nil },
		Split: func(resp any) ([]int, error) {
			res, _ := resp.([]int)
			return res, nil
		}})
	if err := b.TermEntry(); err != nil {
		t.Fatal(err)
	}
	const n = 100
	errs := make([]error, n)
	testutil.Together(n, func(i int) {
		got, err := b.Propose(context.Background(), byte(i))
		if err == nil && got != i {
			err = fmt.Errorf("proposal %d got %d", i, got)
		}
		errs[i] = err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	fsm.mu.Lock()
	entries := fsm.entries
	fsm.mu.Unlock()
	if entries >= n {
		t.Errorf("%d proposals took %d entries", n, entries)
	}
	if !HasServer(r, "n1") || HasServer(r, "n2") || HasServer(nil, "n1") {
		t.Error("HasServer does not follow the configuration")
	}
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := b.Propose(context.Background(), 1); !errors.Is(err, raft.ErrRaftShutdown) {
		t.Errorf("propose after close: %v", err)
	}
}

// TestLeaderLoop: lead runs while the notifications say leader, with its
// context cancelled at the change, and the loop ends with stop.
func TestLeaderLoop(t *testing.T) {
	notify, stop, done := make(chan bool), make(chan struct{}), make(chan struct{})
	started, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		LeaderLoop(notify, stop, func(ctx context.Context) {
			started <- struct{}{}
			<-ctx.Done()
			ended <- struct{}{}
		})
	}()
	notify <- true
	<-started
	notify <- false
	<-ended
	notify <- true
	<-started
	close(stop)
	<-ended
	<-done
}
