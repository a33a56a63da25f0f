package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

func TestClusterReplicatesTransfers(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	_, l := c.leader()
	coops := setupFederation(t, ctx, l, c.fed, 3, 10_000)
	exp := time.Now().Add(time.Hour).UnixNano()
	res := mustPropose(t, ctx, l, cmdPrepare("t1", coops[0].DID(), coops[1].DID(), 2_500, exp))
	if res.Transfer.GetState() != icnv1.TransferState_TRANSFER_STATE_PREPARED {
		t.Fatalf("prepare: %v", res.Transfer)
	}
	res = mustPropose(t, ctx, l, cmdCommit("t1"))
	if res.Transfer.GetState() != icnv1.TransferState_TRANSFER_STATE_COMMITTED {
		t.Fatalf("commit: %v", res.Transfer)
	}
	// Over the cap: 10_000 - 2_500 left, counting nothing pending.
	res = mustPropose(t, ctx, l, cmdPrepare("t2", coops[0].DID(), coops[2].DID(), 7_501, exp))
	if res.Transfer.GetState() != icnv1.TransferState_TRANSFER_STATE_REJECTED || res.Transfer.GetReason() != "debit_cap_exceeded" {
		t.Fatalf("over cap: %v", res.Transfer)
	}
	c.converge()
	for i, n := range c.nodes {
		tr, ok, err := n.fsm.Transfer("t1")
		if err != nil || !ok || tr.GetState() != icnv1.TransferState_TRANSFER_STATE_COMMITTED {
			t.Fatalf("node %d: t1 = %v %v %v", i, tr, ok, err)
		}
	}
}

func TestExpiryByLeader(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	_, l := c.leader()
	coops := setupFederation(t, ctx, l, c.fed, 2, 10_000)
	mustPropose(t, ctx, l, cmdPrepare("soon", coops[0].DID(), coops[1].DID(), 100, time.Now().Add(50*time.Millisecond).UnixNano()))
	waitFor(t, 5*time.Second, "the leader to expire the transfer", func() bool {
		tr, ok, _ := l.fsm.Transfer("soon")
		return ok && tr.GetState() == icnv1.TransferState_TRANSFER_STATE_ABORTED && tr.GetReason() == "expired"
	})
	if p := l.fsm.Pending(); len(p) != 0 {
		t.Fatalf("pending after expiry: %v", p)
	}
}

// TestLeaderFailover kills the leader while clients write: a new leader
// takes over, every acknowledged write is on every survivor, and the old
// leader catches up when it returns.
func TestLeaderFailover(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	li, l := c.leader()
	coops := setupFederation(t, ctx, l, c.fed, 2, 1_000_000_000)

	var mu sync.Mutex
	var acked []string
	stopWriters := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWriters:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				c.mu.Lock()
				var target *Node
				for _, n := range c.nodes {
					if n != nil && n.IsLeader() {
						target = n
					}
				}
				c.mu.Unlock()
				if target == nil {
					time.Sleep(time.Millisecond)
					continue
				}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				res, err := target.Propose(cctx, cmdPrepare(id, coops[0].DID(), coops[1].DID(), 1, time.Now().Add(time.Hour).UnixNano()))
				cancel()
				if err == nil && res.GetErrorCode() == "" {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, "writes before the crash", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 200 })
	c.stop(li)
	ni, _ := c.leader(li)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	waitFor(t, 10*time.Second, "writes after the failover", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > before+200 })
	close(stopWriters)
	wg.Wait()
	if ni == li {
		t.Fatalf("leader did not change")
	}
	c.converge()
	checkAcked(t, c, acked)
	c.restart(li)
	c.converge()
	checkAcked(t, c, acked)
}

func checkAcked(t *testing.T, c *testCluster, acked []string) {
	t.Helper()
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		for _, id := range acked {
			tr, ok, err := n.fsm.Transfer(id)
			if err != nil || !ok || tr.GetState() != icnv1.TransferState_TRANSFER_STATE_PREPARED {
				t.Fatalf("node %d lost acknowledged transfer %s: %v %v %v", i, id, tr, ok, err)
			}
		}
	}
}

// TestSnapshotInstall brings a node that fell far behind back by snapshot.
func TestSnapshotInstall(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold, cfg.TrailingLogs = 64, 16
	})
	ctx := context.Background()
	li, l := c.leader()
	coops := setupFederation(t, ctx, l, c.fed, 2, 1_000_000_000)
	behind := (li + 1) % 3
	c.isolate(behind)
	for i := 0; i < 400; i++ { // one log entry each: far more than TrailingLogs
		cmd := cmdPrepare(fmt.Sprintf("s%d", i), coops[0].DID(), coops[1].DID(), 1, time.Now().Add(time.Hour).UnixNano())
		// On a loaded machine the two connected nodes may swap leadership;
		// prepares are idempotent, so retry on whichever leads now.
		for attempt := 0; ; attempt++ {
			res, err := l.Propose(ctx, cmd)
			if err == nil && res.GetErrorCode() == "" {
				break
			}
			if attempt == 5 {
				t.Fatalf("propose %s: %v %s", cmd.GetPrepareTransfer().GetId(), err, res.GetErrorCode())
			}
			_, l = c.leader()
		}
	}
	if err := l.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	first, _ := l.logs.FirstIndex()
	if first <= c.nodes[behind].fsm.AppliedIndex() {
		t.Fatalf("log not compacted past the lagging node (first %d, node at %d)", first, c.nodes[behind].fsm.AppliedIndex())
	}
	c.heal()
	c.converge()
	if c.nodes[behind].fsm.Restores() == 0 {
		t.Fatalf("lagging node caught up without installing a snapshot")
	}
	if tr, ok, _ := c.nodes[behind].fsm.Transfer("s399"); !ok || tr.GetState() != icnv1.TransferState_TRANSFER_STATE_PREPARED {
		t.Fatalf("lagging node misses s399 after snapshot install: %v", tr)
	}
}

// TestPartition: the minority side cannot commit; after healing all agree.
func TestPartition(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	li, l := c.leader()
	coops := setupFederation(t, ctx, l, c.fed, 2, 1_000_000_000)
	c.isolate(li)
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	res, err := l.Propose(cctx, cmdPrepare("minority", coops[0].DID(), coops[1].DID(), 1, time.Now().Add(time.Hour).UnixNano()))
	cancel()
	if err == nil {
		t.Fatalf("isolated leader committed a write: %v", res)
	}
	_, nl := c.leader(li)
	mustPropose(t, ctx, nl, cmdPrepare("majority", coops[0].DID(), coops[1].DID(), 1, time.Now().Add(time.Hour).UnixNano()))
	c.heal()
	c.converge()
	for i, n := range c.nodes {
		if _, ok, _ := n.fsm.Transfer("minority"); ok {
			t.Fatalf("node %d holds the minority's uncommitted write", i)
		}
		if _, ok, _ := n.fsm.Transfer("majority"); !ok {
			t.Fatalf("node %d misses the majority's write", i)
		}
	}
}

// A leader whose first pass at the federation's identity went unanswered (an
// enqueue timeout under load) is told so, and its next pass records it: the
// federation is not left uninitialised until another election.
func TestInitClusterReportsUnansweredProposals(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.Federation.DID = "" }) // leads without initialising
	var n *Node
	waitFor(t, 10*time.Second, "a leader", func() bool { n = c.nodes[0]; return n.IsLeader() })
	if n.fsm.Initialized() {
		t.Fatal("initialised without a federation DID")
	}
	fc := n.cfg.Federation
	fc.DID = c.fed.DID()
	ctx := t.Context()
	var tried int
	timeout := func(context.Context, *icnv1.Command) (*icnv1.CommandResult, error) {
		tried++
		return nil, raft.ErrEnqueueTimeout
	}
	if n.initCluster(ctx, fc, timeout) || tried != 1 {
		t.Fatalf("a pass whose InitFederation timed out reported answered (%d proposals)", tried)
	}
	if n.fsm.Initialized() {
		t.Fatal("initialised by a proposal that failed")
	}
	if !n.initCluster(ctx, fc, n.Propose) {
		t.Fatal("the second pass went unanswered")
	}
	if !n.fsm.Initialized() {
		t.Fatal("the second pass did not initialise the federation")
	}
	if !n.initCluster(ctx, fc, timeout) || tried != 1 {
		t.Fatalf("a pass with nothing left to propose proposed %d commands", tried-1)
	}
}
