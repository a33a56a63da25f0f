package dataplane

import (
	"context"
	"time"

	"github.com/icn-coop/icn/hub/fsm"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// Cluster is what the data plane needs of the hub node it runs on (the
// node implements it; tests use a state machine without raft).
type Cluster interface {
	// Key is the node's key: its QUIC identity.
	Key() *identity.Key
	// IsLeader reports whether this node leads (and has applied its term's
	// first entry); only the leader routes.
	IsLeader() bool
	// Leader names the current leader, if known.
	Leader() (did identity.DID, grpcAddr string, ok bool)
	// Propose runs a command through the cluster and returns its result.
	Propose(ctx context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error)
	// State reads the replicated state as this node has applied it.
	State() *fsm.FSM
	// FinalPeriods returns the views of the periods after period after whose
	// report is final (or settled), oldest first, at most max.
	FinalPeriods(ctx context.Context, after uint64, max int, now time.Time) ([]settlement.View, error)
}
