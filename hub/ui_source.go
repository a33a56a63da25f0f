package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/icn-coop/icn/hub/ui"
	"github.com/icn-coop/icn/settlement"
)

// uiSource serves the treasurer pages from this node's applied state: a
// follower may show a period a moment after the leader does, never a
// different one (the report is checked against the signed hash).
type uiSource struct {
	n     *Node
	clock func() time.Time
}

func (s uiSource) Periods(ctx context.Context) ([]settlement.PeriodSummary, error) {
	infos, err := s.n.Periods(ctx, s.clock())
	if err != nil {
		return nil, err
	}
	out := make([]settlement.PeriodSummary, 0, len(infos))
	for _, p := range infos {
		sum := settlement.PeriodSummary{Period: p.Number, State: p.State, OpenedAt: p.OpenedAt, ClosedAt: p.ClosedAt, Transfers: p.Transfers}
		if p.State != settlement.StateOpen {
			if v, err := s.n.PeriodView(ctx, p.Number, s.clock()); err == nil {
				sum = v.Summary()
			}
		}
		out = append(out, sum)
	}
	return out, nil
}

func (s uiSource) View(ctx context.Context, period uint64) (settlement.View, error) {
	v, err := s.n.PeriodView(ctx, period, s.clock())
	if errors.Is(err, ErrPeriodNotClosed) {
		return v, fmt.Errorf("period %d: %w", period, ui.ErrNotFound)
	}
	return v, err
}

// UIHandler serves the treasurer pages (under ui.Prefix) from this node.
func (n *Node) UIHandler() http.Handler { return ui.Handler(uiSource{n: n, clock: time.Now}, time.Now) }
