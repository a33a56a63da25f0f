package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"
)

// ErrGap reports that the event feed skipped or repeated a sequence number.
// Test with errors.Is; the error is a *GapError.
var ErrGap = errors.New("event feed gap")

// GapError says which event was expected after After and which arrived.
// Resume with Watch(ctx, coop, After, ...) to replay from there.
type GapError struct {
	After uint64 // last sequence number delivered
	Got   uint64 // sequence number received instead of After+1
}

func (e *GapError) Error() string {
	return fmt.Sprintf("%s: expected seq %d, got %d", ErrGap, e.After+1, e.Got)
}

// Is makes errors.Is(err, ErrGap) true.
func (e *GapError) Is(target error) bool { return target == ErrGap }

// maxEventSize bounds one event message.
const maxEventSize = 1 << 20

// Watch opens the event feed of coop over a WebSocket: the session's own feed,
// or the whole co-op's feed if coopFeed (roles moderator, treasurer). The
// gateway first replays every event after since (0: from the start), then
// streams live ones.
//
// Events arrive in order on the first channel. Watch checks that each seq is
// exactly one more than the one before (the first must be since+1); otherwise
// it stops with a *GapError (errors.Is(err, ErrGap)). When the feed ends, the
// error channel yields at most one error (ctx.Err() after cancellation, an
// *APIError if the gateway refused the handshake, a *GapError, or the
// connection's error) and both channels are closed. A normal close by the
// gateway ends the feed without an error.
func (s *Session) Watch(ctx context.Context, coop string, since uint64, coopFeed bool) (<-chan Event, <-chan error) {
	events := make(chan Event, 16)
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		defer close(events)
		if err := s.watch(ctx, coop, since, coopFeed, events); err != nil {
			errs <- err
		}
	}()
	return events, errs
}

func (s *Session) watch(ctx context.Context, coop string, since uint64, coopFeed bool, events chan<- Event) error {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if coopFeed {
		q.Set("feed", "coop")
	}
	u := s.c.base + "/ws/" + seg(coop) + "?" + q.Encode()
	h := http.Header{"Authorization": {"Bearer " + s.Token()}}
	if s.c.userAgent != "" {
		h.Set("User-Agent", s.c.userAgent)
	}
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: s.c.hc, HTTPHeader: h})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode >= 300 {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(resp.Body)
			}
			return fmt.Errorf("watch %s: %w", coop, decodeError(resp, body, s.c.now()))
		}
		return fmt.Errorf("watch %s: %w", coop, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxEventSize)

	last := since
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil
			}
			return fmt.Errorf("watch %s: %w", coop, err)
		}
		var ev Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("watch %s: malformed event after seq %d: %w", coop, last, err)
		}
		if ev.Seq != last+1 {
			return fmt.Errorf("watch %s: %w", coop, &GapError{After: last, Got: ev.Seq})
		}
		select {
		case events <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
		last = ev.Seq
	}
}
