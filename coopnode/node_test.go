package coopnode

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startNode opens and serves a node (no hub) on a free port, as `icn coop`
// does, with gw's gateway settings; it stops when the test ends.
func startNode(t *testing.T, gw GatewayConfig) (n *Node, admin *identity.Key) {
	t.Helper()
	admin = newKey(t)
	gw.Listen = "127.0.0.1:0"
	cfg := Config{CoopID: "riverside", DataDir: t.TempDir(), Admin: string(admin.DID()), Gateway: gw}
	n, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Listen(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return n, admin
}

// TestGatewayBoundsSlowAndLargeBodies runs the gateway's server as the node
// starts it: a login request whose body stalls (7 of 512 bytes, under the
// isolated class's 1 KiB cap of the login routes) loses its
// connection within the read timeout, and one declaring a body beyond
// max_body_bytes gets 413 body_too_large at once, before any of it is sent.
func TestGatewayBoundsSlowAndLargeBodies(t *testing.T) {
	t.Parallel()
	const head = "POST /auth/challenge HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
	const wait = 5 * time.Second // far above the stall cases' read timeout, far below the default one
	for _, tc := range []struct {
		name       string
		gw         GatewayConfig
		req        string
		closes     bool // the server must close the connection within wait; otherwise answer within it
		wantStatus int
		wantCode   string
	}{
		{"stalled body", GatewayConfig{ReadTimeout: Duration(300 * time.Millisecond)},
			head + "Content-Length: 512\r\n\r\n{\"did\":", true, http.StatusRequestTimeout, "request_timeout"},
		{"declared 10 GiB", GatewayConfig{},
			head + "Content-Length: 10737418240\r\n\r\n", false, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"declared one byte over max_body_bytes", GatewayConfig{MaxBodyBytes: 1000},
			head + "Content-Length: 1001\r\n\r\n", false, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"declared one byte over the default cap", GatewayConfig{},
			head + "Content-Length: 16385\r\n\r\n", false, http.StatusRequestEntityTooLarge, "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, _ := startNode(t, tc.gw)
			addr := n.ln.Addr().String()
			var status int
			var body []byte
			if tc.closes {
				answer, closed := testutil.RawHTTP(t, addr, tc.req, wait)
				if !closed {
					t.Fatalf("the connection is still open after %v (answer so far: %q)", wait, answer)
				}
				status, body = parseAnswer(t, answer)
			} else {
				resp, b := testutil.RawResponse(t, addr, tc.req, wait)
				status, body = resp.StatusCode, b
			}
			var eb struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(body, &eb)
			if status != tc.wantStatus || eb.Error.Code != tc.wantCode {
				t.Fatalf("%d %s, want %d %s (body %q)", status, eb.Error.Code, tc.wantStatus, tc.wantCode, body)
			}
		})
	}
}

// parseAnswer reads the HTTP response at the start of answer.
func parseAnswer(t *testing.T, answer []byte) (int, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
	if err != nil {
		t.Fatalf("answer %q: %v", answer, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestGatewayWebSocketOutlivesDeadlines: an event stream stays open, and
// delivers, long after the gateway's read and write timeouts have passed;
// they bound requests, not streams.
func TestGatewayWebSocketOutlivesDeadlines(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	n, admin := startNode(t, GatewayConfig{ReadTimeout: Duration(timeout), WriteTimeout: Duration(timeout)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := client.New(n.URL())
	adminS, err := cl.Login(ctx, admin, "riverside")
	if err != nil {
		t.Fatal(err)
	}
	events, errs := adminS.Watch(ctx, "riverside", 0, true)
	next := func(what string, within time.Duration) {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: the stream ended: %v", what, <-errs)
			}
			if ev.Type != "MemberJoined" {
				t.Fatalf("%s: got a %s event", what, ev.Type)
			}
		case <-time.After(within):
			t.Fatalf("%s: no event within %v", what, within)
		}
	}
	next("the admin's bootstrap", 5*time.Second)
	// Nothing happens for three times both timeouts: the stream must stay.
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("the stream ended within 3× the gateway's timeouts: %v", <-errs)
		}
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(3 * timeout):
	}
	k := newKey(t)
	code, err := adminS.CreateInvite(ctx, "riverside")
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.Login(ctx, k, "riverside")
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.Apply(ctx, "riverside", k, client.Application{InviteCode: code, Name: "m", Email: "m@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminS.Approve(ctx, "riverside", app.ID); err != nil {
		t.Fatal(err)
	}
	next("the new member, after the timeouts", 5*time.Second)
}
