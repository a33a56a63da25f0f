package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/raftutil"
)

// AddVoter adds the node did, reachable at raftAddr, as a voter (leader
// only). The new node starts with Peers that do not list it, so it waits to
// be joined; it catches up from the leader's log or, if that has been
// compacted, a snapshot.
func (c *Cluster) AddVoter(ctx context.Context, did identity.DID, raftAddr string) error {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return fmt.Errorf("add voter: node did: %w", err)
	}
	if _, err := raftutil.AdvertiseAddr(raftAddr); err != nil {
		return fmt.Errorf("add voter %s: %w", did, err)
	}
	return c.change(ctx, "add voter "+string(did), func(r *raft.Raft, d time.Duration) raft.Future {
		return r.AddVoter(raft.ServerID(did), raft.ServerAddress(raftAddr), 0, d)
	})
}

// RemoveServer takes the node did out of the cluster (leader only). A
// leader may remove itself: it steps down once the change commits.
func (c *Cluster) RemoveServer(ctx context.Context, did identity.DID) error {
	return c.change(ctx, "remove "+string(did), func(r *raft.Raft, d time.Duration) raft.Future {
		return r.RemoveServer(raft.ServerID(did), 0, d)
	})
}

func (c *Cluster) change(ctx context.Context, what string, f func(*raft.Raft, time.Duration) raft.Future) error {
	r := c.raft.Load()
	if r.State() != raft.Leader {
		return c.notLeader()
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := c.batch.Wait(f(r, timeout)); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return c.notLeader()
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Status is the cluster as this node sees it.
type Status struct {
	DID               identity.DID
	State             string // leader, follower, candidate, shutdown
	Leading           bool   // leader with its state current (Leading)
	Leader            identity.DID
	LeaderAddr        string
	Term              uint64
	CommitIndex       uint64
	AppliedIndex      uint64 // the last entry the state machine applied
	LastSnapshotIndex uint64
	Servers           []Server
}

// Server is a member of the raft configuration.
type Server struct {
	DID      identity.DID
	RaftAddr string
	Suffrage string // voter, nonvoter, staging
}

// Status describes the cluster as this node sees it.
func (c *Cluster) Status() (Status, error) {
	r := c.raft.Load()
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return Status{}, fmt.Errorf("raft configuration: %w", err)
	}
	addr, leader := r.LeaderWithID()
	snap, _ := strconv.ParseUint(r.Stats()["last_snapshot_index"], 10, 64)
	leading, _ := c.lead.get()
	st := Status{DID: c.DID(), State: strings.ToLower(r.State().String()), Leading: leading,
		Leader: identity.DID(leader), LeaderAddr: string(addr), Term: r.CurrentTerm(),
		CommitIndex: r.CommitIndex(), AppliedIndex: c.fsm.applied.get(), LastSnapshotIndex: snap}
	for _, s := range f.Configuration().Servers {
		st.Servers = append(st.Servers, Server{DID: identity.DID(s.ID), RaftAddr: string(s.Address),
			Suffrage: strings.ToLower(s.Suffrage.String())})
	}
	return st, nil
}

// CaughtUp reports whether this node has caught up since it started: it
// leads (with an entry of its term applied), or it has heard from a leader
// and applied every entry that leader had committed as far as this node's
// log reaches. It is false while a restarted node installs its snapshot and
// replays its log, or rebuilds a state file it moved aside; once true it
// stays true, since a follower trailing by the entries in flight is not
// behind (its stale reads are allowed to trail).
func (c *Cluster) CaughtUp() bool {
	if c.caughtUp.Load() {
		return true
	}
	up := false
	if leading, _ := c.lead.get(); leading {
		up = true
	} else if r := c.raft.Load(); r != nil {
		_, leader := r.LeaderWithID()
		ci := r.CommitIndex()
		up = leader != "" && ci > 0 && c.fsm.applied.get() >= ci
	}
	if up {
		c.caughtUp.Store(true)
	}
	return up
}
