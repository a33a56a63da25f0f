package httpserve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/internal/testutil"
)

// serve runs New(h, l) on a free port until the test ends and returns its address.
func serve(t testing.TB, h http.Handler, l Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(h, l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// readsBody answers 200 after reading the whole body, 413 if it passes the
// cap, as the gateway's decode does; ignoresBody answers without reading it,
// as the hub's GET pages do.
var (
	readsBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", err.Error())
				return
			}
			WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		w.Write([]byte("read\n"))
	})
	ignoresBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
)

// wait bounds every raw exchange: far above the short read timeout the
// stall cases use, far below the default one the size cases keep.
const wait = 5 * time.Second

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var eb struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return eb.Error.Code
}

// TestServerBoundsSlowAndLargeBodies: a request that stalls ends its
// connection within the read timeout, whether or not the handler reads the
// body; a declared Content-Length over the cap gets 413 body_too_large at
// once (long before the default 30 s read timeout), with none of the body
// sent; a chunked body is cut at the cap.
func TestServerBoundsSlowAndLargeBodies(t *testing.T) {
	t.Parallel()
	const head = "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
	const stall = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		h      http.Handler
		limits Limits
		req    string
		// closes: the server must close the connection within wait (what
		// it answers first, if wantStatus is set); otherwise it must answer
		// within wait.
		closes     bool
		wantStatus int
		wantCode   string // of an error answer
	}{
		{"stalled body, handler reads it", readsBody, Limits{ReadTimeout: stall},
			head + "Content-Length: 4096\r\n\r\n{\"did\":", true, http.StatusBadRequest, "invalid_request"},
		{"stalled body, handler ignores it", ignoresBody, Limits{ReadTimeout: stall},
			head + "Content-Length: 4096\r\n\r\n{\"did\":", true, http.StatusOK, ""},
		{"stalled headers", ignoresBody, Limits{ReadTimeout: stall},
			"POST / HTTP/1.1\r\nHost: t\r\n", true, 0, ""},
		{"declared 10 GiB", readsBody, Limits{},
			head + "Content-Length: 10737418240\r\n\r\n", true, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"declared 10 GiB, handler ignores bodies", ignoresBody, Limits{},
			head + "Content-Length: 10737418240\r\n\r\n", true, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"declared one byte over the cap", readsBody, Limits{MaxBody: 100},
			head + "Content-Length: 101\r\n\r\n", false, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"declared over the cap, expecting 100-continue", readsBody, Limits{MaxBody: 100},
			head + "Expect: 100-continue\r\nContent-Length: 101\r\n\r\n", false, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"chunked past the cap", readsBody, Limits{MaxBody: 100},
			head + "Transfer-Encoding: chunked\r\n\r\n" + "c8\r\n" + strings.Repeat("x", 200) + "\r\n0\r\n\r\n",
			false, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"declared at the cap", readsBody, Limits{MaxBody: 100},
			head + "Content-Length: 100\r\n\r\n" + strings.Repeat("x", 100), false, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := serve(t, tc.h, tc.limits)
			var resp *http.Response
			var body []byte
			if tc.closes {
				answer, closed := testutil.RawHTTP(t, addr, tc.req, wait)
				if !closed {
					t.Fatalf("the connection is still open after %v (answer so far: %q)", wait, answer)
				}
				if tc.wantStatus == 0 {
					return
				}
				var err error
				if resp, err = http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil); err != nil {
					t.Fatalf("answer %q: %v", answer, err)
				}
				defer resp.Body.Close()
				body, _ = io.ReadAll(resp.Body)
			} else {
				resp, body = testutil.RawResponse(t, addr, tc.req, wait)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantCode != "" {
				if got := errorCode(t, body); got != tc.wantCode {
					t.Fatalf("error code %q, want %q (body %q)", got, tc.wantCode, body)
				}
			}
		})
	}
}

// TestHijackedConnOutlivesDeadlines: a connection a handler hijacks (as the
// WebSocket upgrade does) is bound by neither the read nor the write
// timeout, which keep bounding ordinary requests.
func TestHijackedConnOutlivesDeadlines(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer c.Close()
		rw.WriteString("hello\n")
		rw.Flush()
		line, err := rw.ReadString('\n') // arrives after both timeouts have passed
		if err != nil {
			return // the client sees the close
		}
		rw.WriteString(line)
		rw.Flush()
	}), Limits{ReadTimeout: timeout, WriteTimeout: timeout})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(wait))
	if line, err := br.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("greeting: %q %v", line, err)
	}
	// Nothing may come, nor the close, until well after both timeouts:
	// the read must end on this deadline.
	c.SetReadDeadline(time.Now().Add(3 * timeout))
	var ne net.Error
	if _, err := br.ReadByte(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the hijacked connection ended within 3× its server's timeouts: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo after the timeouts: %q %v", line, err)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	d := Limits{}.WithDefaults()
	if d != (Limits{ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout,
		WriteTimeout: DefaultWriteTimeout, IdleTimeout: DefaultIdleTimeout, MaxBody: DefaultMaxBody}) {
		t.Fatalf("defaults: %+v", d)
	}
	if got := (Limits{ReadTimeout: time.Second}).WithDefaults().ReadHeaderTimeout; got != time.Second {
		t.Fatalf("a read timeout below the header timeout's default bounds the headers too: got %v", got)
	}
	for _, tc := range []struct {
		l    Limits
		want string
	}{
		{Limits{}, ""},
		{Limits{ReadTimeout: -time.Second}, "gateway.read_timeout"},
		{Limits{WriteTimeout: -time.Second}, "gateway.write_timeout"},
		{Limits{IdleTimeout: -time.Second}, "gateway.idle_timeout"},
	} {
		err := tc.l.Check("gateway")
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want an error naming %q", tc.l, err, tc.want)
		}
	}
}
