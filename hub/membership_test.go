package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// TestRollingRestart restarts every node in turn while writing: the cluster
// keeps committing and ends with one state everywhere.
func TestRollingRestart(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	_, l := c.leader()
	coops := setupFederation(t, ctx, l, c.fed, 2, 1_000_000_000)
	var ids []string
	for round := 0; round < 3; round++ {
		c.stop(round)
		_, l = c.leader(round)
		for i := 0; i < 20; i++ {
			id := fmt.Sprintf("r%d-%d", round, i)
			mustPropose(t, ctx, l, cmdPrepare(id, coops[0].DID(), coops[1].DID(), 1, time.Now().Add(time.Hour).UnixNano()))
			ids = append(ids, id)
		}
		c.restart(round)
		c.converge()
	}
	checkAcked(t, c, ids)
}

// TestJoinAndRemove adds a fourth node with Join, checks it receives the
// state, then removes it.
func TestJoinAndRemove(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	_, l := c.leader()
	setupFederation(t, ctx, l, c.fed, 2, 100)

	k := newKey(t)
	_, tr := raft.NewInmemTransport("node3")
	c.keys, c.dirs, c.trans = append(c.keys, k), append(c.dirs, t.TempDir()), append(c.trans, tr)
	c.nodes = append(c.nodes, nil)
	c.connectAll()
	c.start(3) // not in Peers: waits to be joined
	if st := c.nodes[3].raft.State(); st == raft.Leader {
		t.Fatalf("unjoined node became leader")
	}
	if err := l.Join(ctx, &icnv1.JoinRequest{Did: string(k.DID()), RaftAddress: "node3", GrpcAddress: "127.0.0.1:1"}); err != nil {
		t.Fatalf("join: %v", err)
	}
	c.converge()
	st, err := l.Status()
	if err != nil || len(st.GetNodes()) != 4 {
		t.Fatalf("status after join: %v %v", st, err)
	}
	if got := len(c.nodes[3].fsm.Participants()); got != 2 {
		t.Fatalf("joined node has %d participants, want 2", got)
	}
	if err := l.Remove(ctx, k.DID()); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if st, _ := l.Status(); len(st.GetNodes()) != 3 {
		t.Fatalf("status after remove: %v", st)
	}
	if err := c.nodes[0].Join(ctx, &icnv1.JoinRequest{Did: "nope", RaftAddress: "x"}); err == nil {
		t.Fatalf("join with a bad DID succeeded")
	}
}

// TestTransferLeadership hands leadership to a named follower.
func TestTransferLeadership(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	li, l := c.leader()
	target := (li + 1) % 3
	if err := l.TransferLeadership(context.Background(), c.keys[target].DID()); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if ni, _ := c.leader(li); ni != target {
		t.Fatalf("leader is node %d, want %d", ni, target)
	}
}
