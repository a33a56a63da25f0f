package routing_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// testKey returns a deterministic node key; different n give different keys.
func testKey(t testing.TB, n byte) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// anyOf accepts exactly the given DIDs.
func anyOf(dids ...identity.DID) func(identity.DID) bool {
	return func(d identity.DID) bool {
		for _, x := range dids {
			if d == x {
				return true
			}
		}
		return false
	}
}

func hubOpts() routing.Options {
	return routing.Options{Role: icnv1.NodeRole_NODE_ROLE_HUB, HandshakeTimeout: 3 * time.Second}
}

func coopOpts() routing.Options {
	return routing.Options{Role: icnv1.NodeRole_NODE_ROLE_COOP, HandshakeTimeout: 3 * time.Second}
}

// server is a Listener whose accepted connections are served by a handler.
type server struct {
	*routing.Listener
	key   *identity.Key
	conns chan *routing.Conn // every accepted connection, if anyone listens
	stop  func()
}

func startServer(t testing.TB, addr string, key *identity.Key, accept func(identity.DID) bool, opts routing.Options, h func(*routing.Stream)) *server {
	t.Helper()
	l, err := routing.Listen(addr, key, accept, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{Listener: l, key: key, conns: make(chan *routing.Conn, 64)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			select {
			case s.conns <- c:
			default:
			}
			if h != nil {
				wg.Go(func() { _ = c.Serve(ctx, h) })
			}
		}
	})
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = l.Close()
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(s.stop)
	return s
}

// crash drops the server without telling its peers.
func (s *server) crash() {
	routing.CrashListener(s.Listener)
	s.stop()
}

func (s *server) addr() string { return s.Addr().String() }

// reply answers the requests of the test protocol.
func reply(req *icnv1.Envelope) *icnv1.Envelope {
	switch b := req.Body.(type) {
	case *icnv1.Envelope_Ping:
		return &icnv1.Envelope{Body: &icnv1.Envelope_Pong{Pong: &icnv1.Pong{Nonce: b.Ping.GetNonce()}}}
	case *icnv1.Envelope_OutcomeQuery:
		out := &icnv1.TransferOutcomes{}
		for _, id := range b.OutcomeQuery.GetTransferIds() {
			out.Outcomes = append(out.Outcomes, &icnv1.TransferOutcome{TransferId: id, State: icnv1.TransferState_TRANSFER_STATE_COMMITTED})
		}
		return &icnv1.Envelope{Body: &icnv1.Envelope_Outcomes{Outcomes: out}}
	}
	return &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: "unsupported", Message: routing.MessageType(req)}}}
}

// echo serves one request/response exchange.
func echo(s *routing.Stream) {
	var req icnv1.Envelope
	if err := s.Recv(&req); err != nil {
		s.Abort()
		return
	}
	_ = s.Send(reply(&req))
}

// callPing makes one Ping/Pong round trip.
func callPing(ctx context.Context, c *routing.Conn, nonce uint64) error {
	var resp icnv1.Envelope
	if err := c.Call(ctx, ping(nonce), &resp); err != nil {
		return err
	}
	if got := resp.GetPong().GetNonce(); resp.GetPong() == nil || got != nonce {
		return fmt.Errorf("ping %d: got %v", nonce, &resp)
	}
	return nil
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctxTimeout is a test context bounded by d.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitGoroutines waits until at most n goroutines run, or fails with their
// stacks.
func waitGoroutines(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, filterStacks(string(buf)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// filterStacks keeps the goroutines that mention quic-go or this package.
func filterStacks(all string) string {
	var keep []string
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "quic-go") || strings.Contains(g, "icn/routing") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}
