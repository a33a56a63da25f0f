// Package hubpeer is a co-op node's link to its hub cluster: it sends
// members' cross-co-op payments as two-phase transfers, receives the
// transfers other co-ops send its members, and after any crash or reconnect
// asks the hub for the outcome of every open transfer and applies it.
package hubpeer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// Hub is one node of the hub cluster.
type Hub struct {
	DID  identity.DID
	Addr string // UDP address of its data plane
}

// Members is what the hub peer needs of the membership store.
type Members interface {
	// IsMember reports whether did may receive payments now.
	IsMember(did identity.DID, now time.Time) bool
	// SignerOf returns the DID of member's key (a device key) that made
	// sig over an intent, if any of its keys usable now did. (The co-op
	// node's counts each key it tries in the counter it passes as
	// Config.Signatures.)
	SignerOf(member identity.DID, intent, sig []byte, now time.Time) (identity.DID, bool)
}

// Config configures a Client.
type Config struct {
	CoopID string // this co-op's id (the to_coop payers write)
	Key    *identity.Key
	// Hubs are the hub cluster's nodes; the client connects to one and
	// follows the leader.
	Hubs []Hub
	// Federation is the hub cluster's federation DID: it names the
	// clearing account that mirrors the hub's position for this co-op.
	Federation identity.DID
	Ledger     *ledger.Store
	Members    Members
	Clock      func() time.Time
	Logger     *slog.Logger
	// Wait bounds how long Route waits for an outcome before answering
	// pending (default 10 s); the reconciler finishes the rest.
	Wait time.Duration
	// ReconcileEvery is how often open transfers are checked (default 1 s).
	ReconcileEvery time.Duration
	// StatementsEvery is how often settlement statements are fetched
	// (default 10 s).
	StatementsEvery time.Duration
	// IntentHorizon bounds how far ahead an incoming intent may expire
	// (payment.DefaultHorizon).
	IntentHorizon time.Duration
	Transport     routing.Options
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	// LinkLogEvery bounds how often a link that stays down (unreachable,
	// refused) is logged again, with the count of failed attempts (default
	// 1 min). Each change of the link's state is logged once, at once.
	LinkLogEvery time.Duration
	// Signatures counts the intent signatures verified here (incoming
	// prepares, and resent holds via Members.SignerOf); register it to
	// export icn_signature_verifications_total{component="hubpeer"}.
	// Default: a fresh, unregistered counter.
	Signatures *routing.SignatureCounter
}

// Client is a co-op node's connection to its hub cluster.
type Client struct {
	cfg      Config
	clearing ledger.Account
	peer     *routing.Peer
	link     *link
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	kick     chan struct{}

	mu       sync.Mutex
	inflight map[string]chan struct{} // transfers being routed: closed when done
	// queryBatch is how many transfers one outcome query asks about:
	// reconcileBatch, halved each time the hub refuses a query as larger
	// than this co-op's trust class allows (reconcile.go).
	queryBatch int

	testHookBusy func(id string) // tests: Route found id being routed already
}

// Start connects to the hub cluster and starts the reconciler.
func Start(cfg Config) (*Client, error) {
	if cfg.Key == nil || cfg.Ledger == nil || cfg.Members == nil || len(cfg.Hubs) == 0 {
		return nil, errors.New("hubpeer: key, ledger, members and at least one hub are required")
	}
	if _, _, err := identity.ParseDID(string(cfg.Federation)); err != nil {
		return nil, fmt.Errorf("hubpeer: federation: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 10 * time.Second
	}
	if cfg.ReconcileEvery <= 0 {
		cfg.ReconcileEvery = time.Second
	}
	if cfg.StatementsEvery <= 0 {
		cfg.StatementsEvery = 10 * time.Second
	}
	if cfg.Signatures == nil {
		cfg.Signatures = routing.NewSignatureCounter("hubpeer", routing.SignedIntent)
	}
	c := &Client{cfg: cfg, clearing: ledger.ClearingAccount(string(cfg.Federation)),
		log: cfg.Logger.With("component", "hubpeer"), kick: make(chan struct{}, 1), inflight: map[string]chan struct{}{}}
	RegisterHandlers(cfg.Ledger)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.link = newLink(cfg.Key.DID(), c.log, cfg.Clock, cfg.LinkLogEvery)
	addrs := make([]string, len(cfg.Hubs))
	for i, h := range cfg.Hubs {
		addrs[i] = h.Addr
	}
	opts := cfg.Transport
	opts.Role = icnv1.NodeRole_NODE_ROLE_COOP
	p, err := routing.NewPeer(routing.PeerConfig{
		Addrs: addrs, Key: cfg.Key, Accept: c.isHub, Options: opts,
		MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		Handle:    c.incoming,
		OnConnect: func(context.Context, *routing.Conn) { c.poke() },
		OnEvent:   c.link.onEvent,
	})
	if err != nil {
		return nil, fmt.Errorf("hubpeer: %w", err)
	}
	c.log.Info("connecting to hub cluster", "federation", cfg.Federation, "hubs", addrs, "did", cfg.Key.DID())
	c.peer = p
	c.wg.Add(1)
	go c.reconcileLoop()
	return c, nil
}

// Close stops the client; open transfers are finished after the next start.
func (c *Client) Close() error {
	c.cancel()
	err := c.peer.Close()
	c.wg.Wait()
	return err
}

// ClearingAccount is the ledger account that mirrors the hub's position.
func (c *Client) ClearingAccount() ledger.Account { return c.clearing }

// Link returns the state of the link to the hub cluster.
func (c *Client) Link() LinkStatus { return c.link.status() }

// Collectors are the link's metrics, for the node's registry:
// icn_hubpeer_connected, icn_hubpeer_registered and
// icn_hubpeer_open_transfers.
func (c *Client) Collectors() []prometheus.Collector {
	return linkCollectors(c.link.status, openCount(c.cfg.Ledger))
}

// CollectorsOf are Collectors of whichever client current returns, for a
// replicated co-op's node, which runs one while it leads: with none
// running the link reads as not connected and not registered.
func CollectorsOf(current func() *Client, l *ledger.Store) []prometheus.Collector {
	return linkCollectors(func() LinkStatus {
		if c := current(); c != nil {
			return c.Link()
		}
		return LinkStatus{}
	}, openCount(l))
}

func openCount(l *ledger.Store) func() float64 {
	return func() float64 {
		n, err := l.OpenCount()
		if err != nil {
			return 0
		}
		return float64(n)
	}
}

func (c *Client) isHub(d identity.DID) bool {
	for _, h := range c.cfg.Hubs {
		if h.DID == d {
			return true
		}
	}
	return false
}

func (c *Client) hubAddr(d identity.DID) (string, bool) {
	for _, h := range c.cfg.Hubs {
		if h.DID == d {
			return h.Addr, true
		}
	}
	return "", false
}

func (c *Client) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// attemptTimeout bounds one request to the hub (a prepare waits for the
// delivery and two raft commits); the caller's context bounds the retries.
const attemptTimeout = 5 * time.Second

// alive pings the hub over c, briefly. Any answer will do: a hub that
// refuses the ping (rate_limited, when this co-op's trust class allows no
// more requests now) is alive.
func alive(ctx context.Context, c *routing.Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var resp icnv1.Envelope
	err := c.Call(ctx, &icnv1.Envelope{Body: &icnv1.Envelope_Ping{Ping: &icnv1.Ping{Nonce: 1}}}, &resp)
	return err == nil && (resp.GetPong() != nil || resp.GetError() != nil)
}

// classRefusal reports the hub's trust-class refusals: this co-op sent
// more requests than its class's rate, or a message over its payload cap.
func classRefusal(e *icnv1.ErrorReply) bool {
	return e != nil && (e.GetCode() == "rate_limited" || e.GetCode() == "payload_too_large")
}

// errNotLeader: the hub node answered not_leader; the client has moved on.
var errNotLeader = errors.New("hubpeer: hub node is not the leader")

// call makes one request to the hub leader, following not_leader answers
// and retrying while the connection is being re-established, until ctx ends.
func (c *Client) call(ctx context.Context, req *icnv1.Envelope) (*icnv1.Envelope, error) {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt == 1 {
			req = asRetry(req)
		}
		if attempt > 0 {
			t := time.NewTimer(min(time.Duration(attempt)*20*time.Millisecond, 500*time.Millisecond))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("%w (last error: %v)", context.Cause(ctx), last)
			}
		}
		conn, err := c.peer.Conn(ctx)
		if err != nil {
			return nil, err
		}
		resp := &icnv1.Envelope{}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err = conn.Call(actx, req, resp)
		cancel()
		if err != nil {
			last = err
			if ctx.Err() == nil && !alive(ctx, conn) {
				// A hub that died without a word leaves the connection
				// open until its idle timeout; drop it and redial now.
				_ = conn.Close()
			}
			continue
		}
		if e := resp.GetError(); e != nil && e.GetCode() == "not_leader" {
			last = errNotLeader
			c.link.onLeader(identity.DID(e.GetLeaderDid()))
			if addr, ok := c.hubAddr(identity.DID(e.GetLeaderDid())); ok {
				c.peer.Follow(addr)
			}
			continue
		}
		if e := resp.GetError(); e != nil && e.GetCode() == "unavailable" {
			last = errors.New(e.GetMessage())
			continue
		}
		if e := resp.GetError(); classRefusal(e) && req.GetPrepare().GetRetry() {
			// A prepare the hub may have had before (a retry) refused by
			// its trust-class limits says nothing of the earlier one, which
			// the hub may have recorded: never final. Ask again; once the
			// context ends the payment stays pending for the reconciler.
			last = fmt.Errorf("hub refused a retried prepare: %s: %s", e.GetCode(), e.GetMessage())
			continue
		}
		if req.GetPrepare() != nil || req.GetOutcomeQuery() != nil {
			c.link.onLeader(conn.PeerDID()) // only the leader answers these
		}
		return resp, nil
	}
}

// asRetry marks a prepare that may have reached the hub already as a retry,
// so that the hub does not count its repeat as a replay. Other requests are
// returned as they are.
func asRetry(req *icnv1.Envelope) *icnv1.Envelope {
	prep := req.GetPrepare()
	if prep == nil || prep.GetRetry() {
		return req
	}
	prep = proto.CloneOf(prep)
	prep.Retry = true
	return &icnv1.Envelope{Body: &icnv1.Envelope_Prepare{Prepare: prep}}
}
