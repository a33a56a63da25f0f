package hub

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/money"
)

// deadlineWait bounds every raw exchange: far above the short timeouts the
// stall cases set, far below the defaults the size cases keep.
const deadlineWait = 5 * time.Second

// startBounded runs a one-node cluster (no data plane) with its gRPC and
// HTTP listeners as `icn hub` serves them, tune adjusting the config; it
// returns the gRPC and HTTP addresses.
func startBounded(t *testing.T, tune func(*Config)) (grpcAddr, httpAddr string) {
	t.Helper()
	key, op, fed := newKey(t), newKey(t), newKey(t)
	raftLn, grpcLn, httpLn := listen(t), listen(t), listen(t)
	cfg := Config{DataDir: t.TempDir(), Key: key, RaftListener: raftLn, GRPCAddr: grpcLn.Addr().String(),
		Peers:            []Peer{{DID: key.DID(), RaftAddr: raftLn.Addr().String(), GRPCAddr: grpcLn.Addr().String()}},
		Federation:       FederationConfig{DID: fed.DID(), Name: "bounded", Currencies: []money.Currency{money.Hours}},
		HeartbeatTimeout: 200 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	svc, err := StartService(cfg, []identity.DID{op.DID()}, grpcLn, httpLn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return grpcLn.Addr().String(), httpLn.Addr().String()
}

// TestHTTPBoundsSlowAndLargeBodies: on the hub's HTTP listener (metrics,
// health, treasurer pages) a request whose body stalls loses its
// connection within the read timeout, and one declaring a huge body gets
// 413 body_too_large at once, before any of it is sent.
func TestHTTPBoundsSlowAndLargeBodies(t *testing.T) {
	t.Parallel()
	stall := func(c *Config) { c.HTTP.ReadTimeout = 300 * time.Millisecond }
	for _, tc := range []struct {
		name       string
		tune       func(*Config)
		req        string
		closes     bool // the server must close the connection within the wait; otherwise answer within it
		wantStatus int
		wantCode   string
	}{
		{"stalled body on /healthz", stall,
			"GET /healthz HTTP/1.1\r\nHost: hub\r\nContent-Length: 4096\r\n\r\n{\"did\":", true, http.StatusOK, ""},
		{"stalled POST on /metrics", stall,
			"POST /metrics HTTP/1.1\r\nHost: hub\r\nContent-Length: 4096\r\n\r\n{\"did\":", true,
			http.StatusMethodNotAllowed, ""},
		{"declared 10 GiB on /healthz", nil,
			"GET /healthz HTTP/1.1\r\nHost: hub\r\nContent-Length: 10737418240\r\n\r\n", false,
			http.StatusRequestEntityTooLarge, "body_too_large"},
		{"declared over the cap on /metrics", nil,
			"POST /metrics HTTP/1.1\r\nHost: hub\r\nContent-Length: 16385\r\n\r\n", false,
			http.StatusRequestEntityTooLarge, "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := startBounded(t, tc.tune)
			var status int
			var body []byte
			if tc.closes {
				answer, closed := testutil.RawHTTP(t, addr, tc.req, deadlineWait)
				if !closed {
					t.Fatalf("the connection is still open after %v (answer so far: %q)", deadlineWait, answer)
				}
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
				if err != nil {
					t.Fatalf("answer %q: %v", answer, err)
				}
				defer resp.Body.Close()
				status = resp.StatusCode
				body, _ = io.ReadAll(resp.Body)
			} else {
				resp, b := testutil.RawResponse(t, addr, tc.req, deadlineWait)
				status, body = resp.StatusCode, b
			}
			var eb struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(body, &eb)
			if status != tc.wantStatus || eb.Error.Code != tc.wantCode {
				t.Fatalf("%d %q, want %d %q (body %q)", status, eb.Error.Code, tc.wantStatus, tc.wantCode, body)
			}
		})
	}
}

// TestGRPCDropsStalledHandshakes: a control-plane client that connects and
// never starts TLS, or finishes TLS and never sends the HTTP/2 preface, is
// dropped once Config.GRPCConnTimeout passes (gRPC's default would hold it
// for two minutes).
func TestGRPCDropsStalledHandshakes(t *testing.T) {
	t.Parallel()
	grpcAddr, _ := startBounded(t, func(c *Config) { c.GRPCConnTimeout = 300 * time.Millisecond })
	clientTLS, err := identity.TLSConfig(newKey(t), func(identity.DID) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	clientTLS.NextProtos = []string{"h2"} // as a gRPC client offers, so the server accepts the handshake
	for _, tc := range []struct {
		name  string
		start func(net.Conn) (net.Conn, error)
	}{
		{"no ClientHello", func(c net.Conn) (net.Conn, error) { return c, nil }},
		{"TLS, then no HTTP/2 preface", func(c net.Conn) (net.Conn, error) {
			tc := tls.Client(c, clientTLS)
			return tc, tc.Handshake()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, err := net.DialTimeout("tcp", grpcAddr, deadlineWait)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if err := raw.SetDeadline(time.Now().Add(deadlineWait)); err != nil {
				t.Fatal(err)
			}
			c, err := tc.start(raw)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			_, err = io.ReadAll(c) // the server's settings, if any, then the close
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the connection is still open after %v", deadlineWait)
			}
		})
	}
}

// TestHTTPFileTimeouts: a negative [http] timeout is refused by its key.
func TestHTTPFileTimeouts(t *testing.T) {
	t.Parallel()
	did := func() string { return string(newKey(t).DID()) }
	body := "data_dir = \"/x\"\noperators = [\"" + did() + "\"]\n[federation]\ndid = \"" + did() + "\"\n" +
		"[http]\nlisten = \"127.0.0.1:0\"\nwrite_timeout = \"-1s\"\n"
	p := filepath.Join(t.TempDir(), "hub.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "http.write_timeout") {
		t.Fatalf("a negative write_timeout: %v, want an error naming http.write_timeout", err)
	}
}
