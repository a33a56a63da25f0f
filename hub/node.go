package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icn-coop/icn/hub/fsm"
	"github.com/icn-coop/icn/routing/directory"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/httpserve"
	"github.com/icn-coop/icn/internal/raftutil"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// Peer is a member of the initial cluster.
type Peer struct {
	DID      identity.DID
	RaftAddr string
	GRPCAddr string
}

// FederationConfig is what the first leader proposes as InitFederation.
type FederationConfig struct {
	DID        identity.DID
	Name       string
	MinTrust   string // decimal; empty means fsm.DefaultMinTrust
	MaxHops    int    // 0 means trust.DefaultMaxHops
	Currencies []money.Currency
	// Settlement holds the rules of currencies that do not settle by hours
	// transfer (settlement modes).
	Settlement []*icnv1.SettlementRule
}

// Config configures a hub node.
type Config struct {
	DataDir  string
	Key      *identity.Key
	RaftBind string // e.g. "127.0.0.1:7100"; ignored with Transport or RaftListener
	// RaftListener, if set, is the listener raft serves on (tests and
	// benchmarks bind ":0" first to learn the ports of all nodes).
	RaftListener  net.Listener
	RaftAdvertise string // address peers dial; default: the bound address
	GRPCAddr      string // this node's control-plane address, for forwarding
	// DataAddr is the UDP address of the data plane (QUIC) that
	// StartService opens; empty: no data plane.
	DataAddr string
	// FederationKey is the federation's own key, which nested federations
	// need (see dataplane.Options); Parents link this cluster to its parent
	// federations.
	FederationKey *identity.Key
	Parents       []ParentLink
	// Directory, if set, starts this node's member of the federation
	// directory (StartService), used and fed by the data plane.
	Directory *directory.Config
	// NoRouteAnnouncements leaves this cluster's co-ops to the directory:
	// its parents get no route announcements (dataplane.Options).
	NoRouteAnnouncements bool
	// IntentHorizon is the data plane's DataPlaneOptions.IntentHorizon.
	IntentHorizon time.Duration
	// TrustPolicies are the data plane's DataPlaneOptions.Policies (nil:
	// the seed's table).
	TrustPolicies *trust.Policies
	// Peers is the initial cluster (this node included). A node with no
	// Raft state that is listed here bootstraps the cluster with exactly
	// these servers; a node not listed waits to be joined.
	Peers      []Peer
	Federation FederationConfig

	// HTTP bounds the HTTP listener StartService serves (/metrics, /healthz,
	// /readyz, the treasurer pages): read, write and idle timeouts and the
	// body cap; zero fields take internal/httpserve's defaults.
	HTTP httpserve.Limits
	// GRPCConnTimeout bounds a new control-plane connection's TLS and
	// HTTP/2 handshake (default 10 s): a client that connects and stalls is
	// dropped when it passes.
	GRPCConnTimeout time.Duration

	// Transport replaces the TLS TCP transport (tests: raft's in-memory one).
	Transport raft.Transport

	SnapshotThreshold uint64        // log entries between snapshots (default 8192)
	SnapshotInterval  time.Duration // how often to check (default 30s)
	TrailingLogs      uint64        // entries kept after a snapshot (default 10240)
	HeartbeatTimeout  time.Duration // default 1s; also the election timeout
	LeaderLease       time.Duration // default HeartbeatTimeout/2
	MaxBatch          int           // commands per log entry (default 512)
	MaxInflight       int           // batches proposed and not yet applied (default 1)
	ExpireEvery       time.Duration // how often the leader expires due transfers (default 1s)

	// Settlement is when periods close (run by the leader) and when
	// instructions are due.
	Settlement SettlementConfig
	// SignEvery is how often the node looks for closed periods whose
	// report it has not signed yet (default 1s).
	SignEvery time.Duration
	// Forward sends this node's own commands (report signatures) to the
	// leader when it is a follower; nil: NewServer's gRPC forwarder (tests
	// without a control plane set it).
	Forward ForwardFunc

	Logger *slog.Logger
}

func (c *Config) defaults() {
	setDefault := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setDefault(&c.SnapshotInterval, 30*time.Second)
	setDefault(&c.HeartbeatTimeout, time.Second)
	setDefault(&c.LeaderLease, c.HeartbeatTimeout/2) // raft requires lease <= heartbeat
	setDefault(&c.ExpireEvery, time.Second)
	setDefault(&c.SignEvery, time.Second)
	setDefault(&c.GRPCConnTimeout, 10*time.Second)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Node is one hub cluster node.
type Node struct {
	cfg  Config
	log  *slog.Logger
	raft *raft.Raft
	// started is raft once NewRaft has returned: the TLS listener may
	// accept (and ask acceptPeer) while NewRaft still runs.
	started atomic.Pointer[raft.Raft]
	fsm     *fsm.FSM
	logs    *raftboltdb.BoltStore
	trans   raft.Transport
	closer  io.Closer // the TLS stream layer, if we made it

	batch       *raftutil.Batcher[*icnv1.Command, *icnv1.CommandResult]
	leaderReady atomic.Bool
	notifyC     chan bool

	metrics *Metrics
	reports *reports
	sched   schedule // nil: periods close only on command
	fwdMu   sync.Mutex
	forward ForwardFunc
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// Open starts a hub node: it opens the Raft stores in DataDir, starts the
// transport and, if this node is in Peers and has no state, bootstraps.
func Open(cfg Config) (*Node, error) {
	cfg.defaults()
	if cfg.Key == nil {
		return nil, errors.New("hub: a node key is required")
	}
	sched, err := cfg.Settlement.parseSchedule()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("hub data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, notifyC: make(chan bool, 16),
		metrics: newMetrics(), stop: make(chan struct{}), sched: sched, forward: cfg.Forward}
	if err := n.open(); err != nil {
		n.closeStores()
		return nil, err
	}
	n.batch = raftutil.NewBatcher(n.raft, raftutil.BatchOptions[*icnv1.Command, *icnv1.CommandResult]{
		MaxBatch: cfg.MaxBatch, MaxInflight: cfg.MaxInflight, Encode: encodeBatch,
		Split: func(resp any) ([]*icnv1.CommandResult, error) {
			res, _ := resp.([]*icnv1.CommandResult)
			return res, nil
		}})
	n.reports = newReports(n.fsm)
	n.wg.Add(2)
	go n.leaderLoop()
	go n.signLoop()
	return n, nil
}

func (n *Node) open() error {
	var err error
	if n.fsm, err = fsm.OpenFSM(filepath.Join(n.cfg.DataDir, "fsm.db")); err != nil {
		return err
	}
	n.fsm.SetObserver(n.metrics.observeBatch)
	if n.logs, err = raftutil.OpenLogStore(filepath.Join(n.cfg.DataDir, "raft.db")); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, n.hclog("snapshots"))
	if err != nil {
		return fmt.Errorf("open snapshots: %w", err)
	}
	if n.trans = n.cfg.Transport; n.trans == nil {
		stream, err := raftutil.NewTLSStream(n.cfg.RaftListener, n.cfg.RaftBind, n.cfg.RaftAdvertise, n.cfg.Key, n.acceptPeer)
		if err != nil {
			return err
		}
		n.closer = stream
		n.trans = raftutil.NewTransport(stream, n.hclog("transport"))
	}
	st := raftutil.Settings{HeartbeatTimeout: n.cfg.HeartbeatTimeout, LeaderLease: n.cfg.LeaderLease,
		SnapshotThreshold: n.cfg.SnapshotThreshold, SnapshotInterval: n.cfg.SnapshotInterval, TrailingLogs: n.cfg.TrailingLogs}
	rc := st.RaftConfig(raft.ServerID(n.cfg.Key.DID()), n.notifyC, n.hclog("raft"))
	if n.raft, err = raft.NewRaft(rc, n.fsm, n.logs, n.logs, snaps, n.trans); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.started.Store(n.raft)
	return n.bootstrap(snaps)
}

func (n *Node) bootstrap(snaps raft.SnapshotStore) error {
	if !n.inPeers(n.cfg.Key.DID()) {
		return nil
	}
	var servers []raft.Server
	for _, p := range n.cfg.Peers {
		addr := raft.ServerAddress(p.RaftAddr)
		if p.DID == n.cfg.Key.DID() {
			addr = n.trans.LocalAddr()
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(p.DID), Address: addr, Suffrage: raft.Voter})
	}
	if ok, err := raftutil.Bootstrap(n.raft, n.logs, n.logs, snaps, servers); !ok {
		return err
	}
	n.log.Info("bootstrapped cluster", "servers", len(servers))
	return nil
}

func (n *Node) inPeers(d identity.DID) bool {
	for _, p := range n.cfg.Peers {
		if p.DID == d {
			return true
		}
	}
	return false
}

// acceptPeer admits a Raft connection from a configured peer, a server of
// the current configuration or a registered hub node.
func (n *Node) acceptPeer(d identity.DID) bool {
	if n.inPeers(d) {
		return true
	}
	if n.fsm != nil && n.fsm.HubNode(d) != nil {
		return true
	}
	return raftutil.HasServer(n.started.Load(), raft.ServerID(d))
}

// hclog gives raft's parts a logger into the node's slog logger, at Info.
func (n *Node) hclog(name string) hclog.Logger { return raftutil.NewHclog(n.log, name, hclog.Info) }

// DID is this node's identity (its Raft server id).
func (n *Node) DID() identity.DID { return n.cfg.Key.DID() }

// FSM gives read access to the replicated state.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Raft exposes the raft node (cluster status, tests).
func (n *Node) Raft() *raft.Raft { return n.raft }

// Metrics returns the node's metrics collectors.
func (n *Node) Metrics() *Metrics { return n.metrics }

// IsLeader reports whether this node is the leader and has applied its term's first entry.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader && n.leaderReady.Load() }

// Leader returns the leader's DID and control-plane address, if known.
func (n *Node) Leader() (identity.DID, string, bool) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return "", "", false
	}
	d := identity.DID(id)
	if hn := n.fsm.HubNode(d); hn != nil && hn.GetGrpcAddress() != "" {
		return d, hn.GetGrpcAddress(), true
	}
	return d, n.peerGRPC(d), true
}

// peerGRPC is d's control-plane address from the configured peers.
func (n *Node) peerGRPC(d identity.DID) string {
	for _, p := range n.cfg.Peers {
		if p.DID == d {
			return p.GRPCAddr
		}
	}
	return ""
}

// Propose replicates one command and returns the state machine's result.
// Commands from concurrent callers share log entries. ErrNotLeader means
// nothing was proposed; raft.ErrLeadershipLost means the outcome is
// unknown and the command (keyed by its id) may be retried.
func (n *Node) Propose(ctx context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	start := time.Now()
	res, err := n.batch.Propose(ctx, cmd)
	if errors.Is(err, raft.ErrNotLeader) {
		return nil, ErrNotLeader
	}
	if ctx.Err() == nil {
		n.metrics.proposeLatency.Observe(time.Since(start).Seconds())
	}
	return res, err
}

// encodeBatch packs commands into one log entry, stamping each that has no
// time with the leader's clock.
func encodeBatch(cmds []*icnv1.Command) ([]byte, error) {
	now := time.Now().UnixNano()
	for _, c := range cmds {
		if c.AtUnixNano == 0 {
			c.AtUnixNano = now
		}
	}
	return proto.Marshal(&icnv1.CommandBatch{Commands: cmds})
}

// ReadBarrier makes the next read of this node's state linearizable: it
// checks this node is still the leader after noting the commit index, then
// waits until the state machine has applied that index.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	ci := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return ErrNotLeader
	}
	return n.fsm.WaitApplied(ctx, ci)
}

// leaderLoop runs the leader's duties while this node leads.
func (n *Node) leaderLoop() {
	defer n.wg.Done()
	raftutil.LeaderLoop(n.notifyC, n.stop, func(ctx context.Context) {
		n.metrics.setLeader(true)
		n.lead(ctx)
		<-ctx.Done() // lead may return early; the leadership lasts until this
		n.leaderReady.Store(false)
		n.metrics.setLeader(false)
	})
}

func (n *Node) lead(ctx context.Context) {
	if !n.batch.AwaitTermEntry(ctx, n.log) {
		return // the leadership is lost or ending: leaderLoop waits for ctx
	}
	n.leaderReady.Store(true)
	n.log.Info("leading", "term", n.raft.CurrentTerm())
	initialised := n.initCluster(ctx, n.cfg.Federation, n.Propose)
	t := time.NewTicker(n.cfg.ExpireEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if !initialised { // a proposal went unanswered (an enqueue timeout under load, say): again
				initialised = n.initCluster(ctx, n.cfg.Federation, n.Propose)
			}
			n.closeIfDue(ctx, time.Now())
			if at, ok := n.fsm.NextExpiry(); ok && at <= time.Now().UnixNano() {
				if _, err := n.Propose(ctx, &icnv1.Command{Cmd: &icnv1.Command_ExpireTransfers{ExpireTransfers: &icnv1.ExpireTransfers{}}}); err != nil {
					n.log.Warn("expire transfers", "err", err)
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// initCluster proposes, through propose, the federation's identity (fc) and
// the configured nodes' addresses that the state does not hold yet. It reports
// whether every proposal was answered; the leader calls it again until one
// pass was, so a transient failure right after an election does not leave the
// federation uninitialised until the next one. An answer that refuses a
// command (a configuration the state machine rejects) is logged, not retried.
func (n *Node) initCluster(ctx context.Context, fc FederationConfig, propose func(context.Context, *icnv1.Command) (*icnv1.CommandResult, error)) bool {
	var cmds []*icnv1.Command
	if !n.fsm.Initialized() && fc.DID != "" {
		init := &icnv1.InitFederation{FederationDid: string(fc.DID), Name: fc.Name, MinTrust: fc.MinTrust, MaxHops: uint32(fc.MaxHops)}
		for _, c := range fc.Currencies {
			init.Currencies = append(init.Currencies, &icnv1.CurrencySpec{Code: c.Code, Scale: uint32(c.Scale)})
		}
		init.Settlement = fc.Settlement
		cmds = append(cmds, &icnv1.Command{Cmd: &icnv1.Command_InitFederation{InitFederation: init}})
	}
	peers := n.cfg.Peers
	if !n.inPeers(n.DID()) {
		peers = append(peers, Peer{DID: n.DID(), RaftAddr: string(n.trans.LocalAddr()), GRPCAddr: n.cfg.GRPCAddr})
	}
	for _, p := range peers {
		hn := n.fsm.HubNode(p.DID)
		if p.GRPCAddr == "" || (hn != nil && hn.GetGrpcAddress() == p.GRPCAddr) {
			continue
		}
		cmds = append(cmds, &icnv1.Command{Cmd: &icnv1.Command_RegisterHubNode{RegisterHubNode: &icnv1.RegisterHubNode{
			Did: string(p.DID), RaftAddress: p.RaftAddr, GrpcAddress: p.GRPCAddr}}})
	}
	answered := true
	for _, c := range cmds {
		res, err := propose(ctx, c)
		if err != nil || res.GetErrorCode() != "" {
			n.log.Warn("initialise cluster state", "err", err, "code", res.GetErrorCode(), "message", res.GetErrorMessage())
		}
		answered = answered && err == nil
	}
	return answered
}

// Close stops the node: raft first (so nothing more is applied), then the stores.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		close(n.stop)
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		n.batch.Close()
		n.wg.Wait()
		if e := n.closeStores(); err == nil {
			err = e
		}
	})
	return err
}

func (n *Node) closeStores() error {
	var errs []error
	if c, ok := n.trans.(io.Closer); ok && n.cfg.Transport == nil {
		errs = append(errs, c.Close())
	} else if n.closer != nil {
		errs = append(errs, n.closer.Close())
	}
	if n.logs != nil {
		errs = append(errs, n.logs.Close())
	}
	if n.fsm != nil {
		errs = append(errs, n.fsm.Close())
	}
	return errors.Join(errs...)
}
