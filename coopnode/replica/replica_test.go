package replica

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testkey"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/money"
)

// replicated is one co-op node of a test: a ledger over a store that is
// the state machine of its cluster node.
type replicated struct {
	key  *identity.Key
	dir  string
	addr string
	led  *ledger.Store
	c    *cluster.Cluster
}

func key(t testing.TB, name string) *identity.Key { return testkey.Key(t, name) }

type group struct {
	t     testing.TB
	nodes []*replicated
	peers []cluster.Peer
	tune  func(*cluster.Config)
}

func newGroup(t testing.TB, n int, tune func(*cluster.Config)) *group {
	g := &group{t: t, tune: tune}
	var lns []net.Listener
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		nd := &replicated{key: key(t, fmt.Sprint("node", i)), dir: t.TempDir(), addr: ln.Addr().String()}
		g.nodes = append(g.nodes, nd)
		g.peers = append(g.peers, cluster.Peer{DID: nd.key.DID(), RaftAddr: nd.addr})
	}
	for i, nd := range g.nodes {
		g.open(nd, lns[i])
	}
	t.Cleanup(func() {
		for _, nd := range g.nodes {
			g.stop(nd)
		}
	})
	return g
}

// open starts nd: its ledger first (every handler registered), then its
// cluster node over it.
func (g *group) open(nd *replicated, ln net.Listener) {
	g.t.Helper()
	led, err := ledger.Open(ledger.Options{Path: filepath.Join(nd.dir, "ledger.db"),
		DefaultLimits: map[string]money.Amount{money.Hours.Code: money.FromUnits(100000, money.Hours)}})
	if err != nil {
		g.t.Fatal(err)
	}
	nd.led = led
	led.State().SetProposer(Proposer(func() *cluster.Cluster { return nd.c }))
	if ln == nil {
		testutil.WaitFor(g.t, 5*time.Second, "listen again on "+nd.addr, func() bool {
			ln, err = net.Listen("tcp", nd.addr)
			return err == nil
		})
	}
	cfg := cluster.Config{Key: nd.key, DataDir: filepath.Join(nd.dir, "raft"), Listener: ln, Peers: g.peers,
		HeartbeatTimeout: 500 * time.Millisecond, LeaderLease: 500 * time.Millisecond, SnapshotInterval: 50 * time.Millisecond}
	if g.tune != nil {
		g.tune(&cfg)
	}
	c, err := cluster.Open(cfg, New(led.State()))
	if err != nil {
		led.Close()
		g.t.Fatal(err)
	}
	nd.c = c
}

func (g *group) stop(nd *replicated) {
	if nd.c == nil {
		return
	}
	if err := nd.c.Close(); err != nil {
		g.t.Errorf("close cluster node: %v", err)
	}
	if err := nd.led.Close(); err != nil {
		g.t.Errorf("close ledger: %v", err)
	}
	nd.c = nil
}

func (g *group) leader() *replicated {
	g.t.Helper()
	var l *replicated
	testutil.WaitFor(g.t, 15*time.Second, "a leader", func() bool {
		for _, nd := range g.nodes {
			if nd.c == nil {
				continue
			}
			if ok, _ := nd.c.Leading(); ok {
				l = nd
				return true
			}
		}
		return false
	})
	return l
}

// converged waits until every running node's state hash is the same and
// the co-op feed has n events.
func (g *group) converged(n int) [32]byte {
	g.t.Helper()
	var h0 [32]byte
	testutil.WaitFor(g.t, 20*time.Second, "one state on every node", func() bool {
		first := true
		for _, nd := range g.nodes {
			if nd.c == nil {
				continue
			}
			evs, err := nd.led.ReadFeed(ledger.CoopFeed, 0, n+1)
			if err != nil || len(evs) != n {
				return false
			}
			h, err := nd.led.State().StateHash()
			if err != nil {
				return false
			}
			if first {
				h0, first = h, false
			} else if h != h0 {
				return false
			}
		}
		return true
	})
	return h0
}

func pay(t testing.TB, nd *replicated, i int, from, to ledger.Account) ledger.Payment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := nd.led.Pay(ctx, ledger.Transfer{ID: fmt.Sprintf("p%04d", i), From: from, To: to,
		Amount: money.FromUnits(100, money.Hours), CreatedAt: time.Unix(1700000000, 0).UTC()})
	if err != nil {
		t.Fatalf("pay %d: %v", i, err)
	}
	return p
}

func members(t testing.TB) (a, b ledger.Account) {
	return ledger.Account(key(t, "alice").DID()), ledger.Account(key(t, "bob").DID())
}

func eventsOf(t testing.TB, nd *replicated) int {
	evs, err := nd.led.ReadFeed(ledger.CoopFeed, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// Payments made on the leader land, identical, on every node; a follower
// refuses to propose and names the leader; a node stopped and started
// again replays nothing twice.
func TestReplicatedLedger(t *testing.T) {
	g := newGroup(t, 3, nil)
	a, b := members(t)
	l := g.leader()
	for i := range 20 {
		if p := pay(t, l, i, a, b); p.Status != ledger.StatusCommitted {
			t.Fatalf("payment %d: %s %s", i, p.Status, p.Reason)
		}
	}
	n := eventsOf(t, l)
	if n == 0 {
		t.Fatal("no feed events after 20 payments")
	}
	g.converged(n)
	for _, nd := range g.nodes {
		if nd == l {
			continue
		}
		_, err := nd.led.Pay(context.Background(), ledger.Transfer{ID: "on-follower", From: a, To: b,
			Amount: money.FromUnits(1, money.Hours), CreatedAt: time.Unix(1700000000, 0).UTC()})
		var nle *cluster.NotLeaderError
		if !errors.As(err, &nle) || nle.Leader != l.key.DID() {
			t.Fatalf("pay on a follower: %v, want a NotLeaderError naming %s", err, l.key.DID().Short())
		}
		break
	}
	// Restart a follower: raft replays its log over a file that holds it.
	var f *replicated
	for _, nd := range g.nodes {
		if nd != l {
			f = nd
			break
		}
	}
	g.stop(f)
	g.open(f, nil)
	h := g.converged(n)
	rep, err := f.led.Verify()
	if err != nil || !rep.OK() {
		t.Fatalf("verify after restart: %v %+v", err, rep)
	}
	if got, _ := f.led.State().StateHash(); got != h {
		t.Fatal("restarted node's state differs")
	}
}

// A node that falls behind a compacted log catches up from a snapshot,
// and its live feed subscribers are sent back to read the feed again.
func TestSnapshotCatchUp(t *testing.T) {
	g := newGroup(t, 3, func(c *cluster.Config) { c.SnapshotThreshold, c.TrailingLogs = 4, 2 })
	a, b := members(t)
	l := g.leader()
	var f *replicated
	for _, nd := range g.nodes {
		if nd != l {
			f = nd
			break
		}
	}
	pay(t, l, 0, a, b)
	g.converged(eventsOf(t, l))
	g.stop(f)
	for i := 1; i < 60; i++ {
		pay(t, l, i, a, b)
	}
	testutil.WaitFor(t, 20*time.Second, "a snapshot on the leader", func() bool {
		st, err := l.c.Status()
		return err == nil && st.LastSnapshotIndex > 10
	})
	g.open(f, nil)
	sub := f.led.Subscribe(string(a), 1024) // room for every event: only a restore ends it
	defer sub.Close()
	h := g.converged(eventsOf(t, l))
	if got, _ := f.led.State().StateHash(); got != h {
		t.Fatal("caught-up node's state differs")
	}
	testutil.WaitFor(t, 10*time.Second, "the subscription sent back to read", func() bool {
		select {
		case _, ok := <-sub.C:
			return !ok && sub.Lagged()
		default:
			return false
		}
	})
	if st, err := f.c.Status(); err != nil || st.LastSnapshotIndex == 0 {
		t.Fatalf("the node caught up without a snapshot: %+v %v", st, err)
	}
	bal, err := f.led.Balance(b, money.Hours)
	if err != nil || bal.Balance.Units() != 60*100 {
		t.Fatalf("bob's balance on the caught-up node: %v %v, want 60.00", bal, err)
	}
}
