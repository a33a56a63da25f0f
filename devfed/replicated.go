package devfed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/identity"
)

// replicaAddrs are a replicated dev co-op's addresses, kept in its
// directory: raft keeps its peers' addresses in its log, so a restart on the
// same directory must bind them again.
type replicaAddrs struct {
	Gateways []string `json:"gateways"`
	Raft     []string `json:"raft"`
}

const replicaFile = "replicas.json"

// replicaListeners binds the addresses a replicated co-op used before, or
// fresh ones (from base, else free ports) the first time.
func replicaListeners(dir string, n, base int) (gws, rafts []net.Listener, err error) {
	var a replicaAddrs
	b, rerr := os.ReadFile(filepath.Join(dir, replicaFile))
	if rerr == nil {
		if err := json.Unmarshal(b, &a); err != nil || len(a.Gateways) != n || len(a.Raft) != n {
			return nil, nil, fmt.Errorf("%s: not the addresses of %d nodes: remove the directory to start afresh", replicaFile, n)
		}
	}
	closeAll := func() {
		for _, l := range append(gws, rafts...) {
			l.Close()
		}
	}
	for i := range n {
		gw, raft := "127.0.0.1:0", "127.0.0.1:0"
		switch {
		case rerr == nil:
			gw, raft = a.Gateways[i], a.Raft[i]
		case base > 0:
			gw, raft = fmt.Sprintf("127.0.0.1:%d", base+i), fmt.Sprintf("127.0.0.1:%d", base+10+i)
		}
		g, err := net.Listen("tcp", gw)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		gws = append(gws, g)
		r, err := net.Listen("tcp", raft)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		rafts = append(rafts, r)
	}
	if rerr != nil {
		a = replicaAddrs{}
		for i := range n {
			a.Gateways, a.Raft = append(a.Gateways, gws[i].Addr().String()), append(a.Raft, rafts[i].Addr().String())
		}
		b, _ := json.MarshalIndent(a, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, replicaFile), b, 0o600); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return gws, rafts, nil
}

// startReplicated serves co-op id on o.Replicas nodes (one Raft group,
// sharing the co-op key <dir>/node.key; node k keeps its state in
// <dir>/node-k), then seeds it through its leader. It returns the nodes,
// the leader first among them; the manifest's GatewayURL is the leader's,
// its Gateways every node's in node order.
func (f *Federation) startReplicated(ctx context.Context, i int, id string, hc coopnode.HubConfig) ([]*coopnode.Node, ManifestCoop, error) {
	o := f.opts
	dir := filepath.Join(o.DataDir, id)
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, ManifestCoop{}, err
	}
	admin, adminFile, err := loadOrCreate(keys, "admin")
	if err != nil {
		return nil, ManifestCoop{}, err
	}
	base := 0
	if o.BasePort > 0 {
		base = o.BasePort + 10 // gateways base.., raft base+10..: below the hubs' +100..
	}
	gws, rafts, err := replicaListeners(dir, o.Replicas, base)
	if err != nil {
		return nil, ManifestCoop{}, err
	}
	var peers []coopnode.ClusterPeerConfig
	for k := range o.Replicas {
		nd := filepath.Join(dir, fmt.Sprint("node-", k))
		if err := os.MkdirAll(nd, 0o700); err != nil {
			return nil, ManifestCoop{}, err
		}
		nk, _, err := loadOrCreate(nd, "cluster")
		if err != nil {
			return nil, ManifestCoop{}, err
		}
		peers = append(peers, coopnode.ClusterPeerConfig{DID: string(nk.DID()), Raft: rafts[k].Addr().String(), API: "http://" + gws[k].Addr().String()})
	}
	var nodes []*coopnode.Node
	mc := ManifestCoop{ID: id, Admin: ManifestMember{Name: "admin", DID: admin.DID(), KeyFile: adminFile}}
	for k := range o.Replicas {
		nd := filepath.Join(dir, fmt.Sprint("node-", k))
		cfg := coopnode.Config{CoopID: id, DataDir: nd, KeyFile: filepath.Join(dir, "node.key"), Admin: string(admin.DID()), AdminName: "admin",
			Hub: hc, GatewayListener: gws[k],
			Cluster: coopnode.ClusterConfig{Bind: rafts[k].Addr().String(), Listener: rafts[k], Peers: peers}}
		cfg.Gateway.Listen = gws[k].Addr().String()
		cfg.Gateway.RateLimits = o.Limits
		n, err := coopnode.Open(ctx, cfg, o.Logger.With("coop", id, "node", k))
		if err == nil {
			err = n.Listen()
		}
		if err != nil {
			for _, n := range nodes {
				n.Close()
			}
			return nil, ManifestCoop{}, fmt.Errorf("node %d: %w", k, err)
		}
		nodes = append(nodes, n)
		mc.Gateways = append(mc.Gateways, n.URL())
	}
	for _, n := range nodes {
		f.groupStops = append(f.groupStops, f.serve(n))
	}
	l, err := leaderOf(ctx, nodes)
	if err != nil {
		return nil, ManifestCoop{}, err
	}
	nodes[0], nodes[l] = nodes[l], nodes[0]
	mc.DID, mc.GatewayURL = nodes[0].Key.DID(), nodes[0].URL()
	// The leader's duties bootstrap the admin; seeding waits for that.
	if err := waitAdmin(ctx, nodes[0], admin.DID()); err != nil {
		return nil, ManifestCoop{}, err
	}
	if err := seed(ctx, nodes[0], o, admin, keys, &mc); err != nil {
		return nil, ManifestCoop{}, err
	}
	return nodes, mc, nil
}

// leaderOf waits for one of nodes to lead.
func leaderOf(ctx context.Context, nodes []*coopnode.Node) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		for i, n := range nodes {
			if ok, _ := n.Cluster.Leading(); ok {
				return i, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("no co-op node became leader within 30s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitAdmin(ctx context.Context, n *coopnode.Node, admin identity.DID) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if _, err := n.Members.Authorize(admin, time.Now()); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the co-op's leader did not bootstrap its admin within 30s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// StartReplicatedForBench is StartForBench with the co-op replicated over
// replicas nodes (no hub): the manifest's gateway is its leader's.
func StartReplicatedForBench(ctx context.Context, dir string, members, replicas int) (*Manifest, func(), error) {
	f, err := Start(ctx, benchOptions(dir, members, replicas))
	if err != nil {
		return nil, nil, err
	}
	return f.Manifest, f.Stop, nil
}
