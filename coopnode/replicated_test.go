package coopnode

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/internal/testutil"
)

// seededKey is the key named name in this test.
func seededKey(t *testing.T, name string) *identity.Key {
	t.Helper()
	seed := sha256.Sum256([]byte(t.Name() + "/" + name))
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type coopCluster struct {
	t     *testing.T
	cfgs  []Config
	nodes []*Node
	stops []func()
	admin *identity.Key
}

// startCoopCluster serves an n-node replicated co-op on 127.0.0.1, every
// node sharing the co-op key.
func startCoopCluster(t *testing.T, n int) *coopCluster {
	t.Helper()
	cc := &coopCluster{t: t, admin: seededKey(t, "admin"), nodes: make([]*Node, n), stops: make([]func(), n)}
	coopKey := seededKey(t, "coop")
	var gws, rafts []net.Listener
	var peers []ClusterPeerConfig
	for i := range n {
		gw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gws, rafts = append(gws, gw), append(rafts, rl)
		dir := t.TempDir()
		nk := seededKey(t, fmt.Sprint("node", i))
		for path, k := range map[string]*identity.Key{filepath.Join(dir, "node.key"): coopKey, filepath.Join(dir, "cluster.key"): nk} {
			if err := keyfile.Write(path, k); err != nil {
				t.Fatal(err)
			}
		}
		peers = append(peers, ClusterPeerConfig{DID: string(nk.DID()), Raft: rl.Addr().String(), API: "http://" + gw.Addr().String()})
		cc.cfgs = append(cc.cfgs, Config{CoopID: "riverside", DataDir: dir, Admin: string(cc.admin.DID()),
			Gateway: GatewayConfig{Listen: gw.Addr().String()},
			Cluster: ClusterConfig{Bind: rl.Addr().String(), Peers: peers, HeartbeatTimeout: Duration(500 * time.Millisecond)}})
	}
	for i := range n {
		cc.cfgs[i].Cluster.Peers = peers
		cc.start(i, gws[i], rafts[i])
	}
	t.Cleanup(func() {
		for i := range cc.nodes {
			cc.stop(i)
		}
	})
	return cc
}

func (cc *coopCluster) start(i int, gw, rl net.Listener) {
	cc.t.Helper()
	cfg := cc.cfgs[i]
	cfg.GatewayListener, cfg.Cluster.Listener = gw, rl
	n, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cc.t.Fatalf("open node %d: %v", i, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	cc.nodes[i] = n
	cc.stops[i] = func() {
		cancel()
		if err := <-done; err != nil {
			cc.t.Errorf("serve node %d: %v", i, err)
		}
	}
}

func (cc *coopCluster) stop(i int) {
	if cc.stops[i] != nil {
		cc.stops[i]()
		cc.stops[i], cc.nodes[i] = nil, nil
	}
}

// leader waits for a leading node and returns its index.
func (cc *coopCluster) leader() int {
	cc.t.Helper()
	l := -1
	testutil.WaitFor(cc.t, 20*time.Second, "a co-op leader", func() bool {
		for i, n := range cc.nodes {
			if n == nil {
				continue
			}
			if ok, _ := n.Cluster.Leading(); ok {
				l = i
				return true
			}
		}
		return false
	})
	return l
}

// login logs key in through node i, retrying while the cluster elects a
// leader or the admin's bootstrap is on its way.
func (cc *coopCluster) login(i int, key *identity.Key) *client.Session {
	cc.t.Helper()
	c := client.New("http://" + cc.cfgs[i].Gateway.Listen)
	var s *client.Session
	testutil.WaitFor(cc.t, 20*time.Second, "a login through node "+fmt.Sprint(i), func() bool {
		var err error
		s, err = c.Login(context.Background(), key, "riverside")
		return err == nil
	})
	return s
}

// A 3-node co-op: logins, payments and linearizable reads through a
// follower reach the leader; feeds from any node number their events
// alike; with the leader stopped another node leads, the admin and the
// member keep paying through the survivors, and the stopped node catches
// up when it comes back.
func TestReplicatedCoop(t *testing.T) {
	cc := startCoopCluster(t, 3)
	l := cc.leader()
	f := (l + 1) % 3
	admin := cc.login(f, cc.admin)
	member := seededKey(t, "member")
	if _, err := cc.nodes[l].Members.AddMember(context.Background(), member.DID(), "Member", nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pay := func(s *client.Session, key *identity.Key, to identity.DID, id string) *client.PaymentResult {
		t.Helper()
		var res *client.PaymentResult
		testutil.WaitFor(t, 20*time.Second, "payment "+id, func() bool {
			var err error
			res, err = s.Pay(ctx, client.PaymentIntent{ID: id, To: to, Amount: "1.00"}, key)
			if err != nil && client.ErrorCode(err) != "unavailable" && !isConnErr(err) {
				t.Fatalf("pay %s: %v", id, err)
			}
			return err == nil
		})
		if res.Status != "committed" {
			t.Fatalf("payment %s: %s %s", id, res.Status, res.Reason)
		}
		return res
	}
	for i := range 5 {
		pay(admin, cc.admin, member.DID(), fmt.Sprint("pay-", i))
	}
	b, err := admin.Balance(ctx, "riverside", member.DID(), "")
	if err != nil || b.Balance != "5.00" {
		t.Fatalf("member's balance through a follower: %+v %v, want 5.00 at once (linearizable)", b, err)
	}
	// The member's feed from each node: the same events with the same seq.
	ms := cc.login((l+2)%3, member)
	var feeds [3][]client.Event
	for i := range 3 {
		s := cc.login(i, member)
		feeds[i] = readFeed(t, s, 5)
	}
	for i := 1; i < 3; i++ {
		if fmt.Sprint(feeds[i]) != fmt.Sprint(feeds[0]) {
			t.Fatalf("node %d's member feed differs from node 0's:\n%v\n%v", i, feeds[i], feeds[0])
		}
	}

	// Fail over: stop the leader, keep paying through the others.
	cc.stop(l)
	nl := cc.leader()
	if nl == l {
		t.Fatal("the stopped node leads")
	}
	pay(ms, member, cc.admin.DID(), "after-failover")
	cc.start(l, relisten(t, cc.cfgs[l].Gateway.Listen), relisten(t, cc.cfgs[l].Cluster.Bind))
	want := len(readFeed(t, ms, len(feeds[0])+1))
	back := cc.login(l, member)
	testutil.WaitFor(t, 20*time.Second, "the restarted node's copy of the feed", func() bool {
		got := len(readFeedNow(t, back))
		t.Logf("restarted node's member feed: %d events, want %d", got, want)
		return got == want
	})
	for i := range 3 {
		rep, err := cc.nodes[i].Ledger.Verify()
		if err != nil || !rep.OK() {
			t.Fatalf("node %d: verify: %v %+v", i, err, rep)
		}
	}
	h0, _ := cc.nodes[0].Ledger.State().StateHash()
	testutil.WaitFor(t, 20*time.Second, "one state hash on every node", func() bool {
		for _, n := range cc.nodes[1:] {
			if h, _ := n.Ledger.State().StateHash(); h != h0 {
				h0, _ = cc.nodes[0].Ledger.State().StateHash()
				return false
			}
		}
		return true
	})
}

func isConnErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func relisten(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	testutil.WaitFor(t, 5*time.Second, "listen again on "+addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

// readFeed reads n events of the session's member feed.
func readFeed(t *testing.T, s *client.Session, n int) []client.Event {
	t.Helper()
	var evs []client.Event
	testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("%d feed events", n), func() bool {
		evs = readFeedNow(t, s)
		return len(evs) >= n
	})
	return evs
}

// readFeedNow reads the member feed's backlog, up to a short quiet spell.
func readFeedNow(t *testing.T, s *client.Session) []client.Event {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	evc, errc := s.Watch(ctx, "riverside", 0, false)
	var out []client.Event
	for ev := range evc {
		out = append(out, ev)
	}
	<-errc
	return out
}
