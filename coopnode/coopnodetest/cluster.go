// Package coopnodetest starts replicated co-op nodes in a test's process:
// the nodes of one co-op on 127.0.0.1, sharing the co-op's key, each with
// its own data directory and cluster key.
package coopnodetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/internal/testkey"
	"github.com/icn-coop/icn/internal/testutil"
)

// CoopID is the co-op the nodes serve.
const CoopID = "riverside"

// Key is the key named name in test t: the same at every run.
func Key(t testing.TB, name string) *identity.Key { t.Helper(); return testkey.Key(t, name) }

// Cluster is a replicated co-op served in the test's process.
type Cluster struct {
	t       testing.TB
	Configs []coopnode.Config
	Nodes   []*coopnode.Node // nil while stopped
	Admin   *identity.Key
	coopKey *identity.Key
	peers   []coopnode.ClusterPeerConfig
	stops   []func()
	planned [][2]net.Listener // StartSingle's nodes' gateway and raft listeners, until served
}

// Start serves an n-node co-op; it stops when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	cc := &Cluster{t: t, Admin: Key(t, "admin"), coopKey: Key(t, "coop")}
	var gws, rafts []net.Listener
	for i := range n {
		gw, rl := listen(t), listen(t)
		gws, rafts = append(gws, gw), append(rafts, rl)
		cc.add(fmt.Sprint("node", i), gw, rl, true)
	}
	for i := range n {
		cc.Configs[i].Cluster.Peers = cc.peers
		cc.start(i, gws[i], rafts[i])
	}
	t.Cleanup(cc.stopAll)
	return cc
}

// StartExtra serves one more node that the group does not list (its
// configuration's peers are the others): it waits to be added. It returns
// the node's index and cluster DID.
func (cc *Cluster) StartExtra() (int, identity.DID) {
	cc.t.Helper()
	gw, rl := listen(cc.t), listen(cc.t)
	nk := cc.add(fmt.Sprint("node", len(cc.Nodes)), gw, rl, false)
	i := len(cc.Nodes) - 1
	cc.start(i, gw, rl)
	return i, nk.DID()
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// add writes a node's keys and configuration; listed: among the peers.
func (cc *Cluster) add(name string, gw, rl net.Listener, listed bool) *identity.Key {
	dir := cc.t.TempDir()
	nk := Key(cc.t, name)
	for path, k := range map[string]*identity.Key{filepath.Join(dir, "node.key"): cc.coopKey, filepath.Join(dir, "cluster.key"): nk} {
		if err := keyfile.Write(path, k); err != nil {
			cc.t.Fatal(err)
		}
	}
	peer := coopnode.ClusterPeerConfig{DID: string(nk.DID()), Raft: rl.Addr().String(), API: "http://" + gw.Addr().String()}
	peers := cc.peers // an extra node is not among them: it waits to be added
	if listed {
		cc.peers = append(cc.peers, peer)
	}
	cc.Configs = append(cc.Configs, coopnode.Config{CoopID: CoopID, DataDir: dir, Admin: string(cc.Admin.DID()),
		Gateway: coopnode.GatewayConfig{Listen: gw.Addr().String()},
		Cluster: coopnode.ClusterConfig{Bind: rl.Addr().String(), Peers: peers, HeartbeatTimeout: coopnode.Duration(500 * time.Millisecond)}})
	cc.Nodes, cc.stops = append(cc.Nodes, nil), append(cc.stops, nil)
	return nk
}

// StartSingle serves node 0 of an n-node co-op as a single node (no
// [cluster]); its configuration keeps the [cluster] section that lists all
// n nodes, for Convert. The others are planned, not served: StartPlanned
// serves one, its peers the rest, waiting to be added.
func StartSingle(t testing.TB, n int) *Cluster {
	t.Helper()
	cc := &Cluster{t: t, Admin: Key(t, "admin"), coopKey: Key(t, "coop")}
	for i := range n {
		gw, rl := listen(t), listen(t)
		cc.add(fmt.Sprint("node", i), gw, rl, true)
		cc.planned = append(cc.planned, [2]net.Listener{gw, rl})
	}
	for i := range n {
		cc.Configs[i].Cluster.Peers = slices.DeleteFunc(slices.Clone(cc.peers), func(p coopnode.ClusterPeerConfig) bool { return i > 0 && p == cc.peers[i] })
	}
	single := cc.Configs[0]
	single.Cluster = coopnode.ClusterConfig{}
	cc.serve(0, single, cc.planned[0][0], nil)
	t.Cleanup(cc.stopAll)
	return cc
}

// Convert stops the single node 0, converts its data directory
// (coopnode.ConvertToCluster) and serves it again with its [cluster].
func (cc *Cluster) Convert() coopnode.Converted {
	cc.t.Helper()
	cc.Stop(0)
	conv, err := coopnode.ConvertToCluster(cc.Configs[0], slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cc.t.Fatalf("convert node 0: %v", err)
	}
	cc.start(0, relisten(cc.t, cc.Configs[0].Gateway.Listen), cc.planned[0][1])
	return conv
}

// StartPlanned serves planned node i; it waits to be added. It returns
// the node's cluster DID.
func (cc *Cluster) StartPlanned(i int) identity.DID {
	cc.t.Helper()
	cc.start(i, cc.planned[i][0], cc.planned[i][1])
	return identity.DID(cc.peers[i].DID)
}

func (cc *Cluster) start(i int, gw, rl net.Listener) {
	cc.t.Helper()
	cc.serve(i, cc.Configs[i], gw, rl)
}

func (cc *Cluster) serve(i int, cfg coopnode.Config, gw, rl net.Listener) {
	cc.t.Helper()
	cfg.GatewayListener, cfg.Cluster.Listener = gw, rl
	n, err := coopnode.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cc.t.Fatalf("open node %d: %v", i, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	cc.Nodes[i] = n
	cc.stops[i] = func() {
		cancel()
		if err := <-done; err != nil {
			cc.t.Errorf("serve node %d: %v", i, err)
		}
	}
}

// stopAll stops every node still served.
func (cc *Cluster) stopAll() {
	for i := range cc.Nodes {
		cc.Stop(i)
	}
}

// Stop stops node i (its files stay).
func (cc *Cluster) Stop(i int) {
	if cc.stops[i] != nil {
		cc.stops[i]()
		cc.stops[i], cc.Nodes[i] = nil, nil
	}
}

// Restart serves node i again on its addresses.
func (cc *Cluster) Restart(i int) {
	cc.t.Helper()
	cc.start(i, relisten(cc.t, cc.Configs[i].Gateway.Listen), relisten(cc.t, cc.Configs[i].Cluster.Bind))
}

func relisten(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	testutil.WaitFor(t, 5*time.Second, "listen again on "+addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

// URL is node i's gateway URL.
func (cc *Cluster) URL(i int) string { return "http://" + cc.Configs[i].Gateway.Listen }

// URLs lists every node's gateway URL, in node order.
func (cc *Cluster) URLs() []string {
	out := make([]string, len(cc.Configs))
	for i := range out {
		out[i] = cc.URL(i)
	}
	return out
}

// Leader waits for a leading node and returns its index.
func (cc *Cluster) Leader() int {
	cc.t.Helper()
	l := -1
	testutil.WaitFor(cc.t, 20*time.Second, "a co-op leader", func() bool {
		for i, n := range cc.Nodes {
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

// OnLeader runs fn on the leading node's index, again on the new leader's
// while fn reports cluster.ErrNotLeader: a test's write straight into a
// node holds across an election under a loaded -race run.
func (cc *Cluster) OnLeader(fn func(i int) error) {
	cc.t.Helper()
	var err error
	testutil.WaitFor(cc.t, 20*time.Second, "a write on the leader", func() bool {
		err = fn(cc.Leader())
		return !errors.Is(err, cluster.ErrNotLeader)
	})
	if err != nil {
		cc.t.Fatalf("on the leader: %v", err)
	}
}

// Login logs key in through node i as a member, retrying while the group
// elects a leader or key's membership (the admin's bootstrap, say) is on
// its way: a login without one succeeds, with no roles.
func (cc *Cluster) Login(i int, key *identity.Key) *client.Session {
	cc.t.Helper()
	c := client.New(cc.URL(i))
	var s *client.Session
	testutil.WaitFor(cc.t, 20*time.Second, fmt.Sprint("a login through node ", i), func() bool {
		var err error
		s, err = c.Login(context.Background(), key, CoopID)
		return err == nil && len(s.Roles()) > 0
	})
	return s
}
