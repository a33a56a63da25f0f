package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
)

const (
	wsBuffer       = 1024
	wsBackfillPage = 256
	wsWriteTimeout = 10 * time.Second
	// wsRecheck is how often an open stream re-checks that its caller's
	// device, session and membership still stand.
	wsRecheck = 2 * time.Second
)

// getEvents streams a feed over WebSocket: every event after ?since, read from
// disk, then live ones, with none lost or repeated at the seam.
func (g *Gateway) getEvents(w http.ResponseWriter, r *http.Request, c *caller) error {
	q := r.URL.Query()
	feed, rule := string(c.DID), ruleMember
	switch q.Get("feed") {
	case "", "member":
	case "coop":
		rule = authRule{member: true, roles: []string{membership.RoleModerator, membership.RoleTreasurer}}
		if err := g.authorize(r, c, rule); err != nil {
			return err
		}
		feed = ledger.CoopFeed
	default:
		return errf(http.StatusBadRequest, "invalid_request", "feed must be member or coop")
	}
	var since uint64
	if s := q.Get("since"); s != "" {
		var err error
		if since, err = strconv.ParseUint(s, 10, 64); err != nil {
			return errf(http.StatusBadRequest, "invalid_request", "since must be a sequence number")
		}
	}
	// Origins are not checked: clients authenticate with a bearer token, never
	// a cookie, so a foreign page gains nothing by opening the socket.
	// Accept hijacks the connection, and net/http clears the server's read
	// and write deadlines on hijack (internal/httpserve), so the stream is not
	// cut by the timeouts that bound requests; it bounds itself instead:
	// wsWriteTimeout per event, and recheck.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept has answered the request
	}
	defer conn.CloseNow()
	g.metrics.wsConns.Inc()
	defer g.metrics.wsConns.Dec()
	ctx, cancel := context.WithCancelCause(conn.CloseRead(r.Context()))
	defer cancel(nil)
	go g.recheck(ctx, cancel, r, c, rule)
	err = g.stream(ctx, conn, feed, since)
	var revoked *apiError
	switch {
	case errors.As(context.Cause(ctx), &revoked):
		conn.Close(websocket.StatusPolicyViolation, revoked.Code)
	case err == nil, errors.Is(err, context.Canceled):
		conn.Close(websocket.StatusNormalClosure, "")
	case errors.Is(err, ledger.ErrClosed):
		conn.Close(websocket.StatusGoingAway, "node shutting down")
	default:
		g.cfg.Logger.Debug("event stream ended", "feed", feed, "err", err)
		conn.Close(websocket.StatusInternalError, "stream failed; reconnect with since")
	}
	return nil
}

// recheck ends a stream (cancelling ctx with the refusal as its cause) as
// soon as its caller would no longer be let in: a revoked device, session,
// membership or role closes the feed within wsRecheck.
func (g *Gateway) recheck(ctx context.Context, cancel context.CancelCauseFunc, r *http.Request, c *caller, rule authRule) {
	t := time.NewTicker(wsRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := g.stillStands(c)
			if err == nil {
				err = g.authorize(r, c, rule)
			}
			if err != nil {
				cancel(toAPIError(err))
				return
			}
		}
	}
}

func (g *Gateway) stream(ctx context.Context, conn *websocket.Conn, feed string, last uint64) error {
	send := func(ev ledger.Event) error {
		wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
		defer cancel()
		return wsjson.Write(wctx, conn, ev)
	}
	for {
		// Subscribe before reading the backlog so nothing slips between them.
		sub := g.cfg.Ledger.Subscribe(feed, wsBuffer)
		for {
			evs, err := g.cfg.Ledger.ReadFeed(feed, last, wsBackfillPage)
			if err != nil {
				sub.Close()
				return err
			}
			for _, ev := range evs {
				if err := send(ev); err != nil {
					sub.Close()
					return err
				}
				last = ev.Seq
			}
			if len(evs) < wsBackfillPage {
				break
			}
		}
		lagged, err := g.live(ctx, sub, send, &last)
		sub.Close()
		if !lagged {
			return err
		}
		// The client fell behind the live buffer: catch up from disk again.
	}
}

func (g *Gateway) live(ctx context.Context, sub *ledger.Subscription, send func(ledger.Event) error, last *uint64) (lagged bool, err error) {
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				if sub.Lagged() {
					return true, nil
				}
				return false, ledger.ErrClosed
			}
			if ev.Seq <= *last {
				continue
			}
			if err := send(ev); err != nil {
				return false, err
			}
			*last = ev.Seq
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}
