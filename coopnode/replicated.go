package coopnode

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/coopnode/hubpeer"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/replica"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

// replicated is what a node of a replicated co-op adds: its member of the
// Raft group and the duties its leader carries out.
type replicated struct {
	c       atomic.Pointer[cluster.Cluster]
	nodeKey *identity.Key
	// hub is the hub peer while this node leads (nil otherwise).
	hub atomic.Pointer[hubpeer.Client]
	// stop ends the leader duties; done is closed once they have returned.
	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// raftDir holds the raft log, stable store and snapshots.
func (c *Config) raftDir() string { return filepath.Join(c.DataDir, "raft") }

// hasRaftLog reports whether the data directory holds a raft log (this
// node has been a cluster node).
func (c *Config) hasRaftLog() bool {
	_, err := os.Stat(filepath.Join(c.raftDir(), "raft.db"))
	return !errors.Is(err, os.ErrNotExist)
}

// checkNodeKey refuses a cluster node key that is the co-op's own.
func (c *Config) checkNodeKey(node, coop identity.DID) error {
	if node == coop {
		return fmt.Errorf("cluster.node_key_file %s is the co-op's key: give each node a key of its own", c.Cluster.NodeKeyFile)
	}
	return nil
}

// prepareReplica sets a replicated node's ledger to be written without
// fsync: the raft log is fsync'd before an entry is applied, and a file a
// crash may have torn is moved aside, so that raft rebuilds it from its
// snapshot and log as the node starts (store.Options.Replica).
func (c *Config) prepareReplica(opts *ledger.Options, log *slog.Logger) error {
	if !c.Cluster.Enabled() {
		return nil
	}
	opts.Replica = true
	if !c.hasRaftLog() {
		return nil // no log to rebuild from: prepareReplicated decides
	}
	moved, err := store.DiscardUnclean(opts.Path)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if moved {
		log.Warn("the co-op state file was not closed cleanly: rebuilding it from the raft snapshot and log",
			"moved_to", opts.Path+store.UncleanSuffix)
	}
	return nil
}

// prepareReplicated readies the ledger for the cluster before anything
// else registers with it: every command goes to the group from the first.
func (n *Node) prepareReplicated() error {
	if !n.Config.Cluster.Enabled() {
		return nil
	}
	idx, err := n.Ledger.State().AppliedIndex()
	if err != nil {
		return err
	}
	if !n.Config.hasRaftLog() && idx > 0 {
		return fmt.Errorf("cluster: %s holds a single node's state (%d commands) and %s no raft log: "+
			"a replicated co-op starts from empty data directories (see docs/coop-node.md, \"Running a replicated co-op\")",
			n.Ledger.State().Path(), idx, n.Config.raftDir())
	}
	key, err := keyfile.LoadOrCreate(n.Config.Cluster.NodeKeyFile, func() (*identity.Key, error) { return identity.GenerateKey(rand.Reader) })
	if err != nil {
		return fmt.Errorf("cluster node key: %w", err)
	}
	if err := n.Config.checkNodeKey(key.DID(), n.Key.DID()); err != nil {
		return err
	}
	n.repl = &replicated{nodeKey: key}
	n.Ledger.State().SetProposer(replica.Proposer(n.repl.c.Load))
	return nil
}

// openCluster joins the Raft group once every handler is registered (raft
// applies its log from the moment it starts).
func (n *Node) openCluster() error {
	cc := n.Config.Cluster
	c, err := cluster.Open(cluster.Config{
		Key: n.repl.nodeKey, DataDir: n.Config.raftDir(), Bind: cc.Bind, Listener: cc.Listener, Advertise: cc.Advertise,
		Peers: cc.peers(), HeartbeatTimeout: time.Duration(cc.HeartbeatTimeout), Logger: n.log.With("component", "cluster"),
	}, replica.New(n.Ledger.State()))
	if err != nil {
		return fmt.Errorf("co-op cluster: %w", err)
	}
	n.repl.c.Store(c)
	n.Cluster = c
	return nil
}

// startLeading runs the leader's duties whenever this node leads, until
// ctx ends: the admin's bootstrap, the session prune, the hub peer with
// its reconciler, which finishes the transfers a former leader left open,
// the governance scheduler and the credential renewal.
func (n *Node) startLeading(ctx context.Context) {
	ctx, n.repl.stop = context.WithCancel(ctx)
	n.repl.done = make(chan struct{})
	go func() {
		defer close(n.repl.done)
		n.Cluster.WhileLeader(ctx, n.lead)
	}()
}

func (n *Node) lead(ctx context.Context) {
	n.log.Info("leading the co-op: starting the leader's duties")
	admin := identity.DID(n.Config.Admin)
	for ctx.Err() == nil {
		_, err := n.Members.Bootstrap(ctx, admin, n.Config.AdminName)
		if err == nil {
			break
		}
		n.log.Warn("bootstrap admin", "did", admin, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	// The currencies and the credit policy in force follow the leader's
	// [[currencies]] and [credit_policy].
	if _, err := n.Ledger.RecordCurrencies(ctx); err != nil && ctx.Err() == nil {
		n.log.Error("record the currencies: this node's [[currencies]] is refused; the ones recorded stay in force", "err", err)
	}
	if _, err := n.Vouch.RecordPolicy(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("record the credit policy", "err", err)
	}
	if err := n.Gateway.PruneSessions(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("prune sessions", "err", err)
	}
	if len(n.Config.Hub.Nodes) > 0 && ctx.Err() == nil {
		hc, err := hubpeer.Start(n.hubConfig())
		if err != nil {
			n.log.Error("hub peer", "err", err)
		} else {
			n.repl.hub.Store(hc)
			defer func() {
				n.repl.hub.Store(nil)
				_ = hc.Close()
			}()
		}
	}
	// The schedulers (governance deadlines and dues, credential renewal)
	// propose commands: only the leader can.
	n.runSchedulers(ctx)
	n.log.Info("no longer leading the co-op: leader's duties stopped")
}

// stopReplicated ends the leader's duties and leaves the group; the ledger
// is closed after it.
func (n *Node) stopReplicated() error {
	if n.repl == nil {
		return nil
	}
	var err error
	n.repl.once.Do(func() {
		if n.repl.stop != nil {
			n.repl.stop()
			<-n.repl.done
		}
		if c := n.repl.c.Load(); c != nil {
			err = c.Close()
		}
	})
	return err
}

// errNotLeading: the hub peer runs on the leader, and this node leads no
// more (a payment caught by a change of leader; the client retries).
var errNotLeading = errors.New("this co-op node does not lead: the hub peer runs on the leader")

// leaderHub is the gateway's router, statements and hub link on a
// replicated node: the hub peer of the moment on the leader.
type leaderHub struct{ n *Node }

func (h leaderHub) Route(ctx context.Context, t ledger.Transfer, signer identity.DID, expires time.Time) (ledger.Payment, error) {
	hc := h.n.repl.hub.Load()
	if hc == nil {
		return ledger.Payment{}, errNotLeading
	}
	return hc.Route(ctx, t, signer, expires)
}

func (h leaderHub) Statements() ([]hubpeer.Statement, error) {
	return hubpeer.ReadStatements(h.n.Ledger)
}

func (h leaderHub) Statement(p uint64) (hubpeer.Statement, error) {
	return hubpeer.ReadStatement(h.n.Ledger, p)
}

// hubLinkStandby is the hub link's state on a node that does not lead.
const hubLinkStandby = "standby"

func (h leaderHub) link() gateway.HubLink {
	hc := h.n.repl.hub.Load()
	if hc == nil {
		return gateway.HubLink{State: hubLinkStandby}
	}
	return linkOf(hc)
}

// clusterView is the gateway's view of the group.
type clusterView struct{ n *Node }

func (v clusterView) Leader() (bool, string) {
	c := v.n.repl.c.Load()
	if c == nil {
		return false, ""
	}
	if ok, _ := c.Leading(); ok {
		return true, ""
	}
	did, api := c.Leader()
	if api == "" && did != "" {
		api = v.PeerAPI(did)
	}
	return false, api
}

// CaughtUp is the cluster's CaughtUp (false before it has opened).
func (v clusterView) CaughtUp() bool {
	c := v.n.repl.c.Load()
	return c != nil && c.CaughtUp()
}

func (v clusterView) ReadBarrier(ctx context.Context) error {
	c := v.n.repl.c.Load()
	if c == nil {
		return replica.ErrNotStarted
	}
	return c.ReadBarrier(ctx)
}

func (clusterView) Retryable(err error) bool {
	return errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrOutcomeUnknown) ||
		errors.Is(err, cluster.ErrClosed) || errors.Is(err, replica.ErrNotStarted) || errors.Is(err, errNotLeading)
}

func (v clusterView) cluster() (*cluster.Cluster, error) {
	if c := v.n.repl.c.Load(); c != nil {
		return c, nil
	}
	return nil, replica.ErrNotStarted
}

func (v clusterView) Status() (cluster.Status, error) {
	c, err := v.cluster()
	if err != nil {
		return cluster.Status{}, err
	}
	return c.Status()
}

func (v clusterView) AddVoter(ctx context.Context, did identity.DID, raftAddr string) error {
	c, err := v.cluster()
	if err != nil {
		return err
	}
	return c.AddVoter(ctx, did, raftAddr)
}

func (v clusterView) RemoveServer(ctx context.Context, did identity.DID) error {
	c, err := v.cluster()
	if err != nil {
		return err
	}
	return c.RemoveServer(ctx, did)
}

// PeerAPI is the gateway URL of node did: its [[cluster.peers]] entry's,
// else the one recorded when it was added (icn coop cluster add --api).
func (v clusterView) PeerAPI(did identity.DID) string {
	for _, p := range v.n.Config.Cluster.Peers {
		if identity.DID(p.DID) == did && p.API != "" {
			return p.API
		}
	}
	if v.n.Gateway == nil {
		return ""
	}
	return v.n.Gateway.RecordedPeerAPI(did)
}
