package hub

import (
	"context"
	"errors"
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"strings"
	"time"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/robfig/cron/v3"
)

// SettlementConfig is when periods close and when their instructions are due.
type SettlementConfig struct {
	// Interval closes the open period this long after it opened (e.g. 24h).
	Interval time.Duration
	// Cron closes it at the first time of a standard 5-field cron
	// expression after it opened ("0 0 * * *": daily at midnight). Times
	// are UTC unless the expression starts with CRON_TZ=<zone>. At most
	// one of Interval and Cron; neither: periods close only on command.
	Cron string
	// Deadline: instructions not confirmed this long after the close are
	// overdue (0: no deadline).
	Deadline time.Duration
}

// schedule computes when a period that opened at a given time closes.
type schedule interface {
	next(opened time.Time) time.Time
}

type intervalSchedule time.Duration

func (d intervalSchedule) next(opened time.Time) time.Time { return opened.Add(time.Duration(d)) }

type cronSchedule struct{ s cron.Schedule }

func (c cronSchedule) next(opened time.Time) time.Time { return c.s.Next(opened) }

// parseSchedule checks the configuration; nil means no schedule.
func (c SettlementConfig) parseSchedule() (schedule, error) {
	switch {
	case c.Interval < 0 || c.Deadline < 0:
		return nil, errors.New("settlement: interval and deadline must not be negative")
	case c.Interval > 0 && c.Cron != "":
		return nil, errors.New("settlement: set either interval or cron, not both")
	case c.Interval > 0:
		if c.Interval < time.Second {
			return nil, fmt.Errorf("settlement: interval %v is too short (at least 1s)", c.Interval)
		}
		return intervalSchedule(c.Interval), nil
	case c.Cron != "":
		spec := c.Cron
		if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
			spec = "CRON_TZ=UTC " + spec // the same on every node, whatever its local zone
		}
		s, err := cron.ParseStandard(spec)
		if err != nil {
			return nil, fmt.Errorf("settlement: cron %q: %w", c.Cron, err)
		}
		return cronSchedule{s}, nil
	}
	return nil, nil
}

// closeRequestID names the close of period n, so that a retry of the
// scheduled close (after an ambiguous failure or a leader change) is
// answered with the first result instead of closing again.
func closeRequestID(n uint64) string { return fmt.Sprintf("settlement/close/%d", n) }

// ClosePeriod closes the open period now and opens the next (on the
// leader). expect, if not 0, is the period the caller means to close; it
// fails with a CommandError (CodePeriod) if another period is open. It
// returns the number of the period it closed.
func (n *Node) ClosePeriod(ctx context.Context, expect uint64, requestID string) (uint64, error) {
	target := expect
	if target == 0 {
		target, _ = n.fsm.CurrentPeriod()
	}
	if requestID == "" {
		requestID = closeRequestID(target)
	}
	// The state machine decides: a retry of an applied close (same request
	// id) gets the first result; a close of a period no longer open is refused.
	res, err := n.Propose(ctx, &icnv1.Command{RequestId: requestID, Cmd: &icnv1.Command_OpenPeriod{OpenPeriod: &icnv1.OpenPeriod{
		Number: target + 1, DeadlineAfterNanos: int64(n.cfg.Settlement.Deadline)}}})
	if err != nil {
		return 0, err
	}
	if res.GetErrorCode() != "" {
		return 0, &fsm.CommandError{Code: res.GetErrorCode(), Message: res.GetErrorMessage()}
	}
	return res.GetClosedPeriod(), nil
}

// closeIfDue closes the open period if the schedule says it is due. The
// due time comes from the replicated opening time of the open period, so a
// new leader picks up exactly where the old one stopped: a close is never
// skipped, and OpenPeriod's number check plus the request id keep it from
// happening twice.
func (n *Node) closeIfDue(ctx context.Context, now time.Time) {
	if n.sched == nil || !n.fsm.Initialized() {
		return
	}
	cur, opened := n.fsm.CurrentPeriod()
	if now.Before(n.sched.next(time.Unix(0, opened))) {
		return
	}
	closed, err := n.ClosePeriod(ctx, cur, closeRequestID(cur))
	var ce *fsm.CommandError
	switch {
	case errors.As(err, &ce) && ce.Code == fsm.CodePeriod:
		// Someone closed it first.
	case err != nil:
		n.log.Warn("scheduled period close", "period", cur, "err", err)
	default:
		n.log.Info("closed settlement period on schedule", "period", closed)
	}
}
