package hub

import "errors"

// ErrNotLeader is returned by writes and linearizable reads on a node that
// is not (or no longer) the leader; the control plane forwards them.
var ErrNotLeader = errors.New("not the raft leader")

// ErrNoLeader is returned while the cluster has no elected leader.
var ErrNoLeader = errors.New("cluster has no leader")
