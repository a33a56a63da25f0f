package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// feedServer serves /ws/coop-a, checks the handshake and sends msgs, then
// closes normally (or holds the connection open if hold).
func feedServer(t *testing.T, wantQuery string, msgs []string, hold bool) *Session {
	t.Helper()
	key := testKey(t, 20)
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "coop-a")
	mux.HandleFunc("GET /ws/coop-a", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
			writeJSON(w, 401, `{"error":{"code":"unauthenticated","message":"no token"}}`)
			return
		}
		if r.URL.RawQuery != wantQuery {
			t.Errorf("ws query = %q, want %q", r.URL.RawQuery, wantQuery)
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		for _, m := range msgs {
			if err := c.Write(r.Context(), websocket.MessageText, []byte(m)); err != nil {
				return
			}
		}
		if hold { // until the client goes away
			c.Read(r.Context())
			return
		}
		c.Close(websocket.StatusNormalClosure, "done")
	})
	return login(t, newTestServer(t, mux), key, "coop-a")
}

func ev(seq uint64) string {
	return fmt.Sprintf(`{"seq":%d,"type":"Payment","at":"2025-03-04T04:06:07Z","payload":{"id":"p%d","amount":"1.00"}}`, seq, seq)
}

// collect drains both channels.
func collect(t *testing.T, events <-chan Event, errs <-chan error) ([]Event, error) {
	t.Helper()
	var got []Event
	timeout := time.After(10 * time.Second)
	for events != nil {
		select {
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			got = append(got, e)
		case <-timeout:
			t.Fatal("feed did not end")
		}
	}
	return got, <-errs
}

func watchAll(t *testing.T, s *Session, ctx context.Context, coop string, since uint64, feed bool) ([]Event, error) {
	t.Helper()
	events, errs := s.Watch(ctx, coop, since, feed)
	return collect(t, events, errs)
}

func seqs(evs []Event) []uint64 {
	var s []uint64
	for _, e := range evs {
		s = append(s, e.Seq)
	}
	return s
}

func TestWatch(t *testing.T) {
	s := feedServer(t, "feed=coop&since=5", []string{ev(6), ev(7), ev(8)}, false)
	got, err := watchAll(t, s, context.Background(), "coop-a", 5, true)
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if fmt.Sprint(seqs(got)) != "[6 7 8]" {
		t.Fatalf("seqs = %v", seqs(got))
	}
	if got[0].Type != EventPayment || got[0].At != "2025-03-04T04:06:07Z" || string(got[0].Payload) != `{"id":"p6","amount":"1.00"}` {
		t.Errorf("event = %+v (payload %s)", got[0], got[0].Payload)
	}
}

func TestWatchGap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		since      uint64
		msgs       []string
		delivered  string
		after, got uint64
	}{
		{"skip", 0, []string{ev(1), ev(2), ev(4)}, "[1 2]", 2, 4},
		{"repeat", 0, []string{ev(1), ev(2), ev(2)}, "[1 2]", 2, 2},
		{"first after since", 10, []string{ev(12)}, "[]", 10, 12},
		{"replay from before since", 10, []string{ev(10)}, "[]", 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := feedServer(t, fmt.Sprintf("since=%d", tc.since), tc.msgs, true)
			got, err := watchAll(t, s, context.Background(), "coop-a", tc.since, false)
			if fmt.Sprint(seqs(got)) != tc.delivered && !(tc.delivered == "[]" && len(got) == 0) {
				t.Errorf("delivered %v, want %s", seqs(got), tc.delivered)
			}
			var ge *GapError
			if !errors.Is(err, ErrGap) || !errors.As(err, &ge) || ge.After != tc.after || ge.Got != tc.got {
				t.Errorf("err = %v, want gap after %d got %d", err, tc.after, tc.got)
			}
		})
	}
}

func TestWatchMalformed(t *testing.T) {
	s := feedServer(t, "since=0", []string{ev(1), `{"seq":"two"}`}, true)
	got, err := watchAll(t, s, context.Background(), "coop-a", 0, false)
	if len(got) != 1 || err == nil || errors.Is(err, ErrGap) {
		t.Errorf("got %v, err %v; want one event and a decode error", seqs(got), err)
	}
}

func TestWatchCancel(t *testing.T) {
	s := feedServer(t, "since=0", []string{ev(1)}, true)
	ctx, cancel := context.WithCancel(context.Background())
	events, errs := s.Watch(ctx, "coop-a", 0, false)
	if e := <-events; e.Seq != 1 {
		t.Fatalf("first event %+v", e)
	}
	cancel()
	_, err := collect(t, events, errs)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestWatchRefused(t *testing.T) {
	s := feedServer(t, "since=0", nil, false)
	s.mu.Lock()
	s.token = "stale"
	s.mu.Unlock()
	_, err := watchAll(t, s, context.Background(), "coop-a", 0, false)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthenticated" {
		t.Errorf("err = %v, want 401 unauthenticated APIError", err)
	}
}
