package routing_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

func TestHandshakeBothSidesLearnDIDs(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	srv := startServer(t, "127.0.0.1:0", hub, identity.Pin(coop.DID()), hubOpts(), echo)
	ctx := ctxTimeout(t, 10*time.Second)

	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.PeerDID() != hub.DID() || c.PeerRole() != icnv1.NodeRole_NODE_ROLE_HUB {
		t.Fatalf("client sees %s (%v), want %s (hub)", c.PeerDID(), c.PeerRole(), hub.DID())
	}
	sc := <-srv.conns
	if sc.PeerDID() != coop.DID() || sc.PeerRole() != icnv1.NodeRole_NODE_ROLE_COOP {
		t.Fatalf("server sees %s (%v), want %s (coop)", sc.PeerDID(), sc.PeerRole(), coop.DID())
	}
	if err := callPing(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	if c.Err() != nil {
		t.Fatalf("open connection has Err %v", c.Err())
	}
}

func TestDialRefusesWrongServerDID(t *testing.T) {
	t.Parallel()
	hub, coop, other := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), echo)
	ctx := ctxTimeout(t, 10*time.Second)

	_, err := routing.Dial(ctx, srv.addr(), coop, other.DID(), coopOpts())
	if !errors.Is(err, identity.ErrPeer) {
		t.Fatalf("dial a server with the wrong key: %v, want identity.ErrPeer", err)
	}
	if errors.Is(err, routing.ErrRefused) {
		t.Fatalf("our own refusal reported as the peer's: %v", err)
	}
	// A dialer must pin something.
	if _, err := routing.Dial(ctx, srv.addr(), coop, "", coopOpts()); err == nil {
		t.Fatal("dial without an expected DID succeeded")
	}
}

func TestUnregisteredClientRefusedAtHandshake(t *testing.T) {
	t.Parallel()
	hub, registered, stranger := testKey(t, 1), testKey(t, 2), testKey(t, 4)
	var mu sync.Mutex
	var asked []identity.DID
	accept := func(d identity.DID) bool {
		mu.Lock()
		asked = append(asked, d)
		mu.Unlock()
		return d == registered.DID()
	}
	srv := startServer(t, "127.0.0.1:0", hub, accept, hubOpts(), echo)
	ctx := ctxTimeout(t, 10*time.Second)

	_, err := routing.Dial(ctx, srv.addr(), stranger, hub.DID(), coopOpts())
	if !errors.Is(err, routing.ErrRefused) {
		t.Fatalf("unregistered node: %v, want ErrRefused", err)
	}
	if te, ok := errors.AsType[*quic.TransportError](err); !ok || !te.Remote || !te.ErrorCode.IsCryptoError() {
		t.Fatalf("refusal is not the server's TLS alert: %v", err)
	}
	mu.Lock()
	if len(asked) != 1 || asked[0] != stranger.DID() {
		t.Fatalf("accept was asked about %v, want once about the stranger", asked)
	}
	mu.Unlock()

	// The refused connection never reached Accept: the first connection
	// the server hands out is the registered node's.
	c, err := routing.Dial(ctx, srv.addr(), registered, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc := <-srv.conns; sc.PeerDID() != registered.DID() {
		t.Fatalf("server accepted %s", sc.PeerDID())
	}
}

// rawDial makes a QUIC connection with the data plane's TLS but none of
// its Hello, to speak the protocol wrongly on purpose.
func rawDial(t *testing.T, ctx context.Context, addr string, key *identity.Key, alpn string) (*quic.Conn, error) {
	t.Helper()
	tc, err := identity.TLSConfig(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc.NextProtos = []string{alpn}
	return quic.DialAddr(ctx, addr, tc, &quic.Config{})
}

func TestHelloChecked(t *testing.T) {
	t.Parallel()
	hub, coop, other := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	opts := hubOpts()
	opts.HandshakeTimeout = 500 * time.Millisecond
	srv := startServer(t, "127.0.0.1:0", hub, nil, opts, echo)
	ctx := ctxTimeout(t, 10*time.Second)

	hello := func(did identity.DID, version uint32) *icnv1.Envelope {
		return &icnv1.Envelope{Body: &icnv1.Envelope_Hello{Hello: &icnv1.Hello{NodeDid: string(did), ProtocolVersion: version}}}
	}
	const codeProtocol, codeVersion = 1, 2
	for _, tc := range []struct {
		name     string
		first    *icnv1.Envelope
		wantCode quic.ApplicationErrorCode
	}{
		{"hello naming another DID", hello(other.DID(), routing.ProtocolVersion), codeProtocol},
		{"other protocol version", hello(coop.DID(), routing.ProtocolVersion+1), codeVersion},
		{"no hello first", ping(1), codeProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qc, err := rawDial(t, ctx, srv.addr(), coop, routing.ALPN)
			if err != nil {
				t.Fatal(err)
			}
			defer qc.CloseWithError(0, "")
			s, err := qc.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := routing.WriteMsg(s, tc.first); err != nil {
				t.Fatal(err)
			}
			var resp icnv1.Envelope
			if err := routing.ReadMsg(s, &resp); err == nil {
				t.Fatalf("server answered a bad hello with %v", &resp)
			}
			select {
			case <-qc.Context().Done():
			case <-ctx.Done():
				t.Fatal("server kept the connection after a bad hello")
			}
			ae, ok := errors.AsType[*quic.ApplicationError](context.Cause(qc.Context()))
			if !ok || !ae.Remote || ae.ErrorCode != tc.wantCode {
				t.Fatalf("closed with %v, want the server's application error %d", context.Cause(qc.Context()), tc.wantCode)
			}
		})
	}
	t.Run("silent client", func(t *testing.T) {
		qc, err := rawDial(t, ctx, srv.addr(), coop, routing.ALPN)
		if err != nil {
			t.Fatal(err)
		}
		defer qc.CloseWithError(0, "")
		select {
		case <-qc.Context().Done(): // closed after HandshakeTimeout without a Hello
		case <-ctx.Done():
			t.Fatal("server kept a connection that never said hello")
		}
	})
	t.Run("wrong ALPN", func(t *testing.T) {
		if _, err := rawDial(t, ctx, srv.addr(), coop, "h3"); err == nil {
			t.Fatal("handshake with another application protocol succeeded")
		}
	})
	// The server still works for a well-behaved client.
	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := callPing(ctx, c, 9); err != nil {
		t.Fatal(err)
	}
}

// TestSlowStreamDoesNotBlockOthers: one stream held by its handler does not
// delay the many others on the same connection.
func TestSlowStreamDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	release := make(chan struct{})
	held := make(chan struct{})
	const n = 200              // more than quic-go's default stream limit of 100
	var handled sync.WaitGroup // the server counts a pong after the client may have read it
	handled.Add(n + 1)
	h := func(s *routing.Stream) {
		defer handled.Done()
		var req icnv1.Envelope
		if err := s.Recv(&req); err != nil {
			s.Abort()
			return
		}
		if req.GetPing().GetNonce() == 0 {
			close(held)
			<-release
		}
		_ = s.Send(reply(&req))
	}
	srvCounters, cliCounters := routing.NewMessageCounter(), routing.NewMessageCounter()
	so := hubOpts()
	so.Counters = srvCounters
	srv := startServer(t, "127.0.0.1:0", hub, identity.Pin(coop.DID()), so, h)
	ctx := ctxTimeout(t, 20*time.Second)
	co := coopOpts()
	co.Counters = cliCounters
	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), co)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	slow := make(chan error, 1)
	go func() { slow <- callPing(ctx, c, 0) }()
	<-held

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Go(func() { errs <- callPing(ctx, c, uint64(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-slow:
		t.Fatalf("the held call returned before its release: %v", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	handled.Wait()

	want := map[string]float64{
		counterKey(cliCounters, "sent", "ping"):      n + 1,
		counterKey(cliCounters, "received", "pong"):  n + 1,
		counterKey(cliCounters, "sent", "hello"):     1,
		counterKey(srvCounters, "received", "ping"):  n + 1,
		counterKey(srvCounters, "sent", "pong"):      n + 1,
		counterKey(srvCounters, "received", "hello"): 1,
	}
	got := map[string]float64{}
	for _, mc := range []*routing.MessageCounter{cliCounters, srvCounters} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(mc)
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() != "icn_routing_messages_total" {
				t.Fatalf("metric %s", f.GetName())
			}
			for _, m := range f.GetMetric() {
				var dir, typ string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "direction":
						dir = l.GetValue()
					case "type":
						typ = l.GetValue()
					}
				}
				got[counterKey(mc, dir, typ)] = m.GetCounter().GetValue()
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func counterKey(mc *routing.MessageCounter, dir, typ string) string {
	return fmt.Sprintf("%p/%s/%s", mc, dir, typ)
}

// TestHopStream: a multi-message exchange on one stream, opened by the
// server towards the node that dialed it (a hub delivering a transfer to
// a co-op node that has no public address).
func TestHopStream(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), nil)
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The co-op node serves what the hub sends: prepare → accept, then
	// reads the outcome and the end of the stream.
	outcomes := make(chan *icnv1.TransferOutcome, 1)
	served := make(chan error, 1)
	go func() {
		served <- c.Serve(ctx, func(s *routing.Stream) {
			var prep icnv1.Envelope
			if err := s.Recv(&prep); err != nil {
				t.Error(err)
				return
			}
			id := prep.GetPrepare().GetTransferId()
			acc := &icnv1.Envelope{Body: &icnv1.Envelope_Accept{Accept: &icnv1.TransferAccept{TransferId: id,
				Receipt: &icnv1.SignedMessage{Payload: []byte(id), Signer: string(coop.DID()), Signature: coop.Sign(identity.Tag("icn/v1/test"), []byte(id))}}}}
			if err := s.Send(acc); err != nil {
				t.Error(err)
				return
			}
			var out icnv1.Envelope
			if err := s.Recv(&out); err != nil {
				t.Error(err)
				return
			}
			var end icnv1.Envelope
			if err := s.Recv(&end); err != io.EOF {
				t.Errorf("after the outcome: %v, want io.EOF", err)
			}
			outcomes <- out.GetOutcome()
		})
	}()

	sc := <-srv.conns
	s, err := sc.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(prepareEnvelope("T-1", 1)); err != nil {
		t.Fatal(err)
	}
	var acc icnv1.Envelope
	if err := s.Recv(&acc); err != nil {
		t.Fatal(err)
	}
	if acc.GetAccept().GetTransferId() != "T-1" || acc.GetAccept().GetReceipt().GetSigner() != string(coop.DID()) {
		t.Fatalf("accept %v", &acc)
	}
	out := &icnv1.TransferOutcome{TransferId: "T-1", State: icnv1.TransferState_TRANSFER_STATE_COMMITTED}
	if err := s.Send(&icnv1.Envelope{Body: &icnv1.Envelope_Outcome{Outcome: out}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if got := <-outcomes; !proto.Equal(got, out) {
		t.Fatalf("co-op got outcome %v", got)
	}
	_ = s.Close()
	_ = c.Close()
	if err := <-served; err == nil {
		t.Fatal("Serve on a closed connection returned nil")
	}
}

func TestFramingErrorsOnStreams(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	recvErr := make(chan error, 4)
	h := func(s *routing.Stream) {
		var req icnv1.Envelope
		if err := s.Recv(&req); err != nil {
			recvErr <- err
			s.Abort()
			return
		}
		_ = s.Send(reply(&req))
	}
	so := hubOpts()
	so.MaxFrameSize = 1024
	srv := startServer(t, "127.0.0.1:0", hub, nil, so, h)
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts()) // default 1 MiB limit
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	big := &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Message: strings.Repeat("x", 4096)}}}
	var resp icnv1.Envelope
	if err := c.Call(ctx, big, &resp); err == nil {
		t.Fatalf("a frame over the server's limit got the reply %v", &resp)
	}
	if err := <-recvErr; !errors.Is(err, routing.ErrFrameTooLarge) {
		t.Fatalf("server read %v, want ErrFrameTooLarge", err)
	}

	// A message over our own limit is never sent.
	small := coopOpts()
	small.MaxFrameSize = 64
	c2, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), small)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Call(ctx, prepareEnvelope("T-big", 0), &resp); !errors.Is(err, routing.ErrFrameTooLarge) {
		t.Fatalf("call over our own limit: %v, want ErrFrameTooLarge", err)
	}
	// The server sees that stream reset, with nothing on it.
	if _, ok := errors.AsType[*quic.StreamError](<-recvErr); !ok {
		t.Fatal("the aborted call's stream was not reset")
	}

	// A stream cut in the middle of a frame.
	s, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&icnv1.Envelope{}); err != nil { // empty: 4 zero bytes, a valid frame
		t.Fatal(err)
	}
	var got icnv1.Envelope
	if err := s.Recv(&got); err != nil { // the server answers "unsupported"
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte{0, 0, 0, 50, 1, 2, 3}
	if _, err := rawStreamWrite(s, raw); err != nil {
		t.Fatal(err)
	}
	if err := <-recvErr; !errors.Is(err, routing.ErrTruncated) {
		t.Fatalf("server read %v, want ErrTruncated", err)
	}
	_ = s.Close()

	// The connection survives all of it.
	if err := callPing(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
}

// rawStreamWrite writes bytes that are not a whole frame, then ends the
// stream.
func rawStreamWrite(s *routing.Stream, b []byte) (int, error) {
	return len(b), routing.WriteRaw(s, b)
}

func TestCallHonoursContext(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	block := make(chan struct{})
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), func(s *routing.Stream) {
		var req icnv1.Envelope
		_ = s.Recv(&req)
		<-block
	})
	t.Cleanup(func() { close(block) }) // before the server stops: cleanups run last first
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	var resp icnv1.Envelope
	if err := c.Call(short, ping(1), &resp); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v", err)
	}
	cctx, cancel2 := context.WithCancel(ctx)
	go func() {
		<-time.After(50 * time.Millisecond)
		cancel2()
	}()
	if err := c.Call(cctx, ping(2), &resp); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
}

func TestIdleTimeoutAndKeepAlive(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), echo)
	ctx := ctxTimeout(t, 20*time.Second)

	t.Run("idle connection times out", func(t *testing.T) {
		t.Parallel()
		o := coopOpts()
		o.KeepAlivePeriod = -1
		o.IdleTimeout = 300 * time.Millisecond
		c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("idle connection never timed out")
		}
		if _, ok := errors.AsType[*quic.IdleTimeoutError](c.Err()); !ok {
			t.Fatalf("ended with %v, want an idle timeout", c.Err())
		}
		if took := time.Since(start); took < 250*time.Millisecond {
			t.Fatalf("timed out after %v, before the idle timeout", took)
		}
	})
	t.Run("keepalive holds an idle connection", func(t *testing.T) {
		t.Parallel()
		o := coopOpts()
		o.KeepAlivePeriod = 50 * time.Millisecond
		o.IdleTimeout = 300 * time.Millisecond
		c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case <-c.Done():
			t.Fatalf("connection with keepalives ended: %v", c.Err())
		case <-time.After(1500 * time.Millisecond): // five idle timeouts
		}
		if err := callPing(ctx, c, 5); err != nil {
			t.Fatal(err)
		}
	})
}

func TestListenerCloseTellsPeers(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), echo)
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := callPing(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client not told of the listener's close")
	}
	if !errors.Is(c.Err(), routing.ErrRefused) {
		t.Fatalf("ended with %v, want ErrRefused (shutdown)", c.Err())
	}
	if _, err := srv.Accept(ctx); !errors.Is(err, routing.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	// The port is free again.
	again := startServer(t, srv.addr(), hub, nil, hubOpts(), echo)
	c2, err := routing.Dial(ctx, again.addr(), coop, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := callPing(ctx, c2, 2); err != nil {
		t.Fatal(err)
	}
}

// TestCloseReleasesEverything: no goroutine outlives a closed Listener,
// Conn or Peer. Not parallel: it counts the process's goroutines.
func TestCloseReleasesEverything(t *testing.T) {
	hub, coop := testKey(t, 1), testKey(t, 2)
	before := runtime.NumGoroutine()
	func() {
		srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), echo)
		ctx := ctxTimeout(t, 10*time.Second)
		c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
		if err != nil {
			t.Fatal(err)
		}
		var handled atomic.Int32
		p, err := routing.NewPeer(routing.PeerConfig{
			Addrs: []string{srv.addr()}, Key: coop, Accept: identity.Pin(hub.DID()), Options: coopOpts(),
			Handle:    func(*routing.Stream) { handled.Add(1) },
			OnConnect: func(ctx context.Context, c *routing.Conn) { <-ctx.Done() },
		})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := p.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				if err := callPing(ctx, c, uint64(i)); err != nil {
					t.Error(err)
				}
				if err := callPing(ctx, pc, uint64(i)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// A stream left open by the client.
		if _, err := c.OpenStream(ctx); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		_ = p.Close()
		srv.stop()
		if _, err := p.Conn(ctx); !errors.Is(err, routing.ErrClosed) {
			t.Fatalf("Conn after Close: %v", err)
		}
	}()
	waitGoroutines(t, before, 5*time.Second)
}

// TestMaxRecvFrame: a limit set on an accepted connection once its peer is
// known refuses the peer's larger frames before their bodies are read, on
// every stream, and the responder's answer to such a frame reaches the
// caller's Call even when the caller was still sending it; lifting the
// limit restores the transport's.
func TestMaxRecvFrame(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	refused := make(chan error, 8)
	h := func(s *routing.Stream) {
		var req icnv1.Envelope
		if err := s.Recv(&req); err != nil {
			if errors.Is(err, routing.ErrFrameTooLarge) {
				refused <- err
				_ = s.Send(&icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: "too_large"}}})
				return
			}
			s.Abort()
			return
		}
		_ = s.Send(reply(&req))
	}
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), h)
	ctx := ctxTimeout(t, 20*time.Second)
	c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var accepted *routing.Conn
	select {
	case accepted = <-srv.conns:
	case <-ctx.Done():
		t.Fatal("no accepted connection")
	}
	accepted.SetMaxRecvFrame(2048)

	query := func(n int) *icnv1.Envelope { // an outcome query of n 1-KiB ids
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%04d", i) + strings.Repeat("x", 1020)
		}
		return &icnv1.Envelope{Body: &icnv1.Envelope_OutcomeQuery{OutcomeQuery: &icnv1.OutcomeQuery{TransferIds: ids}}}
	}
	if err := callPing(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3, 300} { // 3 KiB; 300 KiB, still being sent when the server refuses it
		var resp icnv1.Envelope
		if err := c.Call(ctx, query(n), &resp); err != nil {
			t.Fatalf("%d KiB: %v, want the server's refusal", n, err)
		}
		if resp.GetError().GetCode() != "too_large" {
			t.Fatalf("%d KiB: got %v, want the too_large refusal", n, &resp)
		}
		if err := <-refused; !strings.Contains(err.Error(), "limit 2048") {
			t.Errorf("%d KiB: server read %v", n, err)
		}
	}
	var resp icnv1.Envelope
	if err := c.Call(ctx, query(1), &resp); err != nil || len(resp.GetOutcomes().GetOutcomes()) != 1 {
		t.Fatalf("1 KiB under the limit: %v %v", &resp, err)
	}
	accepted.SetMaxRecvFrame(0)
	if err := c.Call(ctx, query(300), &resp); err != nil || len(resp.GetOutcomes().GetOutcomes()) != 300 {
		t.Fatalf("300 KiB after the limit was lifted: %v", err)
	}
}
