package devfed

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// Options shape a dev federation. Zero values take the defaults.
type Options struct {
	DataDir  string   // required
	Coops    []string // co-op ids (coop-a, coop-b)
	Members  []string // demo member names per co-op (alice, bob, carol)
	Fund     string   // what the admin pays each demo member at start ("50.00")
	BasePort int      // first gateway port; 0 picks free ports
	Limits   gateway.RateLimits
	// HubPolicies are the trust-class policies the hub nodes enforce per
	// participant (nil: the seed's table, as a deployed hub has).
	HubPolicies *trust.Policies
	Logger      *slog.Logger
	NoHub       bool // co-op nodes only (icn bench coop)
	// RemoteCoops, if set, are the co-ops of a second region: the dev
	// federation is then a tree of a parent hub cluster with two regional
	// clusters under it (region-1 serves Coops, region-2 RemoteCoops).
	RemoteCoops []string
	// Directory runs the federation directory among every hub node (a
	// private kad-dht on loopback, the tree's root federation its anchor);
	// NoRouteAnnouncements then leaves the regions' co-ops to it alone.
	Directory            bool
	NoRouteAnnouncements bool
	// Replicas, if above 1, runs the first co-op on that many nodes, one
	// Raft group (a replicated co-op); dev.json lists each gateway.
	Replicas int
}

// Federation is a running dev federation.
type Federation struct {
	Nodes    []*coopnode.Node
	Manifest *Manifest
	hubs     *hubCluster   // region-1 (the only cluster without RemoteCoops)
	region2  *hubCluster   // with RemoteCoops
	parent   *hubCluster   // with RemoteCoops
	clusters []*hubCluster // each co-op's cluster, parallel to Nodes
	opts     Options
	runCtx   context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errs     chan error
	stops    []func() // per co-op: stop serving and wait
	// Groups are the nodes of each co-op, parallel to Nodes: a replicated
	// co-op's leader (at start) first, a single node alone.
	Groups     [][]*coopnode.Node
	groupStops []func() // the replicated co-op's nodes
}

// Start opens, seeds and serves every co-op node of a dev federation and writes
// dev.json into the data directory. Keys already in the directory are reused,
// and seeding is idempotent, so a federation restarted on the same directory
// comes back as it was.
func Start(ctx context.Context, o Options) (*Federation, error) {
	if o.DataDir == "" {
		return nil, errors.New("devfed: DataDir is required")
	}
	if len(o.Coops) == 0 {
		o.Coops = []string{"coop-a", "coop-b"}
	}
	if len(o.Members) == 0 {
		o.Members = []string{"alice", "bob", "carol"}
	}
	if o.Fund == "" {
		o.Fund = "50.00"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	f := &Federation{Manifest: &Manifest{Currency: money.Hours.Code}, opts: o, runCtx: runCtx, cancel: cancel, errs: make(chan error, len(o.Coops))}
	if err := f.startClusters(ctx); err != nil {
		f.Stop()
		return nil, err
	}
	coops := append(append([]string(nil), o.Coops...), o.RemoteCoops...)
	for i, id := range coops {
		cl := f.hubs
		if i >= len(o.Coops) {
			cl = f.region2
		}
		var hc coopnode.HubConfig
		if cl != nil {
			// Registered before it starts, so its first connection is admitted.
			dir := filepath.Join(o.DataDir, id)
			err := os.MkdirAll(dir, 0o700)
			var key *identity.Key
			if err == nil {
				key, _, err = loadOrCreate(dir, "node")
			}
			if err == nil {
				err = cl.register(ctx, id, key)
			}
			if err != nil {
				f.Stop()
				return nil, err
			}
			hc = cl.coopConfig()
		}
		var group []*coopnode.Node
		var mc ManifestCoop
		var err error
		if i == 0 && o.Replicas > 1 {
			group, mc, err = f.startReplicated(ctx, i, id, hc)
		} else {
			var n *coopnode.Node
			if n, mc, err = startCoop(ctx, o, i, id, hc, ""); err == nil {
				group = []*coopnode.Node{n}
			}
		}
		if err != nil {
			f.Stop()
			return nil, fmt.Errorf("dev co-op %s: %w", id, err)
		}
		if cl != nil {
			mc.Federation = cl.fed.DID()
		}
		f.Nodes = append(f.Nodes, group[0])
		f.Groups = append(f.Groups, group)
		f.clusters = append(f.clusters, cl)
		f.Manifest.Coops = append(f.Manifest.Coops, mc)
		if len(group) > 1 {
			f.stops = append(f.stops, f.stopGroup)
		} else {
			f.stops = append(f.stops, f.serve(group[0]))
		}
	}
	if err := f.Manifest.Write(o.DataDir); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// startClusters starts the hub cluster, or with RemoteCoops the parent and
// both regional clusters, and links them: each region is a participant of
// the parent (kind federation) and the parent one of each region, with
// trust both ways and a debit cap.
func (f *Federation) startClusters(ctx context.Context) error {
	o := f.opts
	if o.NoHub {
		return nil
	}
	if len(o.RemoteCoops) == 0 {
		h, err := startHubs(ctx, o, clusterSpec{name: "hub", sub: "hub", fedName: "dev federation"})
		if err != nil {
			return err
		}
		f.hubs, f.Manifest.Hub, f.Manifest.Hubs = h, h.manifest, []*ManifestHub{h.manifest}
		return nil
	}
	var dir *devDirectory
	if o.Directory {
		keys := filepath.Join(o.DataDir, "hub-parent", "keys")
		if err := os.MkdirAll(keys, 0o700); err != nil {
			return err
		}
		root, _, err := loadOrCreate(keys, "federation") // the parent's, which startHubs reuses
		if err != nil {
			return err
		}
		dir = &devDirectory{psk: make([]byte, 32), anchor: root.DID()}
		if _, err := rand.Read(dir.psk); err != nil {
			return err
		}
	}
	p, err := startHubs(ctx, o, clusterSpec{name: "parent", sub: "hub-parent", fedName: "dev parent federation", portBase: 100, dir: dir})
	if err != nil {
		return err
	}
	f.parent = p
	for i, spec := range []clusterSpec{
		{name: "region-1", sub: "hub", fedName: "dev region 1", parent: p.parentLink(), dir: dir},
		{name: "region-2", sub: "hub-region-2", fedName: "dev region 2", portBase: 50, parent: p.parentLink(), dir: dir},
	} {
		h, err := startHubs(ctx, o, spec)
		if err != nil {
			return err
		}
		if i == 0 {
			f.hubs, f.Manifest.Hub = h, h.manifest
		} else {
			f.region2 = h
		}
		if err := p.registerKind(ctx, spec.name, h.fed, icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION); err != nil {
			return err
		}
		if err := h.registerKind(ctx, "parent", p.fed, icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION); err != nil {
			return err
		}
	}
	f.Manifest.Hubs = []*ManifestHub{f.hubs.manifest, f.region2.manifest, p.manifest}
	return nil
}

// serve runs n until the federation stops or the returned function is
// called (which waits for n to shut down).
func (f *Federation) serve(n *coopnode.Node) func() {
	ctx, cancel := context.WithCancel(f.runCtx)
	done := make(chan struct{})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(done)
		if err := n.Serve(ctx); err != nil {
			f.errs <- err
		}
	}()
	return func() { cancel(); <-done }
}

// StopCoop stops co-op i's node: its gateway and its connection to the hub
// go away, open transfers stay open in its ledger.
func (f *Federation) StopCoop(i int) { f.stops[i]() }

// RestartCoop starts co-op i's node again on the same directory and gateway
// address; it asks the hub for the outcome of its open transfers at once.
// (Not for a replicated co-op.)
func (f *Federation) RestartCoop(ctx context.Context, i int) error {
	mc := f.Manifest.Coops[i]
	if len(mc.Gateways) > 1 {
		return fmt.Errorf("restart co-op %s: a replicated co-op is not restarted node by node here", mc.ID)
	}
	var hc coopnode.HubConfig
	if cl := f.clusters[i]; cl != nil {
		hc = cl.coopConfig()
	}
	n, _, err := startCoop(ctx, f.opts, i, mc.ID, hc, strings.TrimPrefix(mc.GatewayURL, "http://"))
	if err != nil {
		return fmt.Errorf("restart co-op %s: %w", mc.ID, err)
	}
	f.Nodes[i] = n
	f.stops[i] = f.serve(n)
	return nil
}

// stopGroup stops every node of the replicated co-op.
func (f *Federation) stopGroup() {
	for _, stop := range f.groupStops {
		stop()
	}
}

// Err delivers the first node that stopped serving on its own.
func (f *Federation) Err() <-chan error { return f.errs }

// Stop shuts every node down gracefully and waits for them.
func (f *Federation) Stop() {
	f.cancel()
	f.wg.Wait()
	for _, h := range []*hubCluster{f.hubs, f.region2, f.parent} {
		if h != nil {
			h.stop()
		}
	}
}

func startCoop(ctx context.Context, o Options, i int, id string, hc coopnode.HubConfig, listen string) (*coopnode.Node, ManifestCoop, error) {
	dir := filepath.Join(o.DataDir, id)
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, ManifestCoop{}, err
	}
	admin, adminFile, err := loadOrCreate(keys, "admin")
	if err != nil {
		return nil, ManifestCoop{}, err
	}
	switch {
	case listen != "":
	case o.BasePort > 0:
		listen = fmt.Sprintf("127.0.0.1:%d", o.BasePort+i)
	default:
		listen = "127.0.0.1:0"
	}
	cfg := coopnode.Config{CoopID: id, DataDir: dir, Admin: string(admin.DID()), AdminName: "admin"}
	cfg.Gateway.Listen = listen
	cfg.Gateway.RateLimits = o.Limits
	cfg.Hub = hc
	n, err := coopnode.Open(ctx, cfg, o.Logger.With("coop", id))
	if err != nil {
		return nil, ManifestCoop{}, err
	}
	if err := n.Listen(); err != nil {
		n.Close()
		return nil, ManifestCoop{}, err
	}
	mc := ManifestCoop{ID: id, DID: n.Key.DID(), GatewayURL: n.URL(),
		Admin: ManifestMember{Name: "admin", DID: admin.DID(), KeyFile: adminFile}}
	if err := seed(ctx, n, o, admin, keys, &mc); err != nil {
		n.Close()
		return nil, ManifestCoop{}, err
	}
	return n, mc, nil
}

// seed adds the demo members and has the admin pay each of them o.Fund.
func seed(ctx context.Context, n *coopnode.Node, o Options, admin *identity.Key, keys string, mc *ManifestCoop) error {
	fund, err := money.ParsePayment(o.Fund, money.Hours)
	if err != nil {
		return fmt.Errorf("fund: %w", err)
	}
	// The admin issues the demo credit, so its own limit covers all of it.
	limit, _ := money.Parse("100000", money.Hours)
	if err := n.Ledger.SetCreditLimit(ctx, ledger.Account(admin.DID()), limit); err != nil {
		return err
	}
	for _, name := range o.Members {
		k, file, err := loadOrCreate(keys, name)
		if err != nil {
			return err
		}
		if _, err := n.Members.AddMember(ctx, k.DID(), name, []string{membership.RoleMember}); err != nil {
			return fmt.Errorf("add %s: %w", name, err)
		}
		if _, err := n.Ledger.Payment("fund-" + name); err == nil {
			mc.Members = append(mc.Members, ManifestMember{Name: name, DID: k.DID(), KeyFile: file})
			continue // funded on an earlier start
		}
		_, err = n.Ledger.Pay(ctx, ledger.Transfer{
			ID: "fund-" + name, From: ledger.Account(admin.DID()), To: ledger.Account(k.DID()),
			FromCoop: n.Config.CoopID, ToCoop: n.Config.CoopID, Amount: fund, Memo: "welcome credit",
			CreatedAt: time.Now().UTC(),
		})
		if err != nil {
			return fmt.Errorf("fund %s: %w", name, err)
		}
		mc.Members = append(mc.Members, ManifestMember{Name: name, DID: k.DID(), KeyFile: file})
	}
	return nil
}

func loadOrCreate(dir, name string) (*identity.Key, string, error) {
	file := filepath.Join(dir, name+".key")
	k, err := keyfile.LoadOrCreate(file, func() (*identity.Key, error) { return identity.GenerateKey(rand.Reader) })
	return k, file, err
}

// StartForBench starts a one-co-op federation in dir with the given number of
// funded members and rate limits high enough not to throttle a benchmark.
func StartForBench(ctx context.Context, dir string, members int) (*Manifest, func(), error) {
	f, err := Start(ctx, benchOptions(dir, members, 0))
	if err != nil {
		return nil, nil, err
	}
	return f.Manifest, f.Stop, nil
}

// benchOptions is one co-op of members, no hub, limits out of the way.
func benchOptions(dir string, members, replicas int) Options {
	names := make([]string, members)
	for i := range names {
		names[i] = fmt.Sprintf("m%03d", i)
	}
	return Options{
		DataDir: dir, Coops: []string{"bench"}, Members: names, Fund: "1000.00",
		Limits: gateway.RateLimits{PerDID: 1e6, PerIP: 1e6}, NoHub: true, Replicas: replicas,
	}
}

// StartCrossForBench starts a dev federation of two co-ops with the given
// number of funded members each and its hub cluster, with rate limits high
// enough not to throttle a benchmark.
func StartCrossForBench(ctx context.Context, dir string, members int) (*Manifest, func(), error) {
	return startForBench(ctx, dir, members, nil)
}

// StartRegionsForBench is StartCrossForBench with a second region (one
// co-op, coop-c) under a parent.
func StartRegionsForBench(ctx context.Context, dir string, members int) (*Manifest, func(), error) {
	return startForBench(ctx, dir, members, []string{"coop-c"})
}

// benchHubPolicies is the seed's table with the federated class's rate
// raised out of the way. The dev co-ops (and regions) are federated, and a
// co-op node is one participant however many members it has: the table's
// 200 requests/s would cap each co-op at about 200 cross-co-op payments/s,
// where icn bench cross drives over 2,000/s through one co-op to measure
// what the data plane can carry, not the policy. Payload caps stay.
func benchHubPolicies() *trust.Policies {
	p := trust.DefaultPolicies()
	p[trust.ClassFederated].RequestsPerSecond, p[trust.ClassFederated].Burst = 1_000_000, 1_000_000
	return &p
}

func startForBench(ctx context.Context, dir string, members int, remote []string) (*Manifest, func(), error) {
	names := make([]string, members)
	for i := range names {
		names[i] = fmt.Sprintf("m%03d", i)
	}
	f, err := Start(ctx, Options{
		DataDir: dir, Members: names, Fund: "1000.00", RemoteCoops: remote,
		Limits: gateway.RateLimits{PerDID: 1e6, PerIP: 1e6}, HubPolicies: benchHubPolicies(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return nil, nil, err
	}
	return f.Manifest, f.Stop, nil
}
