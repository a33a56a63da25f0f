package hub

import (
	"context"
	"time"

	"github.com/icn-coop/icn/hub/dataplane"
	"github.com/icn-coop/icn/hub/fsm"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/settlement"
)

// The parent federation a cluster is a participant of (see dataplane).
type (
	ParentLink = dataplane.ParentLink
	ParentHub  = dataplane.ParentHub
)

var _ dataplane.Cluster = (*Node)(nil)

// Key is the node's key.
func (n *Node) Key() *identity.Key { return n.cfg.Key }

// State reads the replicated state as this node has applied it.
func (n *Node) State() *fsm.FSM { return n.fsm }

// FinalPeriods returns the views of the periods after period after whose
// report is final or settled, oldest first, at most max (co-ops' statements).
func (n *Node) FinalPeriods(ctx context.Context, after uint64, max int, now time.Time) ([]settlement.View, error) {
	infos, err := n.Periods(ctx, now)
	if err != nil {
		return nil, err
	}
	var out []settlement.View
	for i := len(infos) - 1; i >= 0 && len(out) < max; i-- { // newest first in infos
		p := infos[i]
		if p.Number <= after || (p.State != settlement.StateFinal && p.State != settlement.StateSettled) {
			continue
		}
		v, err := n.PeriodView(ctx, p.Number, now)
		if err != nil {
			continue // a period this node cannot read yet: the co-op asks again
		}
		out = append(out, v)
	}
	return out, nil
}
