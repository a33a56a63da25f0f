package raftutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Settings are the timings and snapshot policy of a raft node.
type Settings struct {
	HeartbeatTimeout  time.Duration // also the election timeout
	LeaderLease       time.Duration // at most HeartbeatTimeout
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
}

// RaftConfig is raft's configuration for server id with s; leadership
// changes are sent on notify.
func (s Settings) RaftConfig(id raft.ServerID, notify chan bool, logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = id
	rc.HeartbeatTimeout, rc.ElectionTimeout = s.HeartbeatTimeout, s.HeartbeatTimeout
	rc.LeaderLeaseTimeout = s.LeaderLease
	rc.SnapshotThreshold, rc.SnapshotInterval, rc.TrailingLogs = s.SnapshotThreshold, s.SnapshotInterval, s.TrailingLogs
	// The Batcher packs commands into entries; with MaxInflight above 1,
	// BatchApplyCh lets the leader also store the entries in flight with one
	// log append (one bbolt commit, two fdatasyncs) instead of one each. The
	// futures raft abandons at shutdown are released by Batcher.Wait.
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	rc.NotifyCh = notify
	rc.Logger = logger
	return rc
}

// Bootstrap starts a cluster of servers unless the stores already hold raft
// state; every listed server may call it with the same servers. It reports
// whether it bootstrapped.
func Bootstrap(r *raft.Raft, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, servers []raft.Server) (bool, error) {
	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil || has {
		return false, err
	}
	if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	return true, nil
}

// HasServer reports whether id is a server of r's latest configuration
// (which holds a server being added from the moment the leader appends the
// change); false while r is nil.
func HasServer(r *raft.Raft, id raft.ServerID) bool {
	if r == nil {
		return false
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == id {
			return true
		}
	}
	return false
}

// LeaderLoop follows raft's leadership notifications until stop is closed:
// while this node leads it runs lead, with a context cancelled when the
// leadership ends, and waits for lead to return before it follows the next
// change.
func LeaderLoop(notify <-chan bool, stop <-chan struct{}, lead func(ctx context.Context)) {
	end := func() {}
	defer func() { end() }()
	for {
		select {
		case leader := <-notify:
			end()
			end = func() {}
			if leader {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); lead(ctx) }()
				end = func() { cancel(); <-done }
			}
		case <-stop:
			return
		}
	}
}

// TermEntry appends an empty entry and waits until it is applied: a new
// leader's read index is only sound once an entry of its term has been
// applied. An empty command rather than raft's Barrier: raft hands a
// barrier to no FSM, which would leave the applied index behind the commit
// index (and read barriers waiting) until the next command. The FSM must
// take empty data as an entry with no command.
func (b *Batcher[C, R]) TermEntry() error {
	return b.Wait(b.raft.Apply(nil, 10*time.Second))
}

// AwaitTermEntry appends the term's first entry (TermEntry) and reports
// whether it was applied. While raft only timed out enqueueing it (a leader
// under load) it tries again, for as long as ctx (the term's leadership)
// lasts; any other error means the leadership is lost or ending.
func (b *Batcher[C, R]) AwaitTermEntry(ctx context.Context, log *slog.Logger) bool {
	return retryTermEntry(ctx, b.TermEntry, log)
}

func retryTermEntry(ctx context.Context, try func() error, log *slog.Logger) bool {
	for {
		err := try()
		if err == nil {
			return true
		}
		log.Warn("leader's first entry failed", "err", err)
		if !errors.Is(err, raft.ErrEnqueueTimeout) || ctx.Err() != nil {
			return false
		}
	}
}
