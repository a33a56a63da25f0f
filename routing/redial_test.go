package routing_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

func newPeer(t *testing.T, cfg routing.PeerConfig) *routing.Peer {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	p, err := routing.NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// pingVia makes one round trip over whatever connection the Peer has now.
func pingVia(ctx context.Context, p *routing.Peer, nonce uint64) (identity.DID, error) {
	c, err := p.Conn(ctx)
	if err != nil {
		return "", err
	}
	return c.PeerDID(), callPing(ctx, c, nonce)
}

// freeUDPAddr returns a loopback address nothing listens on (the port was
// free a moment ago).
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	_ = c.Close()
	return addr
}

func TestPeerReconnectsAfterRestart(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	srv := startServer(t, "127.0.0.1:0", hub, identity.Pin(coop.DID()), hubOpts(), echo)
	addr := srv.addr()
	var connects atomic.Int32
	// A crashed server sends nothing; a stateless reset comes only for a
	// packet large enough to hide it in, so the client also needs to notice
	// the silence: keepalives and a short idle timeout.
	o := coopOpts()
	o.KeepAlivePeriod, o.IdleTimeout = 200*time.Millisecond, time.Second
	p := newPeer(t, routing.PeerConfig{
		Addrs: []string{addr}, Key: coop, Accept: identity.Pin(hub.DID()), Options: o,
		OnConnect: func(context.Context, *routing.Conn) { connects.Add(1) },
	})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := pingVia(ctx, p, 1); err != nil {
		t.Fatal(err)
	}
	// Servers started in a subtest must outlive it: register them on the
	// parent test, not on the subtest.
	restart := func() *server { return startServer(t, addr, hub, identity.Pin(coop.DID()), hubOpts(), echo) }
	first, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("graceful restart", func(t *testing.T) {
		srv.stop()
		select {
		case <-first.Done():
		case <-ctx.Done():
			t.Fatal("the peer's connection outlived the server")
		}
		srv = restart()
		eventually(t, 10*time.Second, func() error { _, err := pingVia(ctx, p, 2); return err })
		if n := connects.Load(); n != 2 {
			t.Fatalf("OnConnect ran %d times, want 2", n)
		}
	})
	t.Run("crash and restart", func(t *testing.T) {
		before, err := p.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		srv.crash() // no CONNECTION_CLOSE: the peer learns from a stateless reset or the idle timeout
		srv = restart()
		eventually(t, 15*time.Second, func() error {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second) // a call on the dead connection waits for its idle timeout
			defer cancel()
			_, err := pingVia(actx, p, 3)
			return err
		})
		after, err := p.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after == before {
			t.Fatal("still on the connection from before the crash")
		}
	})
}

func TestPeerWaitsForServerToAppear(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	addr := freeUDPAddr(t)
	o := coopOpts()
	o.HandshakeTimeout = 300 * time.Millisecond
	p := newPeer(t, routing.PeerConfig{Addrs: []string{addr}, Key: coop, Accept: identity.Pin(hub.DID()), Options: o})

	short := ctxTimeout(t, 500*time.Millisecond)
	if _, err := p.Conn(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Conn with nothing listening: %v", err)
	} else if !strings.Contains(err.Error(), "last dial error") {
		t.Errorf("Conn's error does not say why dialing fails: %v", err)
	}
	startServer(t, addr, hub, nil, hubOpts(), echo)
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := pingVia(ctx, p, 1); err != nil {
		t.Fatal(err)
	}
}

func TestPeerFollow(t *testing.T) {
	t.Parallel()
	hubA, hubB, coop := testKey(t, 1), testKey(t, 3), testKey(t, 2)
	a := startServer(t, "127.0.0.1:0", hubA, nil, hubOpts(), echo)
	b := startServer(t, "127.0.0.1:0", hubB, nil, hubOpts(), echo)
	o := coopOpts()
	o.HandshakeTimeout = time.Second // a dial to b once it is gone fails after this
	p := newPeer(t, routing.PeerConfig{
		Addrs: []string{a.addr()}, Key: coop, Accept: anyOf(hubA.DID(), hubB.DID()), Options: o,
	})
	ctx := ctxTimeout(t, 20*time.Second)
	if did, err := pingVia(ctx, p, 1); err != nil || did != hubA.DID() {
		t.Fatalf("first connection to %s: %v", did, err)
	}
	onA := <-a.conns

	p.Follow(b.addr()) // the leader moved to b
	if p.Target() != b.addr() {
		t.Fatalf("target %s after Follow(%s)", p.Target(), b.addr())
	}
	eventually(t, 10*time.Second, func() error {
		did, err := pingVia(ctx, p, 2)
		if err == nil && did != hubB.DID() {
			return errors.New("still connected to a")
		}
		return err
	})
	select {
	case <-onA.Done(): // the old connection is closed, not left behind
	case <-ctx.Done():
		t.Fatal("the connection to a is still open")
	}
	c, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Follow(b.addr()) // following the current target changes nothing
	if _, err := pingVia(ctx, p, 3); err != nil {
		t.Fatal(err)
	}
	if again, _ := p.Conn(ctx); again != c {
		t.Fatal("Follow of the current target replaced the connection")
	}

	// When the followed node goes away, the peer falls back to the others.
	b.stop()
	eventually(t, 10*time.Second, func() error {
		did, err := pingVia(ctx, p, 4)
		if err == nil && did != hubA.DID() {
			return errors.New("not back on a")
		}
		return err
	})
}

func TestPeerFollowInterruptsDial(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	o := coopOpts()
	o.HandshakeTimeout = 10 * time.Second // a dial to the dead address would hang this long
	p := newPeer(t, routing.PeerConfig{
		Addrs: []string{freeUDPAddr(t)}, Key: coop, Accept: identity.Pin(hub.DID()), Options: o,
		MinBackoff: 5 * time.Second, MaxBackoff: 10 * time.Second,
	})
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), echo)
	p.Follow(srv.addr())
	ctx := ctxTimeout(t, 3*time.Second) // well under the handshake timeout and the backoff
	if _, err := pingVia(ctx, p, 1); err != nil {
		t.Fatal(err)
	}
}

// TestPeerServesIncomingStreams: the hub opens streams over the connection
// the co-op node made.
func TestPeerServesIncomingStreams(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	srv := startServer(t, "127.0.0.1:0", hub, nil, hubOpts(), nil)
	p := newPeer(t, routing.PeerConfig{
		Addrs: []string{srv.addr()}, Key: coop, Accept: identity.Pin(hub.DID()), Options: coopOpts(), Handle: echo,
	})
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := p.Conn(ctx); err != nil {
		t.Fatal(err)
	}
	sc := <-srv.conns
	if sc.PeerRole() != icnv1.NodeRole_NODE_ROLE_COOP {
		t.Fatalf("role %v", sc.PeerRole())
	}
	for i := range 10 {
		if err := callPing(ctx, sc, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBackoffBounded(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, 2*time.Second
	for n := 1; n < 100; n++ {
		ceil := min(hi, lo<<min(n-1, 10))
		for range 20 {
			d := routing.Backoff(lo, hi, n)
			if d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, ceil/2, ceil)
			}
		}
	}
}

func TestNewPeerChecksConfig(t *testing.T) {
	t.Parallel()
	k := testKey(t, 2)
	for _, cfg := range []routing.PeerConfig{
		{Key: k, Accept: anyOf()},
		{Addrs: []string{"127.0.0.1:1"}, Accept: anyOf()},
		{Addrs: []string{"127.0.0.1:1"}, Key: k},
	} {
		if p, err := routing.NewPeer(cfg); err == nil {
			_ = p.Close()
			t.Errorf("NewPeer(%+v) succeeded", cfg)
		}
	}
}

// TestPeerEvents: OnEvent reports, in order, each failed attempt (a
// refusal as ErrRefused, with the attempt count and the backoff), the
// connection once made, and its end.
func TestPeerEvents(t *testing.T) {
	t.Parallel()
	hub, coop := testKey(t, 1), testKey(t, 2)
	// At first the hub does not know the co-op's key.
	refusing := startServer(t, "127.0.0.1:0", hub, anyOf(), hubOpts(), echo)
	addr := refusing.addr()
	events := make(chan routing.PeerEvent, 256)
	p := newPeer(t, routing.PeerConfig{
		Addrs: []string{addr}, Key: coop, Accept: identity.Pin(hub.DID()), Options: coopOpts(),
		OnEvent: func(e routing.PeerEvent) {
			select {
			case events <- e:
			default:
			}
		},
	})
	ctx := ctxTimeout(t, 20*time.Second)
	next := func() routing.PeerEvent {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-ctx.Done():
			t.Fatal("no event")
			return routing.PeerEvent{}
		}
	}
	for n := 1; n <= 2; n++ {
		e := next()
		if e.Kind != routing.PeerDialFailed || e.Attempt != n || e.Addr != addr || !errors.Is(e.Err, routing.ErrRefused) || e.Backoff <= 0 {
			t.Fatalf("event %d: %+v, want dial failure %d refused", n, e, n)
		}
	}
	refusing.stop()
	srv := startServer(t, addr, hub, nil, hubOpts(), echo)
	var e routing.PeerEvent
	for e = next(); e.Kind == routing.PeerDialFailed; e = next() {
	}
	if e.Kind != routing.PeerConnected || e.DID != hub.DID() || e.Addr != addr {
		t.Fatalf("after the dial failures: %+v, want connected to %s", e, hub.DID())
	}
	srv.stop()
	if e = next(); e.Kind != routing.PeerDisconnected || e.Err == nil || e.DID != hub.DID() {
		t.Fatalf("after the server stopped: %+v, want disconnected with an error", e)
	}
	_ = p.Close()
	for {
		select {
		case e := <-events:
			if e.Kind != routing.PeerDialFailed {
				t.Fatalf("after close: %+v", e)
			}
		default:
			return
		}
	}
}
