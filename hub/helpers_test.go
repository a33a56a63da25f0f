package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/internal/hubtest"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// testCluster is n hub nodes in one process over raft's in-memory
// transport, each with its own bbolt files in a temporary directory.
type testCluster struct {
	t     *testing.T
	fed   *identity.Key
	keys  []*identity.Key
	dirs  []string
	trans []*raft.InmemTransport
	nodes []*Node
	peers []Peer
	tune  func(*Config)
	mu    sync.Mutex
}

func newTestCluster(t *testing.T, n int, tune func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, fed: newKey(t), tune: tune}
	for i := 0; i < n; i++ {
		k := newKey(t)
		c.keys = append(c.keys, k)
		c.dirs = append(c.dirs, t.TempDir())
		_, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i)))
		c.trans = append(c.trans, tr)
		c.peers = append(c.peers, Peer{DID: k.DID(), RaftAddr: string(tr.LocalAddr())})
	}
	c.connectAll()
	c.nodes = make([]*Node, n)
	for i := range c.nodes {
		c.start(i)
	}
	t.Cleanup(func() {
		for i, nd := range c.nodes {
			if nd != nil {
				if err := nd.Close(); err != nil {
					t.Errorf("close node %d: %v", i, err)
				}
			}
		}
	})
	return c
}

func (c *testCluster) connectAll() {
	for i, a := range c.trans {
		for j, b := range c.trans {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
}

func (c *testCluster) config(i int) Config {
	cfg := Config{
		DataDir: c.dirs[i], Key: c.keys[i], Transport: c.trans[i], Peers: c.peers,
		Federation:       FederationConfig{DID: c.fed.DID(), Name: "test federation", Currencies: []money.Currency{money.Hours}},
		HeartbeatTimeout: 500 * time.Millisecond, LeaderLease: 500 * time.Millisecond, // tolerant of a loaded CI machine under -race
		ExpireEvery: 20 * time.Millisecond, SnapshotInterval: 50 * time.Millisecond,
		SignEvery: 50 * time.Millisecond, Forward: c.forwardToLeader,
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	return cfg
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	n, err := Open(c.config(i))
	if err != nil {
		c.t.Fatalf("open node %d: %v", i, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

// forwardToLeader stands in for the control plane's forwarding: it runs a
// follower's command on whichever running node leads.
func (c *testCluster) forwardToLeader(ctx context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	c.mu.Lock()
	var l *Node
	for _, n := range c.nodes {
		if n != nil && n.IsLeader() {
			l = n
		}
	}
	c.mu.Unlock()
	if l == nil {
		return nil, ErrNotLeader
	}
	return l.Propose(ctx, cmd)
}

// stop closes node i (as a crash would, minus the disk: raft's files stay).
func (c *testCluster) stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if err := n.Close(); err != nil {
		c.t.Fatalf("close node %d: %v", i, err)
	}
	for j, tr := range c.trans {
		if j != i {
			tr.Disconnect(c.trans[i].LocalAddr())
		}
	}
}

// restart brings node i back on a fresh in-memory transport at the same address.
func (c *testCluster) restart(i int) {
	c.t.Helper()
	_, tr := raft.NewInmemTransport(c.trans[i].LocalAddr())
	c.trans[i] = tr
	c.connectAll()
	c.start(i)
}

// isolate cuts node i off from every other node, both ways.
func (c *testCluster) isolate(i int) {
	for j, tr := range c.trans {
		if j != i {
			tr.Disconnect(c.trans[i].LocalAddr())
			c.trans[i].Disconnect(tr.LocalAddr())
		}
	}
}

func (c *testCluster) heal() { c.connectAll() }

var waitFor = testutil.WaitFor

// leader waits for one ready leader among the running nodes (except skip).
func (c *testCluster) leader(skip ...int) (int, *Node) {
	c.t.Helper()
	idx := -1
	waitFor(c.t, 10*time.Second, "a leader", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, n := range c.nodes {
			if n != nil && !contains(skip, i) && n.IsLeader() {
				idx = i
				return n.fsm.Initialized()
			}
		}
		return false
	})
	return idx, c.nodes[idx]
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// converge waits until every running node has applied the same index and
// holds the same state hash, and returns the hash.
func (c *testCluster) converge() [32]byte {
	c.t.Helper()
	var h [32]byte
	deadline := time.Now().Add(15 * time.Second)
	for !func() bool {
		var first *[32]byte
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			if n.fsm.AppliedIndex() < n.raft.CommitIndex() || n.fsm.AppliedIndex() == 0 {
				return false
			}
			hn, err := n.fsm.StateHash()
			if err != nil {
				c.t.Fatal(err)
			}
			if first == nil {
				first = &hn
			} else if *first != hn {
				return false
			}
		}
		h = *first
		return true
	}() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after 15s waiting for nodes to converge:%s", c.describeNow())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return h
}

// describeNow lists each running node's applied and commit index and hash.
func (c *testCluster) describeNow() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := ""
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		h, _ := n.fsm.StateHash()
		out += fmt.Sprintf("\n  node %d: %s applied %d commit %d hash %x voters %v", i, n.raft.State(), n.fsm.AppliedIndex(), n.raft.CommitIndex(), h[:6], n.fsm.Voters())
	}
	return out
}

// Shared helpers (hub/internal/hubtest).
var (
	newKey      = hubtest.NewKey
	cmdRegister = hubtest.Register
	cmdTrust    = hubtest.Trust
	cmdCap      = hubtest.Cap
	cmdPrepare  = hubtest.Prepare
	cmdCommit   = hubtest.Commit
	logEntry    = hubtest.LogEntry
)

// setupFederation registers n co-ops that all trust each other through the
// federation (co-op → federation 1, federation → co-op 1) with caps of capUnits.
func setupFederation(t *testing.T, ctx context.Context, n *Node, fed *identity.Key, coops int, capUnits int64) []*identity.Key {
	t.Helper()
	var keys []*identity.Key
	var cmds []*icnv1.Command
	for i := 0; i < coops; i++ {
		k := newKey(t)
		keys = append(keys, k)
		cmds = append(cmds, cmdRegister(k, fmt.Sprintf("coop-%d", i)),
			cmdTrust(t, fed, k.DID(), "1", 1), cmdTrust(t, k, fed.DID(), "1", 1), cmdCap(k.DID(), capUnits))
	}
	for _, c := range cmds {
		mustPropose(t, ctx, n, c)
	}
	return keys
}

func mustPropose(t testing.TB, ctx context.Context, n *Node, c *icnv1.Command) *icnv1.CommandResult {
	t.Helper()
	res, err := n.Propose(ctx, c)
	if err != nil {
		t.Fatalf("propose %T: %v", c.Cmd, err)
	}
	if res.GetErrorCode() != "" {
		t.Fatalf("propose %T: %s: %s", c.Cmd, res.GetErrorCode(), res.GetErrorMessage())
	}
	return res
}
