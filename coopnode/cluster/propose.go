package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
)

// ErrNotLeader matches a *NotLeaderError (errors.Is).
var ErrNotLeader = errors.New("not the co-op cluster's leader")

// NotLeaderError is returned by leader-only calls on another node: nothing
// was proposed, and the call can be forwarded to the leader it names (an
// empty Leader: none is known, e.g. during an election; retry shortly).
type NotLeaderError struct {
	Leader   identity.DID
	RaftAddr string
	API      string // the leader's Peer.API, if configured
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return ErrNotLeader.Error() + " (no leader known)"
	}
	return fmt.Sprintf("%v (the leader is %s at %s)", ErrNotLeader, e.Leader, e.RaftAddr)
}

func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// ErrOutcomeUnknown means a proposal was handed to raft and its fate is not
// known: the leader lost its leadership, the node shut down or the caller
// gave up. Retry with the same request id (see the package comment).
var ErrOutcomeUnknown = errors.New("outcome of the proposal unknown")

// notLeader describes the current leader as this node knows it.
func (c *Cluster) notLeader() *NotLeaderError {
	addr, id := c.raft.Load().LeaderWithID()
	e := &NotLeaderError{Leader: identity.DID(id), RaftAddr: string(addr)}
	if p := c.peer(e.Leader); p != nil && e.Leader != "" {
		e.API = p.API
	}
	return e
}

// Leader is the leader as this node knows it (empty: none known) and its
// Peer.API, if configured.
func (c *Cluster) Leader() (identity.DID, string) {
	e := c.notLeader()
	return e.Leader, e.API
}

// Propose replicates cmd and returns what the state machine's Apply gave
// for it. It runs on the leader; concurrent proposals share log entries.
// Errors: *NotLeaderError (nothing proposed), ErrOutcomeUnknown (retry with
// the same request id), ErrClosed, or an entry the state machine could
// not take.
func (c *Cluster) Propose(ctx context.Context, cmd []byte) (any, error) {
	if c.closed() {
		return nil, ErrClosed
	}
	if c.raft.Load().State() != raft.Leader {
		return nil, c.notLeader()
	}
	res, err := c.batch.Propose(ctx, cmd)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, raft.ErrNotLeader):
		return nil, c.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown),
		errors.Is(err, raft.ErrEnqueueTimeout), ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return nil, fmt.Errorf("propose: %w", err)
}

// ReadBarrier makes the next read of this node's state linearizable: on
// the leader, once it has applied an entry of its term (a leader just
// elected waits for that), it notes the commit index, checks it still
// leads, and waits until the state machine has applied that index.
// Elsewhere it fails with a *NotLeaderError.
func (c *Cluster) ReadBarrier(ctx context.Context) error {
	r := c.raft.Load()
	for {
		leading, changed := c.lead.get()
		if leading {
			break
		}
		if r.State() != raft.Leader {
			return c.notLeader()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stop:
			return ErrClosed
		}
	}
	ci := r.CommitIndex()
	if err := r.VerifyLeader().Error(); err != nil {
		return c.notLeader()
	}
	return c.fsm.applied.wait(ctx, ci, c.stop)
}
