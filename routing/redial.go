package routing

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/icn-coop/icn/identity"
)

// PeerConfig configures a Peer.
type PeerConfig struct {
	// Addrs are the UDP addresses to try in turn (a hub cluster's nodes);
	// the first is the first target. Follow adds others.
	Addrs []string
	// Key is this node's key.
	Key *identity.Key
	// Accept approves the DID of the node at whichever address (the DIDs of
	// the hub cluster's nodes, from configuration).
	Accept func(identity.DID) bool
	// Options apply to every connection.
	Options Options
	// MinBackoff and MaxBackoff bound the wait after a failed attempt: it
	// doubles from MinBackoff up to MaxBackoff, half of it random
	// (defaults 100 ms and 10 s). After a connection drops, the first
	// attempt is immediate.
	MinBackoff, MaxBackoff time.Duration
	// Handle, if set, serves every stream the connected node opens (a hub
	// delivering a transfer), each on its own goroutine; the stream is
	// closed when Handle returns.
	Handle func(*Stream)
	// OnConnect, if set, runs on its own goroutine for every new
	// connection, with a context that ends when that connection is dropped
	// (to ask for the outcomes of open transfers after a reconnect, say).
	OnConnect func(ctx context.Context, c *Conn)
	// OnEvent, if set, is told of every change of the connection, in order,
	// on the Peer's own goroutine (so it must not block or call Close): each
	// connection made and dropped, and each failed attempt with the wait
	// before the next. It is where a caller logs and exports the link's
	// state; the Peer itself logs nothing.
	OnEvent func(PeerEvent)
}

// PeerEventKind says what a PeerEvent reports.
type PeerEventKind int

// Kinds of PeerEvent.
const (
	// PeerConnected: a connection to Addr (the node DID) is up.
	PeerConnected PeerEventKind = iota + 1
	// PeerDisconnected: the connection to Addr ended, with Err (nil when
	// Follow moved the Peer elsewhere). The next attempt is immediate.
	PeerDisconnected
	// PeerDialFailed: an attempt to connect to Addr failed with Err (test
	// ErrRefused: the node refused this one's key); it is the Attempt-th
	// failure in a row, and the Peer waits Backoff before the next.
	PeerDialFailed
)

// PeerEvent is one change of a Peer's connection (PeerConfig.OnEvent).
type PeerEvent struct {
	Kind    PeerEventKind
	Addr    string
	DID     identity.DID // PeerConnected, PeerDisconnected: the connected node
	Err     error
	Attempt int           // PeerDialFailed
	Backoff time.Duration // PeerDialFailed
}

// Peer keeps one connection to one of several addresses: it reconnects
// with bounded exponential backoff and jitter, and moves to another address
// when asked (Follow) or when one fails. Co-op nodes use it for their hub
// cluster: they need no public address, since the hub opens streams back
// over the connection the co-op node made.
type Peer struct {
	cfg    PeerConfig
	tc     *tls.Config
	ctx    context.Context
	cancel context.CancelFunc
	follow chan struct{} // a Follow happened (buffered, 1)
	wg     sync.WaitGroup

	mu         sync.Mutex
	addrs      []string
	cur        int           // index in addrs of the target
	conn       *Conn         // the live connection, or nil
	changed    chan struct{} // closed and replaced when conn changes or on Close
	dialing    string        // address being dialed, if any
	dialCancel context.CancelFunc
	lastErr    error
	closed     bool
}

// NewPeer starts a Peer; it dials its first address at once.
func NewPeer(cfg PeerConfig) (*Peer, error) {
	if cfg.Key == nil || cfg.Accept == nil {
		return nil, errors.New("routing: peer: no key or no accept function")
	}
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("routing: peer: no address")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	cfg.Options = cfg.Options.withDefaults()
	tc, err := tlsConfig(cfg.Key, cfg.Accept)
	if err != nil {
		return nil, fmt.Errorf("routing: peer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{
		cfg: cfg, tc: tc, ctx: ctx, cancel: cancel,
		follow:  make(chan struct{}, 1),
		addrs:   slices.Clone(cfg.Addrs),
		changed: make(chan struct{}),
	}
	p.wg.Add(1)
	go p.run()
	return p, nil
}

// Conn returns the live connection, waiting for one until ctx ends. A
// connection can still drop right after; callers retry on error.
func (p *Peer) Conn(ctx context.Context) (*Conn, error) {
	for {
		p.mu.Lock()
		c, ch, closed := p.conn, p.changed, p.closed
		p.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if c != nil && c.Err() == nil {
			return c, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			lastErr := p.lastErr
			p.mu.Unlock()
			if lastErr != nil {
				return nil, fmt.Errorf("routing: peer: %w (last dial error: %v)", context.Cause(ctx), lastErr)
			}
			return nil, fmt.Errorf("routing: peer: %w", context.Cause(ctx))
		}
	}
}

// Follow makes addr the target (adding it to the addresses if new): a live
// connection elsewhere is closed and addr is dialed at once, without
// backoff. Following the current target changes nothing.
func (p *Peer) Follow(addr string) {
	p.mu.Lock()
	i := slices.Index(p.addrs, addr)
	if i < 0 {
		p.addrs = append(p.addrs, addr)
		i = len(p.addrs) - 1
	}
	p.cur = i
	if p.dialCancel != nil && p.dialing != addr {
		p.dialCancel()
	}
	p.mu.Unlock()
	select {
	case p.follow <- struct{}{}:
	default:
	}
}

// Target returns the address the Peer is connected or connecting to.
func (p *Peer) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[p.cur]
}

// Close closes the connection and stops reconnecting; it waits for the
// Peer's goroutines, including Handle and OnConnect calls.
func (p *Peer) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

func (p *Peer) target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[p.cur]
}

// setConn publishes c (nil: no connection) and wakes Conn waiters.
func (p *Peer) setConn(c *Conn) {
	p.mu.Lock()
	p.conn = c
	if c != nil {
		p.lastErr = nil
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *Peer) run() {
	defer p.wg.Done()
	failures := 0
	for p.ctx.Err() == nil {
		addr := p.target()
		conn, err := p.dial(addr)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			if p.target() != addr { // Follow moved us during the dial
				failures = 0
				continue
			}
			failures++
			p.mu.Lock()
			p.lastErr = err
			if p.addrs[p.cur] == addr {
				p.cur = (p.cur + 1) % len(p.addrs)
			}
			p.mu.Unlock()
			wait := backoff(p.cfg.MinBackoff, p.cfg.MaxBackoff, failures)
			p.event(PeerEvent{Kind: PeerDialFailed, Addr: addr, Err: err, Attempt: failures, Backoff: wait})
			if !p.sleep(wait) {
				failures = 0
			}
			continue
		}
		failures = 0
		p.serve(addr, conn)
	}
}

func (p *Peer) event(e PeerEvent) {
	if p.cfg.OnEvent != nil {
		p.cfg.OnEvent(e)
	}
}

func (p *Peer) dial(addr string) (*Conn, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	p.mu.Lock()
	p.dialing, p.dialCancel = addr, cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.dialing, p.dialCancel = "", nil
		p.mu.Unlock()
	}()
	return dial(ctx, addr, p.cfg.Key.DID(), p.tc, p.cfg.Options)
}

// serve publishes conn and holds it until it drops, the Peer closes or
// Follow moves the target elsewhere.
func (p *Peer) serve(addr string, conn *Conn) {
	ctx, cancel := context.WithCancel(p.ctx)
	var wg sync.WaitGroup
	if p.cfg.Handle != nil {
		wg.Go(func() { _ = conn.Serve(ctx, p.cfg.Handle) })
	}
	if p.cfg.OnConnect != nil {
		wg.Go(func() { p.cfg.OnConnect(ctx, conn) })
	}
	p.setConn(conn)
	p.event(PeerEvent{Kind: PeerConnected, Addr: addr, DID: conn.PeerDID()})
	for wait := true; wait; {
		select {
		case <-conn.Done():
			wait = false
		case <-p.ctx.Done():
			wait = false
		case <-p.follow:
			wait = p.target() == addr
		}
	}
	p.mu.Lock()
	err := conn.Err()
	if err != nil {
		p.lastErr = err
	}
	p.mu.Unlock()
	p.setConn(nil)
	if p.ctx.Err() == nil {
		p.event(PeerEvent{Kind: PeerDisconnected, Addr: addr, DID: conn.PeerDID(), Err: err})
	}
	cancel()
	_ = conn.Close()
	wg.Wait()
}

// sleep waits d; it returns false early on a Follow or Close.
func (p *Peer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.follow:
		return false
	case <-p.ctx.Done():
		return false
	}
}

// backoff is the wait after the n-th consecutive failure (n >= 1): lo
// doubled n-1 times, at most hi, then "equal jitter" (half fixed, half
// random) so that many co-op nodes do not retry in step.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := hi
	if n-1 < 32 {
		if b := lo << (n - 1); b > 0 && b < hi {
			d = b
		}
	}
	return d/2 + rand.N(d/2+1)
}
