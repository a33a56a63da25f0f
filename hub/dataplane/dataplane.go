package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/payment"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
	"github.com/icn-coop/icn/trust"
)

// Reason codes the data plane gives a payer, beside the clearing book's.
const (
	ReasonUnknownCoop         = string(clearing.ReasonUnknownCoop)
	ReasonReceiverRejected    = string(clearing.ReasonReceiverRejected)
	ReasonReceiverUnavailable = string(clearing.ReasonReceiverUnavailable)
	ReasonHubFailover         = string(clearing.ReasonHubFailover)
)

// Error codes of routing.ErrorReply answers.
const (
	ReplyNotLeader   = "not_leader"
	ReplyForbidden   = "forbidden"
	ReplyBadIntent   = "invalid_intent"
	ReplyUnavailable = "unavailable"
	ReplyUnsupported = "unsupported"
	ReplyBadRequest  = "invalid_request"
)

// Kinds of icn_trust_violations_total. Each is exported at 0 from the
// start, so that an alert on its rate sees 0, not no data.
const (
	violUnregistered       = "unregistered_node"
	violSenderMismatch     = "sender_mismatch"
	violBadIntentSignature = "bad_intent_signature"
	violTamperedIntent     = "tampered_intent"
	violModifiedRequest    = "modified_request"
	violReplayedPrepare    = "replayed_prepare"
	violBadReceipt         = "bad_receipt"
	violRouteAnnounce      = "route_announce"
)

var violationKinds = []string{violUnregistered, violSenderMismatch, violBadIntentSignature, violTamperedIntent,
	violModifiedRequest, violReplayedPrepare, violBadReceipt, violRouteAnnounce}

// Options tune a DataPlane; the zero value is usable.
type Options struct {
	// DeliveryWait bounds how long the leader waits for a receiving co-op
	// to be connected before it aborts the transfer (default 3 s, never
	// past the transfer's expiry).
	DeliveryWait time.Duration
	// HopMargin: each hop's expiry is this much earlier than the one
	// before (default 2 s), so the hub decides before the payer gives up.
	HopMargin time.Duration
	// IntentHorizon refuses intents that expire further ahead than this
	// (payment.DefaultHorizon); it must not be shorter than the co-ops'.
	IntentHorizon time.Duration
	// Transport tunes the QUIC connections (role and counters are set here).
	Transport routing.Options
	Logger    *slog.Logger
	// FederationKey is this federation's own key. With it the data plane
	// answers an upstream hub (a parent or child federation) with receipts
	// signed as the federation, and connects to its parent as the
	// federation. Without it, transfers from other federations are refused.
	FederationKey *identity.Key
	// Parents are the parent federations this cluster is a participant of
	// (a regional and a sector federation, say): transfers for co-ops it
	// does not know go up to one of them, the one the directory puts on the
	// payee's path, else the first.
	Parents []ParentLink
	// Directory, if set, is the federation directory: where the data plane
	// looks up co-ops it has no route for, and where the leader publishes
	// its participants' records.
	Directory Directory
	// NoRouteAnnouncements: do not announce this federation's co-ops to
	// its parents; they find them through the directory. (With
	// announcements, a directory outage falls back to them.)
	NoRouteAnnouncements bool
	// FollowerGrace: a hop whose outcome an upstream hub decides keeps its
	// reservation this long past the upstream expiry before it expires on
	// its own (default 10 min); until then it asks upstream.
	FollowerGrace time.Duration
	// Policies are the trust-class policies enforced per participant
	// (classes.go); nil: the seed's table, trust.DefaultPolicies.
	Policies *trust.Policies
	// Clock is what the request budgets read (default time.Now).
	Clock func() time.Time
}

// ParentLink names the parent federation and its hub nodes' data planes.
type ParentLink struct {
	Federation identity.DID // the parent's federation DID, registered here as a participant of kind federation
	Hubs       []ParentHub
}

// ParentHub is one node of the parent's hub cluster.
type ParentHub struct {
	DID  identity.DID
	Addr string
}

// Plane is a hub node's end of the data plane: co-op nodes connect to
// every hub node over QUIC (routing), and the leader routes their transfers:
// it checks the intent, prepares the transfer in the FSM, delivers it to the
// receiving co-op over the connection that co-op opened, and commits or
// aborts on its signed answer. Followers answer not_leader with the leader's
// DID.
type Plane struct {
	n      Cluster
	opts   Options
	ln     *routing.Listener
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	violations *prometheus.CounterVec
	retries    prometheus.Counter // repeated prepares marked as retries
	outcomes   *prometheus.CounterVec
	messages   *routing.MessageCounter
	sigs       *routing.SignatureCounter // intents checked, receipts read
	classes    *classGates

	mu       sync.Mutex
	conns    map[identity.DID][]*routing.Conn // newest last
	changed  chan struct{}                    // closed and replaced when conns changes
	inflight map[string]chan struct{}
	routes   map[string]identity.DID        // co-op DID or name → the child federation that serves it
	staged   map[identity.DID]*stagedRoutes // announcements in parts, per child, until the last part
	parents  map[identity.DID]*routing.Peer // while leading: a link to each parent federation
}

// Start listens on the UDP address addr for co-op nodes (and
// child federations) registered in n's federation.
func Start(n Cluster, addr string, opts Options) (*Plane, error) {
	if opts.DeliveryWait <= 0 {
		opts.DeliveryWait = 3 * time.Second
	}
	if opts.HopMargin <= 0 {
		opts.HopMargin = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FollowerGrace <= 0 {
		opts.FollowerGrace = 10 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	policies := trust.DefaultPolicies()
	if opts.Policies != nil {
		policies = *opts.Policies
	}
	if len(opts.Parents) > 0 && opts.FederationKey == nil {
		return nil, errors.New("hub: a parent federation needs this federation's key (to connect as it)")
	}
	d := &Plane{routes: map[string]identity.DID{}, staged: map[identity.DID]*stagedRoutes{}, parents: map[identity.DID]*routing.Peer{},
		n: n, opts: opts, log: opts.Logger.With("component", "dataplane"),
		conns: map[identity.DID][]*routing.Conn{}, changed: make(chan struct{}), inflight: map[string]chan struct{}{},
		messages: routing.NewMessageCounter(),
		classes:  newClassGates(n.State(), policies, opts.Clock),
		sigs:     routing.NewSignatureCounter("dataplane", routing.SignedIntent, routing.SignedReceipt),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icn_trust_violations_total",
			Help: "Data-plane messages refused because a signature, sender or intent did not check out, by kind.",
		}, []string{"kind"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "icn_hub_prepare_retries_total",
			Help: "Prepares of a transfer this hub already knew, marked by their sender as retries (after a lost answer or a failover); unmarked ones count as replayed_prepare violations.",
		}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icn_hub_routed_transfers_total",
			Help: "Transfers routed by this node as leader, by outcome and reason.",
		}, []string{"outcome", "reason"}),
	}
	for _, k := range violationKinds {
		d.violations.WithLabelValues(k)
	}
	to := opts.Transport
	to.Role = icnv1.NodeRole_NODE_ROLE_HUB
	if to.Counters == nil {
		to.Counters = d.messages
	}
	ln, err := routing.Listen(addr, n.Key(), d.registered, to)
	if err != nil {
		return nil, err
	}
	d.ln = ln
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(3)
	go d.acceptLoop()
	go d.watchLeadership()
	go d.publishLoop()
	return d, nil
}

// Addr is the UDP address the data plane listens on.
func (d *Plane) Addr() string { return d.ln.Addr().String() }

// Collectors returns the data plane's metrics.
func (d *Plane) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.violations, d.retries, d.outcomes, d.messages, d.sigs, d.classes.refusals}
}

// Close stops accepting, closes every connection and waits for the
// handlers.
func (d *Plane) Close() error {
	d.cancel()
	err := d.ln.Close()
	d.wg.Wait()
	return err
}

// registered admits any registered participant at the TLS handshake, so
// that an unregistered key never gets a connection.
func (d *Plane) registered(did identity.DID) bool {
	_, ok := d.n.State().Participant(did)
	if !ok {
		d.violations.WithLabelValues(violUnregistered).Inc()
	}
	return ok
}

func (d *Plane) acceptLoop() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept(d.ctx)
		if err != nil {
			return
		}
		d.setConn(c)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			_ = c.Serve(d.ctx, func(s *routing.Stream) { d.handle(c.PeerDID(), s) })
			d.dropConn(c)
		}()
	}
}

// setConn records a new connection of a node; deliveries use its newest
// live connection, so an older one that has not timed out yet is no trap.
func (d *Plane) setConn(c *routing.Conn) {
	d.mu.Lock()
	d.conns[c.PeerDID()] = append(d.conns[c.PeerDID()], c)
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

func (d *Plane) dropConn(c *routing.Conn) {
	d.mu.Lock()
	cs := slices.DeleteFunc(d.conns[c.PeerDID()], func(x *routing.Conn) bool { return x == c })
	if len(cs) == 0 {
		delete(d.conns, c.PeerDID())
	} else {
		d.conns[c.PeerDID()] = cs
	}
	d.mu.Unlock()
}

// live returns did's newest open connection.
func (d *Plane) live(did identity.DID) *routing.Conn {
	cs := d.conns[did]
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].Err() == nil {
			return cs[i]
		}
	}
	return nil
}

// conn waits until did is connected, ctx ends or wait passes.
func (d *Plane) conn(ctx context.Context, did identity.DID, wait time.Duration) (*routing.Conn, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		d.mu.Lock()
		c, ch := d.live(did), d.changed
		d.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("%s is not connected", did)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// watchLeadership closes every connection when this node stops leading, so
// that co-op nodes go and find the new leader, and aborts, when it starts
// leading, the transfers an earlier leader left prepared.
func (d *Plane) watchLeadership() {
	defer d.wg.Done()
	defer d.unlinkParents()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	leading := false
	var lastFollow, lastAnnounce, lastTry time.Time
	var announced uint64 // participants generation the parent last acknowledged
	for {
		select {
		case <-t.C:
		case <-d.ctx.Done():
			return
		}
		now := d.n.IsLeader()
		switch {
		case now && !leading:
			d.takeOver()
			d.linkParents() // announces the routes once connected
			announced, lastAnnounce = d.n.State().ParticipantsGen(), time.Now()
		case !now && leading:
			d.unlinkParents()
			var conns []*routing.Conn
			d.mu.Lock()
			for _, cs := range d.conns {
				conns = append(conns, cs...)
			}
			d.mu.Unlock()
			for _, c := range conns {
				_ = c.Close()
			}
		case now:
			// Routes go up at once when the co-ops change, so a new co-op
			// is reachable from other federations without waiting for the
			// periodic announcement (which covers a parent's new leader).
			gen := d.n.State().ParticipantsGen()
			if (gen != announced || time.Since(lastAnnounce) >= 5*time.Second) && time.Since(lastTry) >= 250*time.Millisecond {
				lastTry = time.Now()
				if d.reannounce() {
					announced, lastAnnounce = gen, lastTry
				}
			}
			if time.Since(lastFollow) >= time.Second {
				lastFollow = time.Now()
				d.followUp()
			}

		}
		leading = now
	}
}

// takeOver aborts the prepared transfers no handler of this node drives:
// their delivery state died with the previous leader. The receiving co-op
// voids its pending credit and the payer releases its hold when they ask
// for the outcome.
func (d *Plane) takeOver() {
	for _, t := range d.n.State().Pending() {
		d.mu.Lock()
		_, driven := d.inflight[t.GetId()]
		d.mu.Unlock()
		if driven || d.isFederation(identity.DID(t.GetFrom())) {
			continue // an upstream hub decides those: followUp asks it
		}
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		_, err := d.n.Propose(ctx, &icnv1.Command{Cmd: &icnv1.Command_AbortTransfer{AbortTransfer: &icnv1.AbortTransfer{
			Id: t.GetId(), Reason: ReasonHubFailover}}})
		cancel()
		if err != nil {
			d.log.Warn("abort transfer left by the previous leader", "transfer", t.GetId(), "err", err)
			return
		}
	}
}

// handle serves one stream a peer opened: one request, one answer, except
// a prepare from another federation's hub, which stays open for the
// outcome. sender is the participant the peer is: its TLS DID, or the
// parent federation for streams the parent opens. The sender's trust class
// bounds the request's size and the rate of its requests (classes.go).
func (d *Plane) handle(sender identity.DID, s *routing.Stream) {
	gate, class, pol := d.classes.gate(sender)
	s.Conn().SetMaxRecvFrame(pol.MaxPayloadBytes)
	var req icnv1.Envelope
	if err := s.Recv(&req); err != nil {
		if errors.Is(err, routing.ErrFrameTooLarge) {
			r := d.classes.tooLarge(class, pol)
			d.log.Debug("request refused", "from", sender, "code", r.code, "err", err)
			_ = s.Send(errorReply(r.code, r.msg))
			return
		}
		s.Abort()
		return
	}
	if r := d.classes.allow(gate, class, pol); r != nil {
		_ = s.Send(errorReply(r.code, r.msg))
		return
	}
	var resp *icnv1.Envelope
	switch b := req.Body.(type) {
	case *icnv1.Envelope_Ping:
		resp = &icnv1.Envelope{Body: &icnv1.Envelope_Pong{Pong: &icnv1.Pong{Nonce: b.Ping.GetNonce()}}}
	case *icnv1.Envelope_Prepare:
		if resp = d.notLeader(); resp == nil {
			if d.isFederation(sender) {
				d.relay(sender, b.Prepare, s)
				return
			}
			resp = d.prepare(sender, b.Prepare)
		}
	case *icnv1.Envelope_OutcomeQuery:
		if resp = d.notLeader(); resp == nil {
			resp = d.query(sender, b.OutcomeQuery)
		}
	case *icnv1.Envelope_StatementQuery:
		resp = d.statements(sender, b.StatementQuery)
	case *icnv1.Envelope_Routes:
		if resp = d.notLeader(); resp == nil {
			resp = d.announced(sender, b.Routes)
		}
	default:
		resp = errorReply(ReplyUnsupported, "unsupported request "+routing.MessageType(&req))
	}
	_ = s.Send(resp)
}

func (d *Plane) notLeader() *icnv1.Envelope {
	if d.n.IsLeader() {
		return nil
	}
	env := errorReply(ReplyNotLeader, "this hub node does not lead; ask the leader")
	if did, _, ok := d.n.Leader(); ok && did != d.n.Key().DID() {
		env.GetError().LeaderDid = string(did)
	}
	return env
}

func errorReply(code, msg string) *icnv1.Envelope {
	return &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: code, Message: msg}}}
}

func outcomeReply(t *icnv1.Transfer) *icnv1.Envelope {
	return &icnv1.Envelope{Body: &icnv1.Envelope_Outcome{Outcome: &icnv1.TransferOutcome{
		TransferId: t.GetId(), State: t.GetState(), Reason: t.GetReason(), DecidedAtUnixNano: t.GetDecidedAtUnixNano()}}}
}

func rejected(id, reason string) *icnv1.Envelope {
	return outcomeReply(&icnv1.Transfer{Id: id, State: icnv1.TransferState_TRANSFER_STATE_REJECTED, Reason: reason})
}

// query answers the outcomes of transfers the asking co-op sends or
// receives; others are reported unknown. Decided states are final, so a
// read of this node's applied state is enough: at worst a transfer still
// in the log reads as prepared or unknown, and the co-op asks again.
func (d *Plane) query(from identity.DID, q *icnv1.OutcomeQuery) *icnv1.Envelope {
	out := &icnv1.TransferOutcomes{}
	for _, id := range q.GetTransferIds() {
		t, ok, err := d.n.State().Transfer(id)
		if err != nil || !ok || (identity.DID(t.GetFrom()) != from && identity.DID(t.GetTo()) != from) {
			out.Outcomes = append(out.Outcomes, &icnv1.TransferOutcome{TransferId: id})
			continue
		}
		out.Outcomes = append(out.Outcomes, outcomeReply(t).GetOutcome())
	}
	return &icnv1.Envelope{Body: &icnv1.Envelope_Outcomes{Outcomes: out}}
}

// checked is a prepare whose sender, intent and fields agree.
type checked struct {
	p      *icnv1.TransferPrepare
	hash   [32]byte
	to     identity.DID
	amount money.Amount
	expiry int64 // this hub's record's expiry (unix ns)
	retry  bool  // the next hop may have had this prepare before
}

// check verifies a prepare from sender: the connection's DID is the sending
// co-op, the intent's signature holds, and every field the hub acts on
// matches the signed intent. A refusal is an ErrorReply, counted as a
// trust violation.
func (d *Plane) check(sender identity.DID, p *icnv1.TransferPrepare) (*checked, *icnv1.Envelope) {
	refuse := func(kind, code, format string, args ...any) (*checked, *icnv1.Envelope) {
		d.violations.WithLabelValues(kind).Inc()
		d.log.Warn("prepare refused", "kind", kind, "from", sender, "transfer", p.GetTransferId())
		return nil, errorReply(code, fmt.Sprintf(format, args...))
	}
	if identity.DID(p.GetFromCoop()) != sender {
		return refuse(violSenderMismatch, ReplyForbidden, "from_coop %.80s is not the connected node %s", p.GetFromCoop(), sender)
	}
	d.sigs.Inc(routing.SignedIntent)
	intent := p.GetIntent()
	if err := payment.VerifyBy(identity.DID(intent.GetSigner()), intent.GetPayload(), intent.GetSignature()); err != nil {
		return refuse(violBadIntentSignature, ReplyBadIntent, "intent signature: %v", err)
	}
	in, err := payment.Check(intent.GetPayload(), payment.Rules{Currencies: fsmCurrencies{d.n.State()}, Horizon: d.opts.IntentHorizon}, time.Now())
	switch {
	case err != nil:
		return refuse(violTamperedIntent, ReplyBadIntent, "%v", err)
	case in.ID != p.GetTransferId() || in.Currency != p.GetCurrency() || in.Amount.Units() != p.GetAmountUnits() || in.ToCoop != p.GetToCoop():
		return refuse(violTamperedIntent, ReplyBadIntent, "the prepare's fields differ from the signed intent")
	}
	exp := min(in.Expires.UnixNano(), p.GetExpiresAtUnixNano()) - d.opts.HopMargin.Nanoseconds()
	return &checked{p: p, hash: payment.Hash(intent.GetPayload()), amount: in.Amount, expiry: exp, retry: p.GetRetry()}, nil
}

// fsmCurrencies looks currencies up in the federation's replicated list.
type fsmCurrencies struct{ fsm *fsm.FSM }

func (c fsmCurrencies) Lookup(code string) (money.Currency, error) {
	if cur, ok := c.fsm.Currency(code); ok {
		return cur, nil
	}
	return money.Currency{}, fmt.Errorf("currency %.20q is not cleared by this federation", code)
}

// resolve finds the next hop towards a co-op named by DID or registered
// name: the co-op itself if it is a participant here, else the child
// federation that announced it, else the hop the directory's record of the
// co-op gives (a child or a parent on its path), else a parent federation
// (not the one the transfer came from).
func (d *Plane) resolve(coop string, from identity.DID) (identity.DID, bool) {
	if p, ok := d.n.State().Participant(identity.DID(coop)); ok && p.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_COOP {
		return identity.DID(p.GetDid()), true
	}
	if did, ok := d.n.State().CoopNamed(coop); ok {
		return did, true
	}
	d.mu.Lock()
	child, ok := d.routes[coop]
	d.mu.Unlock()
	if ok && child != from {
		return child, true
	}
	if to, ok := d.viaDirectory(coop, from); ok {
		return to, true
	}
	for _, pl := range d.opts.Parents {
		if from != pl.Federation {
			return pl.Federation, true
		}
	}
	return "", false
}

// prepare routes one transfer from sender and answers its outcome.
func (d *Plane) prepare(sender identity.DID, p *icnv1.TransferPrepare) *icnv1.Envelope {
	ck, refusal := d.check(sender, p)
	if refusal != nil {
		return refusal
	}
	to, ok := d.resolve(p.GetToCoop(), sender)
	if !ok {
		d.outcomes.WithLabelValues("rejected", ReasonUnknownCoop).Inc()
		return rejected(p.GetTransferId(), ReasonUnknownCoop)
	}
	ck.to = to
	id := p.GetTransferId()
	if t, ok, _ := d.n.State().Transfer(id); ok && t.GetState() != icnv1.TransferState_TRANSFER_STATE_PREPARED {
		// Decided already: a replay changes nothing and gets the outcome.
		if !bytes.Equal(t.GetIntentHash(), ck.hash[:]) {
			d.violations.WithLabelValues(violModifiedRequest).Inc()
			return errorReply(string(clearing.ReasonModifiedRequest), "transfer "+id+" exists with a different intent")
		}
		d.repeated(p)
		return outcomeReply(t)
	}
	done, first := d.claim(id)
	if !first {
		// Another handler of this node drives the transfer: answer its outcome.
		select {
		case <-done:
		case <-d.ctx.Done():
			return errorReply(ReplyUnavailable, "hub node shutting down")
		}
		return d.current(id)
	}
	defer d.release(id, done)
	ctx, cancel := context.WithDeadline(d.ctx, time.Unix(0, ck.expiry).Add(d.opts.HopMargin))
	defer cancel()
	res, err := d.n.Propose(ctx, &icnv1.Command{RequestId: id, Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: &icnv1.PrepareTransfer{
		Id: id, From: string(sender), To: string(to), Currency: p.GetCurrency(), AmountUnits: ck.amount.Units(),
		IntentHash: ck.hash[:], ExpiresAtUnixNano: ck.expiry}}})
	if err != nil {
		return errorReply(ReplyUnavailable, fmt.Sprintf("prepare: %v", err))
	}
	if res.GetErrorCode() == string(clearing.ReasonModifiedRequest) {
		d.violations.WithLabelValues(violModifiedRequest).Inc()
		return errorReply(string(clearing.ReasonModifiedRequest), res.GetErrorMessage())
	}
	t := res.GetTransfer()
	switch {
	case t == nil:
		return errorReply(res.GetErrorCode(), res.GetErrorMessage())
	case t.GetState() != icnv1.TransferState_TRANSFER_STATE_PREPARED:
		if res.GetRepeat() {
			d.repeated(p)
		}
		d.outcomes.WithLabelValues(outcomeLabel(t), t.GetReason()).Inc()
		return outcomeReply(t)
	}
	// A repeat finds the transfer prepared (its first driver lost leadership
	// or its answer): the next hop may have had it already.
	ck.retry = ck.retry || res.GetRepeat()
	t = d.deliverAndDecide(ctx, ck, t)
	if t == nil {
		return errorReply(ReplyUnavailable, "the outcome is not decided yet; ask again")
	}
	d.outcomes.WithLabelValues(outcomeLabel(t), t.GetReason()).Inc()
	return outcomeReply(t)
}

// repeated counts a prepare of a transfer already decided or prepared: a
// retry if its sender says so, else a replay.
func (d *Plane) repeated(p *icnv1.TransferPrepare) {
	if p.GetRetry() {
		d.retries.Inc()
		return
	}
	d.violations.WithLabelValues(violReplayedPrepare).Inc()
}

func outcomeLabel(t *icnv1.Transfer) string {
	switch t.GetState() {
	case icnv1.TransferState_TRANSFER_STATE_COMMITTED:
		return "committed"
	case icnv1.TransferState_TRANSFER_STATE_PREPARED:
		return "pending"
	}
	return "rejected"
}

// claim marks id as driven by the caller (first is true) or returns the
// channel closed when its driver finishes.
func (d *Plane) claim(id string) (done chan struct{}, first bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ch, ok := d.inflight[id]; ok {
		return ch, false
	}
	ch := make(chan struct{})
	d.inflight[id] = ch
	return ch, true
}

func (d *Plane) release(id string, done chan struct{}) {
	d.mu.Lock()
	delete(d.inflight, id)
	d.mu.Unlock()
	close(done)
}

func (d *Plane) current(id string) *icnv1.Envelope {
	t, ok, err := d.n.State().Transfer(id)
	if err != nil || !ok {
		return errorReply(ReplyUnavailable, "the outcome is not known yet; ask again")
	}
	return outcomeReply(t)
}

// deliverAndDecide delivers a prepared transfer to its receiver, then
// commits it on a valid accept or aborts it, and tells the receiver the
// outcome. It returns the decided record, or nil if the decision could not
// be proposed (leadership lost): the co-ops then ask the next leader.
func (d *Plane) deliverAndDecide(ctx context.Context, ck *checked, t *icnv1.Transfer) *icnv1.Transfer {
	s, reason := d.deliver(ctx, ck)
	decided := d.decide(t.GetId(), reason)
	if s == nil {
		return decided
	}
	if decided == nil {
		s.Abort() // the receiver asks the next leader
		return nil
	}
	_ = s.Send(outcomeReply(decided))
	_ = s.Close()
	return decided
}

// payerCoop is the paying co-op's id to pass on with p: the registered name
// of its sender if that is a co-op of this federation (whatever the co-op
// wrote), else (another federation's hub) the id that hub passed on.
func (d *Plane) payerCoop(p *icnv1.TransferPrepare) string {
	if part, ok := d.n.State().Participant(identity.DID(p.GetFromCoop())); ok && part.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_COOP {
		return part.GetName()
	}
	return p.GetFromCoopId()
}

// deliver sends the prepare to the receiving co-op and reads its signed
// answer. It returns the open stream (to send the outcome on) and "" for a
// valid accept, or an abort reason.
func (d *Plane) deliver(ctx context.Context, ck *checked) (*routing.Stream, string) {
	wait := min(d.opts.DeliveryWait, time.Until(time.Unix(0, ck.expiry)))
	c, err := d.connTo(ctx, ck.to, wait)
	if err != nil {
		return nil, ReasonReceiverUnavailable
	}
	class, pol := d.classes.policy(ck.to) // its answer is bounded as its requests are
	c.SetMaxRecvFrame(pol.MaxPayloadBytes)
	s, err := c.OpenStream(ctx)
	if err != nil {
		return nil, ReasonReceiverUnavailable
	}
	_ = s.SetDeadline(time.Unix(0, ck.expiry))
	from := ck.p.GetFromCoop()
	if d.opts.FederationKey != nil && d.isFederation(ck.to) {
		from = string(d.opts.FederationKey.DID()) // the next hub sees this federation as the sender
	}
	toCoop := ck.p.GetToCoop()
	if !d.isFederation(ck.to) {
		toCoop = string(ck.to)
	}
	hop := &icnv1.TransferPrepare{TransferId: ck.p.GetTransferId(), Intent: ck.p.GetIntent(),
		FromCoop: from, FromCoopId: d.payerCoop(ck.p), ToCoop: toCoop, Currency: ck.p.GetCurrency(),
		AmountUnits: ck.p.GetAmountUnits(), ExpiresAtUnixNano: ck.expiry, Hop: ck.p.GetHop() + 1, Retry: ck.retry}
	var answer icnv1.Envelope
	if err := s.Send(&icnv1.Envelope{Body: &icnv1.Envelope_Prepare{Prepare: hop}}); err != nil {
		s.Abort()
		return nil, ReasonReceiverUnavailable
	}
	if err := s.Recv(&answer); err != nil {
		s.Abort()
		if errors.Is(err, routing.ErrFrameTooLarge) {
			r := d.classes.tooLarge(class, pol)
			d.log.Warn("answer refused", "transfer", ck.p.GetTransferId(), "from", ck.to, "code", r.code, "err", err)
			return nil, ReasonReceiverRejected
		}
		return nil, ReasonReceiverUnavailable
	}
	var receipt *icnv1.SignedMessage
	switch b := answer.Body.(type) {
	case *icnv1.Envelope_Accept:
		receipt = b.Accept.GetReceipt()
	case *icnv1.Envelope_Reject:
		receipt = b.Reject.GetReceipt()
	default: // an error reply: not the leader, shutting down, …
		s.Abort()
		return nil, ReasonReceiverUnavailable
	}
	d.sigs.Inc(routing.SignedReceipt)
	r, err := routing.VerifyReceipt(receipt, ck.to, ck.p.GetTransferId(), ck.hash)
	if err != nil {
		d.violations.WithLabelValues(violBadReceipt).Inc()
		d.log.Warn("receipt refused", "transfer", ck.p.GetTransferId(), "from", ck.to, "err", err)
		s.Abort()
		return nil, ReasonReceiverRejected
	}
	if !r.GetAccept() {
		// Another federation's hub passes on why (signed in its receipt);
		// a co-op's own reasons stay its business.
		if why := clearing.Reason(r.GetReason()); d.isFederation(ck.to) && why.Known() {
			return s, string(why)
		}
		return s, ReasonReceiverRejected
	}
	return s, ""
}
