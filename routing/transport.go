package routing

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/proto/icnv1"
)

// ALPN is the TLS application protocol of the data plane.
const ALPN = "icn/1"

// ProtocolVersion is the data-plane protocol version sent in Hello. A peer
// with another version is refused with ErrVersion.
const ProtocolVersion uint32 = 1

// serverName is sent in the ClientHello; certificates are pinned by DID, so
// it only has to match what identity.Certificate puts in DNSNames.
const serverName = "icn-node"

// Connection and stream error codes on the wire.
const (
	codeNoError  quic.ApplicationErrorCode = 0
	codeProtocol quic.ApplicationErrorCode = 1 // bad or missing Hello
	codeVersion  quic.ApplicationErrorCode = 2 // unsupported protocol version
	codeShutdown quic.ApplicationErrorCode = 3 // the listener is closing

	streamAborted quic.StreamErrorCode = 1
)

// Errors of the transport; test with errors.Is.
var (
	// ErrRefused: the peer refused this node at the handshake (its accept
	// function rejected our DID) or closed the connection during Hello.
	// A peer that this node refuses is reported as identity.ErrPeer.
	ErrRefused = errors.New("routing: refused by the peer")
	// ErrVersion: the peer speaks another protocol version.
	ErrVersion = errors.New("routing: unsupported protocol version")
	// ErrHello: the peer's Hello is missing or does not match its TLS key.
	ErrHello = errors.New("routing: bad hello")
	// ErrClosed: the Listener, Conn or Peer is closed.
	ErrClosed = errors.New("routing: closed")
)

// Options tune a Listener or a dialed Conn. The zero value is usable.
type Options struct {
	// Role is announced in Hello (coop or hub).
	Role icnv1.NodeRole
	// KeepAlivePeriod: how often to send a keepalive while idle
	// (default 10 s; negative disables). quic-go caps it at half the idle
	// timeout.
	KeepAlivePeriod time.Duration
	// IdleTimeout closes a connection that received nothing for this long
	// (default 30 s). QUIC uses the smaller of both sides' values (a peer's
	// value is never taken below 5 s).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the QUIC handshake plus the Hello exchange
	// (default 5 s).
	HandshakeTimeout time.Duration
	// MaxFrameSize bounds one message on a stream, both ways
	// (default DefaultMaxFrameSize).
	MaxFrameSize int
	// MaxIncomingStreams is how many streams the peer may have open to us
	// at once (default 1000); OpenStream on the peer waits beyond it.
	MaxIncomingStreams int64
	// Counters, if set, is told about every message sent and received.
	Counters Counters
}

func (o Options) withDefaults() Options {
	if o.KeepAlivePeriod == 0 {
		o.KeepAlivePeriod = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	if o.MaxIncomingStreams <= 0 {
		o.MaxIncomingStreams = 1000
	}
	return o
}

func (o Options) quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  o.HandshakeTimeout,
		MaxIdleTimeout:        o.IdleTimeout,
		KeepAlivePeriod:       max(o.KeepAlivePeriod, 0),
		MaxIncomingStreams:    o.MaxIncomingStreams,
		MaxIncomingUniStreams: -1,
	}
}

func tlsConfig(key *identity.Key, accept func(identity.DID) bool) (*tls.Config, error) {
	c, err := identity.TLSConfig(key, accept)
	if err != nil {
		return nil, err
	}
	c.NextProtos = []string{ALPN}
	c.ServerName = serverName
	return c, nil
}

// resetKey derives the QUIC stateless reset key from the node key, so that
// a node restarted on the same address resets its peers' stale connections
// at once instead of leaving them to time out.
func resetKey(key *identity.Key) *quic.StatelessResetKey {
	h := sha256.New()
	h.Write([]byte("icn/v1/quic-stateless-reset\n"))
	h.Write(key.Seed())
	var k quic.StatelessResetKey
	copy(k[:], h.Sum(nil))
	return &k
}

// ---- Listener -------------------------------------------------------------

// Listener accepts data-plane connections from nodes whose DID accept
// approves. A node it refuses fails the TLS handshake and never reaches
// Accept.
type Listener struct {
	self   identity.DID
	opts   Options
	udp    *net.UDPConn
	tr     *quic.Transport
	ln     *quic.Listener
	ready  chan *Conn
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and Hello exchanges

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	once   sync.Once
}

// Listen listens on the UDP address addr ("127.0.0.1:0" picks a port) as
// the node of key. accept decides, during the TLS handshake, which client
// DIDs may connect (nil accepts any DID, still requiring a client
// certificate).
func Listen(addr string, key *identity.Key, accept func(identity.DID) bool, opts Options) (*Listener, error) {
	if key == nil {
		return nil, errors.New("routing: listen: no key")
	}
	if accept == nil {
		accept = func(identity.DID) bool { return true }
	}
	opts = opts.withDefaults()
	tc, err := tlsConfig(key, accept)
	if err != nil {
		return nil, fmt.Errorf("routing: listen: %w", err)
	}
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("routing: listen %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("routing: listen %s: %w", addr, err)
	}
	tr := &quic.Transport{Conn: udp, StatelessResetKey: resetKey(key)}
	ln, err := tr.Listen(tc, opts.quicConfig())
	if err != nil {
		_ = tr.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("routing: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		self: key.DID(), opts: opts, udp: udp, tr: tr, ln: ln,
		ready: make(chan *Conn), ctx: ctx, cancel: cancel,
		conns: make(map[*Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.udp.LocalAddr() }

// Accept returns the next connection whose handshake and Hello succeeded.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Close stops accepting, closes every connection it accepted (the peers are
// told, so they reconnect at once) and releases the socket. It waits for
// the listener's goroutines.
func (l *Listener) Close() error {
	l.shutdown(false)
	return nil
}

// crash drops everything without telling the peers, as a killed process
// would (for tests).
func (l *Listener) crash() { l.shutdown(true) }

func (l *Listener) shutdown(abrupt bool) {
	l.once.Do(func() {
		if abrupt {
			_ = l.tr.Close()
		}
		l.cancel()
		_ = l.ln.Close()
		l.wg.Wait()
		l.mu.Lock()
		l.closed = true
		conns := make([]*Conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() { c.closeWith(codeShutdown, "listener closed") })
		}
		wg.Wait()
		_ = l.tr.Close()
		_ = l.udp.Close()
	})
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		qc, err := l.ln.Accept(l.ctx)
		if err != nil {
			return
		}
		l.wg.Add(1)
		go l.handshake(qc)
	}
}

// handshake runs the server side of Hello on a new connection and hands it
// to Accept.
func (l *Listener) handshake(qc *quic.Conn) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(l.ctx, l.opts.HandshakeTimeout)
	defer cancel()
	c, err := newConn(qc, l.opts, nil)
	if err != nil {
		_ = qc.CloseWithError(codeProtocol, err.Error())
		return
	}
	if err := c.serverHello(ctx, l.self); err != nil {
		code := codeProtocol
		if errors.Is(err, ErrVersion) {
			code = codeVersion
		}
		c.closeWith(code, err.Error())
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.closeWith(codeShutdown, "listener closed")
		return
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	context.AfterFunc(qc.Context(), func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	})
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		c.closeWith(codeShutdown, "listener closed")
	}
}

// ---- Dial -------------------------------------------------------------------

// Dial connects to the node at the UDP address addr, which must present
// the key of expect. The connection has its own socket, released by Close
// or when the connection ends.
func Dial(ctx context.Context, addr string, key *identity.Key, expect identity.DID, opts Options) (*Conn, error) {
	if expect == "" {
		return nil, errors.New("routing: dial: no expected DID")
	}
	return DialAccept(ctx, addr, key, identity.Pin(expect), opts)
}

// DialAccept is Dial for a peer that may be any node accept approves (one
// of a hub cluster's nodes, say).
func DialAccept(ctx context.Context, addr string, key *identity.Key, accept func(identity.DID) bool, opts Options) (*Conn, error) {
	if key == nil || accept == nil {
		return nil, errors.New("routing: dial: no key or no accept function")
	}
	opts = opts.withDefaults()
	tc, err := tlsConfig(key, accept)
	if err != nil {
		return nil, fmt.Errorf("routing: dial %s: %w", addr, err)
	}
	return dial(ctx, addr, key.DID(), tc, opts)
}

func dial(ctx context.Context, addr string, self identity.DID, tc *tls.Config, opts Options) (*Conn, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("routing: dial %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("routing: dial %s: %w", addr, err)
	}
	tr := &quic.Transport{Conn: udp}
	var once sync.Once
	release := func() {
		once.Do(func() {
			_ = tr.Close()
			_ = udp.Close()
		})
	}
	ctx, cancel := context.WithTimeout(ctx, opts.HandshakeTimeout)
	defer cancel()
	qc, err := tr.Dial(ctx, raddr, tc, opts.quicConfig())
	if err != nil {
		release()
		return nil, fmt.Errorf("routing: dial %s: %w", addr, classify(err))
	}
	c, err := newConn(qc, opts, release)
	if err != nil {
		_ = qc.CloseWithError(codeProtocol, err.Error())
		release()
		return nil, fmt.Errorf("routing: dial %s: %w", addr, err)
	}
	if err := c.clientHello(ctx, self); err != nil {
		c.closeWith(codeProtocol, err.Error())
		return nil, fmt.Errorf("routing: dial %s: %w", addr, err)
	}
	return c, nil
}

// classify maps the ways a handshake fails to this package's errors.
func classify(err error) error {
	if te, ok := errors.AsType[*quic.TransportError](err); ok && te.ErrorCode.IsCryptoError() {
		if te.Remote {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if !errors.Is(err, identity.ErrPeer) {
			return fmt.Errorf("%w: %w", identity.ErrPeer, err)
		}
		return err
	}
	if ae, ok := errors.AsType[*quic.ApplicationError](err); ok && ae.Remote {
		switch ae.ErrorCode {
		case codeVersion:
			return fmt.Errorf("%w: %w", ErrVersion, err)
		case codeProtocol, codeShutdown:
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	return err
}

// ---- Conn -----------------------------------------------------------------

// Conn is an authenticated data-plane connection. Either side may open
// streams: one per hop of a transfer, so a slow transfer never blocks
// another.
type Conn struct {
	qc      *quic.Conn
	opts    Options
	peer    identity.DID
	role    icnv1.NodeRole
	release func() // the dialer's transport and socket; nil when accepted
	// recvMax, if positive, bounds the frames read from the peer below
	// opts.MaxFrameSize (SetMaxRecvFrame).
	recvMax atomic.Int64
}

func newConn(qc *quic.Conn, opts Options, release func()) (*Conn, error) {
	did, err := identity.PeerDID(qc.ConnectionState().TLS)
	if err != nil {
		return nil, err
	}
	c := &Conn{qc: qc, opts: opts, peer: did, release: release}
	if release != nil {
		context.AfterFunc(qc.Context(), release)
	}
	return c, nil
}

// PeerDID is the DID of the peer's TLS key, checked during the handshake.
func (c *Conn) PeerDID() identity.DID { return c.peer }

// SetMaxRecvFrame bounds the frames this side reads from the peer from now
// on, on every stream of the connection: a frame that declares more is
// refused with ErrFrameTooLarge before its body is read. n <= 0, or more
// than Options.MaxFrameSize, restores Options.MaxFrameSize. A hub sets it
// once it knows the peer's trust class.
func (c *Conn) SetMaxRecvFrame(n int) {
	if n <= 0 || n > c.opts.MaxFrameSize {
		n = 0
	}
	c.recvMax.Store(int64(n))
}

// maxRecvFrame is the largest frame Recv accepts from the peer.
func (c *Conn) maxRecvFrame() int {
	if n := c.recvMax.Load(); n > 0 {
		return int(n)
	}
	return c.opts.MaxFrameSize
}

// PeerRole is the role the peer announced in its Hello.
func (c *Conn) PeerRole() icnv1.NodeRole { return c.role }

// LocalAddr returns the local UDP address.
func (c *Conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// RemoteAddr returns the peer's UDP address.
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// Done is closed when the connection has ended, for any reason.
func (c *Conn) Done() <-chan struct{} { return c.qc.Context().Done() }

// Err says why the connection ended (nil while it is open).
func (c *Conn) Err() error {
	if c.qc.Context().Err() == nil {
		return nil
	}
	return classify(context.Cause(c.qc.Context()))
}

// Close closes the connection, telling the peer, and releases its socket.
func (c *Conn) Close() error {
	c.closeWith(codeNoError, "closed")
	return nil
}

func (c *Conn) closeWith(code quic.ApplicationErrorCode, msg string) {
	_ = c.qc.CloseWithError(code, msg)
	if c.release != nil {
		c.release()
	}
}

// OpenStream opens a new stream, waiting while the peer's limit of
// concurrent streams is reached.
func (c *Conn) OpenStream(ctx context.Context) (*Stream, error) {
	qs, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("routing: open stream: %w", c.streamErr(ctx, err))
	}
	return &Stream{qs: qs, c: c}, nil
}

// AcceptStream waits for the next stream the peer opens.
func (c *Conn) AcceptStream(ctx context.Context) (*Stream, error) {
	qs, err := c.qc.AcceptStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("routing: accept stream: %w", c.streamErr(ctx, err))
	}
	return &Stream{qs: qs, c: c}, nil
}

// Call sends req on a new stream and reads one reply into resp: a single
// request/response exchange, bounded by ctx. The responder sends exactly
// one message and closes.
func (c *Conn) Call(ctx context.Context, req, resp proto.Message) error {
	s, err := c.OpenStream(ctx)
	if err != nil {
		return err
	}
	stop := s.watch(ctx)
	defer stop()
	if err := s.Send(req); err != nil {
		// A responder may refuse a request before reading all of it (a
		// frame over its limit) and answer why, then stop our sending:
		// its answer stands.
		if se, ok := errors.AsType[*quic.StreamError](err); ok && se.Remote && s.Recv(resp) == nil {
			s.qs.CancelRead(codeNoErrorStream)
			return nil
		}
		s.Abort()
		return fmt.Errorf("routing: call: %w", c.streamErr(ctx, err))
	}
	// A responder that has read the request may answer and stop reading
	// before our FIN goes out; CloseSend then fails, but the reply stands.
	_ = s.CloseSend()
	if err := s.Recv(resp); err != nil {
		s.Abort()
		return fmt.Errorf("routing: call: %w", c.streamErr(ctx, err))
	}
	s.qs.CancelRead(codeNoErrorStream)
	return nil
}

const codeNoErrorStream quic.StreamErrorCode = 0

// Serve runs h on its own goroutine for every stream the peer opens, until
// ctx is done or the connection ends; it returns after every h has
// returned. Each stream is closed after h returns.
func (c *Conn) Serve(ctx context.Context, h func(*Stream)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		s, err := c.AcceptStream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Go(func() {
			defer s.Close()
			h(s)
		})
	}
}

// streamErr prefers the context's error, then why the connection ended.
func (c *Conn) streamErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded // the stream's deadline fired just before ctx's timer
	}
	if cerr := c.Err(); cerr != nil {
		return cerr
	}
	return err
}

func helloEnvelope(self identity.DID, role icnv1.NodeRole) *icnv1.Envelope {
	return &icnv1.Envelope{Body: &icnv1.Envelope_Hello{Hello: &icnv1.Hello{
		NodeDid: string(self), Role: role, ProtocolVersion: ProtocolVersion,
	}}}
}

// checkHello validates the peer's Hello and records its role.
func (c *Conn) checkHello(env *icnv1.Envelope) error {
	h := env.GetHello()
	if h == nil {
		return fmt.Errorf("%w: got %s", ErrHello, MessageType(env))
	}
	if identity.DID(h.GetNodeDid()) != c.peer {
		return fmt.Errorf("%w: hello from %.80q over the TLS key of %s", ErrHello, h.GetNodeDid(), c.peer)
	}
	if h.GetProtocolVersion() != ProtocolVersion {
		return fmt.Errorf("%w: peer speaks %d, we speak %d", ErrVersion, h.GetProtocolVersion(), ProtocolVersion)
	}
	c.role = h.GetRole()
	return nil
}

func (c *Conn) clientHello(ctx context.Context, self identity.DID) error {
	s, err := c.OpenStream(ctx)
	if err != nil {
		return classify(err)
	}
	defer s.Close()
	stop := s.watch(ctx)
	defer stop()
	if err := s.Send(helloEnvelope(self, c.opts.Role)); err != nil {
		return classify(c.streamErr(ctx, err))
	}
	_ = s.CloseSend() // as in Call: the server may already have answered
	var reply icnv1.Envelope
	if err := s.Recv(&reply); err != nil {
		return classify(c.streamErr(ctx, err))
	}
	return c.checkHello(&reply)
}

func (c *Conn) serverHello(ctx context.Context, self identity.DID) error {
	s, err := c.AcceptStream(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	stop := s.watch(ctx)
	defer stop()
	var hello icnv1.Envelope
	if err := s.Recv(&hello); err != nil {
		return c.streamErr(ctx, err)
	}
	if err := c.checkHello(&hello); err != nil {
		return err // the caller closes the connection with the reason
	}
	if err := s.Send(helloEnvelope(self, c.opts.Role)); err != nil {
		return c.streamErr(ctx, err)
	}
	return nil
}

// ---- Stream -----------------------------------------------------------------

// Stream is one bidirectional QUIC stream carrying framed messages.
type Stream struct {
	qs *quic.Stream
	c  *Conn
}

// Conn returns the connection the stream belongs to.
func (s *Stream) Conn() *Conn { return s.c }

// Send writes m as one frame.
func (s *Stream) Send(m proto.Message) error {
	if err := WriteMsgMax(s.qs, m, s.c.opts.MaxFrameSize); err != nil {
		return err
	}
	if s.c.opts.Counters != nil {
		s.c.opts.Counters.Message(Sent, MessageType(m))
	}
	return nil
}

// Recv reads one frame into m. It returns io.EOF when the peer closed its
// side cleanly before another message, and ErrFrameTooLarge, before reading
// the body, for a frame over the connection's limit (SetMaxRecvFrame).
func (s *Stream) Recv(m proto.Message) error {
	if err := ReadMsgMax(s.qs, m, s.c.maxRecvFrame()); err != nil {
		return err
	}
	if s.c.opts.Counters != nil {
		s.c.opts.Counters.Message(Received, MessageType(m))
	}
	return nil
}

// CloseSend ends our side of the stream; the peer reads io.EOF after the
// messages already sent.
func (s *Stream) CloseSend() error { return s.qs.Close() }

// Close ends our side and stops reading: the stream is done for us.
func (s *Stream) Close() error {
	err := s.qs.Close()
	s.qs.CancelRead(codeNoErrorStream)
	return err
}

// Abort resets both directions: the peer's reads and writes fail.
func (s *Stream) Abort() {
	s.qs.CancelWrite(streamAborted)
	s.qs.CancelRead(streamAborted)
}

// SetDeadline bounds future Send and Recv calls.
func (s *Stream) SetDeadline(t time.Time) error { return s.qs.SetDeadline(t) }

// watch applies ctx's deadline and cancellation to the stream's reads and
// writes until the returned stop is called.
func (s *Stream) watch(ctx context.Context) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		_ = s.qs.SetDeadline(d)
	}
	after := context.AfterFunc(ctx, func() { _ = s.qs.SetDeadline(time.Now()) })
	return func() { after() }
}
