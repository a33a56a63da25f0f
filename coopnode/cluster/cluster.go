package cluster

import (
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

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/raftutil"
)

// Peer is a node of the co-op's cluster.
type Peer struct {
	DID      identity.DID
	RaftAddr string // host:port other nodes dial
	// API is the address a follower forwards writes to (the node's
	// gateway); optional, passed on in NotLeaderError.
	API string
}

// Config configures a cluster node.
type Config struct {
	Key     *identity.Key
	DataDir string // raft.db (log and stable store) and snapshots/
	// Bind is the raft listen address; ignored with Listener, which tests
	// bind to ":0" first to learn every node's port.
	Bind      string
	Listener  net.Listener
	Advertise string // the address peers dial; default: the bound address
	// Peers is the initial cluster, this node included. A node with no
	// raft state that is listed here bootstraps the cluster with exactly
	// these servers (every listed node may do so: the configurations are
	// the same); a node not listed waits for AddVoter. Only configured
	// peers and servers of the current configuration may connect.
	Peers []Peer

	HeartbeatTimeout  time.Duration // default 1 s; also the election timeout
	LeaderLease       time.Duration // default HeartbeatTimeout/2
	SnapshotThreshold uint64        // log entries between snapshots (default 8192)
	SnapshotInterval  time.Duration // how often to check (default 30 s)
	TrailingLogs      uint64        // entries kept after a snapshot (default 10240)
	MaxBatch          int           // commands per log entry (default 512)
	MaxInflight       int           // entries proposed and not yet applied (default 1)

	Logger *slog.Logger
}

func (c *Config) defaults() {
	set := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.HeartbeatTimeout, time.Second)
	set(&c.LeaderLease, c.HeartbeatTimeout/2) // raft requires lease <= heartbeat
	set(&c.SnapshotInterval, 30*time.Second)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Cluster is this node's member of the co-op's Raft group.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm
	raft    atomic.Pointer[raft.Raft] // set once raft runs; the stream's accept reads it
	logs    *raftboltdb.BoltStore
	stream  *raftutil.TLSStream
	trans   *raft.NetworkTransport
	batch   *raftutil.Batcher[[]byte, any]
	notifyC chan bool
	lead    leadership
	// caughtUp latches CaughtUp's first true.
	caughtUp atomic.Bool

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// ErrClosed is returned by calls on a closed node.
var ErrClosed = errors.New("cluster node closed")

// Open starts this node over sm: it opens the stores in DataDir, listens,
// and bootstraps if it is one of Peers and has no state yet.
func Open(cfg Config, sm StateMachine) (*Cluster, error) {
	cfg.defaults()
	if cfg.Key == nil {
		return nil, errors.New("cluster: a node key is required")
	}
	if sm == nil {
		return nil, errors.New("cluster: a state machine is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster data dir: %w", err)
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, fsm: &fsm{sm: sm}, notifyC: make(chan bool, 16), stop: make(chan struct{})}
	if err := c.open(); err != nil {
		if r := c.raft.Load(); r != nil {
			r.Shutdown().Error()
			c.batch.Close()
		}
		return nil, errors.Join(err, c.closeStores())
	}
	c.wg.Add(1)
	go c.leaderLoop()
	return c, nil
}

func (c *Cluster) open() error {
	var err error
	if c.logs, err = raftutil.OpenLogStore(filepath.Join(c.cfg.DataDir, "raft.db")); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.cfg.DataDir, 2, c.hclog("snapshots"))
	if err != nil {
		return fmt.Errorf("open snapshots: %w", err)
	}
	if c.stream, err = raftutil.NewTLSStream(c.cfg.Listener, c.cfg.Bind, c.cfg.Advertise, c.cfg.Key, c.accept); err != nil {
		return err
	}
	c.trans = raftutil.NewTransport(c.stream, c.hclog("transport"))
	st := raftutil.Settings{HeartbeatTimeout: c.cfg.HeartbeatTimeout, LeaderLease: c.cfg.LeaderLease,
		SnapshotThreshold: c.cfg.SnapshotThreshold, SnapshotInterval: c.cfg.SnapshotInterval, TrailingLogs: c.cfg.TrailingLogs}
	rc := st.RaftConfig(raft.ServerID(c.DID()), c.notifyC, c.hclog("raft"))
	r, err := raft.NewRaft(rc, c.fsm, c.logs, c.logs, snaps, c.trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	c.raft.Store(r)
	c.batch = raftutil.NewBatcher(r, raftutil.BatchOptions[[]byte, any]{
		MaxBatch: c.cfg.MaxBatch, MaxInflight: c.cfg.MaxInflight, Encode: encodeEntry, Split: splitResults})
	return c.bootstrap(r, snaps)
}

// splitResults takes the fsm's response to an entry apart.
func splitResults(resp any) ([]any, error) {
	switch r := resp.(type) {
	case []any:
		return r, nil
	case error:
		return nil, r
	}
	return nil, fmt.Errorf("state machine answered %T", resp)
}

func (c *Cluster) bootstrap(r *raft.Raft, snaps raft.SnapshotStore) error {
	if c.peer(c.DID()) == nil {
		return nil // joined by AddVoter
	}
	servers := make([]raft.Server, len(c.cfg.Peers))
	for i, p := range c.cfg.Peers {
		servers[i] = raft.Server{ID: raft.ServerID(p.DID), Address: raft.ServerAddress(p.RaftAddr), Suffrage: raft.Voter}
		if p.DID == c.DID() {
			servers[i].Address = c.trans.LocalAddr()
		}
	}
	if ok, err := raftutil.Bootstrap(r, c.logs, c.logs, snaps, servers); !ok {
		return err
	}
	c.log.Info("bootstrapped co-op cluster", "servers", len(servers))
	return nil
}

func (c *Cluster) peer(d identity.DID) *Peer {
	for i := range c.cfg.Peers {
		if c.cfg.Peers[i].DID == d {
			return &c.cfg.Peers[i]
		}
	}
	return nil
}

// accept pins raft connections, both ways, to the configured peers and the
// servers of the current configuration (which includes a node AddVoter is
// adding, from the moment the leader appends the change).
func (c *Cluster) accept(d identity.DID) bool {
	if c.peer(d) != nil {
		return true
	}
	return raftutil.HasServer(c.raft.Load(), raft.ServerID(d))
}

func (c *Cluster) hclog(name string) hclog.Logger { return raftutil.NewHclog(c.log, name, hclog.Info) }

// DID is this node's identity (its raft server id).
func (c *Cluster) DID() identity.DID { return c.cfg.Key.DID() }

// Addr is the raft address this node advertises.
func (c *Cluster) Addr() string { return string(c.trans.LocalAddr()) }

// Close stops the node: raft first (so nothing more is applied), then the
// proposals still waiting are released, then the stores closed. The state
// machine is the caller's to close, after Close.
func (c *Cluster) Close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		err = c.raft.Load().Shutdown().Error()
		c.batch.Close()
		c.wg.Wait()
		err = errors.Join(err, c.closeStores())
	})
	return err
}

func (c *Cluster) closeStores() error {
	var errs []error
	var closers []io.Closer
	if c.trans != nil {
		closers = append(closers, c.trans)
	} else if c.stream != nil {
		closers = append(closers, c.stream)
	}
	if c.logs != nil {
		closers = append(closers, c.logs)
	}
	for _, cl := range closers {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}
