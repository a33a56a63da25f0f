package dataplane

import (
	"context"
	"fmt"
	"time"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// Nested federations. A hub cluster can be a participant (kind federation)
// of a parent cluster; a transfer between regions then runs hop by hop,
// co-op → regional hub → parent hub → regional hub → co-op, each hub with its
// own record. The hub that took the transfer from the paying co-op decides
// it; every hub below follows its upstream: it prepares its own hop,
// delivers it further down, answers upstream with a receipt signed as its
// federation, and commits or aborts when the upstream outcome arrives (or,
// after a crash, when it asks for it). Follower records therefore do not
// expire with the payer's deadline but FollowerGrace later.

// isFederation reports whether did is another federation's hub cluster:
// the parent, or a participant of kind federation.
func (d *Plane) isFederation(did identity.DID) bool {
	if d.parentLink(did) != nil {
		return true
	}
	p, ok := d.n.State().Participant(did)
	return ok && p.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION
}

// connTo returns the connection to the next hop: the parent through the
// link this leader opened, anyone else through the connection they opened.
func (d *Plane) connTo(ctx context.Context, did identity.DID, wait time.Duration) (*routing.Conn, error) {
	if d.parentLink(did) != nil {
		d.mu.Lock()
		p := d.parents[did]
		d.mu.Unlock()
		if p == nil {
			return nil, fmt.Errorf("not connected to the parent federation %s", did.Short())
		}
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		return p.Conn(ctx)
	}
	return d.conn(ctx, did, wait)
}

// announced records the co-ops a child federation serves.
func (d *Plane) announced(sender identity.DID, r *icnv1.RouteAnnounce) *icnv1.Envelope {
	if identity.DID(r.GetFederation()) != sender || !d.isFederation(sender) {
		d.violations.WithLabelValues(violRouteAnnounce).Inc()
		return errorReply(ReplyForbidden, "only a child federation announces its own routes")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.staged[sender]
	switch {
	case r.GetPart() == 0:
		st = &stagedRoutes{}
	case st == nil || r.GetPart() != st.next:
		delete(d.staged, sender)
		return errorReply(ReplyBadRequest, fmt.Sprintf("route announcement part %d out of order; start again at part 0", r.GetPart()))
	}
	if len(st.coops)+len(r.GetCoops()) > maxChildRoutes {
		delete(d.staged, sender)
		return errorReply(ReplyBadRequest, fmt.Sprintf("a child federation announces at most %d co-ops", maxChildRoutes))
	}
	st.coops = append(st.coops, r.GetCoops()...)
	st.next++
	if r.GetMore() {
		d.staged[sender] = st
		return &icnv1.Envelope{Body: &icnv1.Envelope_Pong{Pong: &icnv1.Pong{}}}
	}
	delete(d.staged, sender)
	for k, v := range d.routes {
		if v == sender {
			delete(d.routes, k)
		}
	}
	for _, e := range st.coops {
		if e.GetDid() != "" {
			d.routes[e.GetDid()] = sender
		}
		if e.GetName() != "" {
			d.routes[e.GetName()] = sender
		}
	}
	return &icnv1.Envelope{Body: &icnv1.Envelope_Pong{Pong: &icnv1.Pong{}}}
}

// stagedRoutes are the parts of a child's announcement received so far.
type stagedRoutes struct {
	next  uint32
	coops []*icnv1.RouteEntry
}

const (
	// routesPerPart keeps a part of a route announcement under the default
	// frame size even with the longest names (≈ 200 bytes an entry).
	routesPerPart = 4096
	// maxChildRoutes bounds what one child may make its parent remember.
	maxChildRoutes = 1_000_000
)

// announceParts splits an announcement of coops into parts to send in order.
func announceParts(federation string, coops []*icnv1.RouteEntry) []*icnv1.RouteAnnounce {
	var parts []*icnv1.RouteAnnounce
	for i := 0; i == 0 || i < len(coops); i += routesPerPart {
		end := min(i+routesPerPart, len(coops))
		parts = append(parts, &icnv1.RouteAnnounce{Federation: federation, Coops: coops[i:end],
			Part: uint32(len(parts)), More: end < len(coops)})
	}
	return parts
}

// receipt answers an upstream hub, signed as this federation.
func (d *Plane) receipt(p *icnv1.TransferPrepare, reason string) *icnv1.Envelope {
	env, err := routing.Answer(d.opts.FederationKey, p, reason)
	if err != nil {
		return errorReply(ReplyUnavailable, err.Error())
	}
	return env
}

// relay carries one hop of a transfer that an upstream hub sent: prepare
// here, deliver further down, answer upstream, then apply the upstream
// outcome and pass it down.
func (d *Plane) relay(up identity.DID, p *icnv1.TransferPrepare, s *routing.Stream) {
	if d.opts.FederationKey == nil {
		_ = s.Send(errorReply(ReplyForbidden, "this hub cluster has no federation key configured; it cannot relay"))
		return
	}
	ck, refusal := d.check(up, p)
	if refusal != nil {
		_ = s.Send(refusal)
		return
	}
	to, ok := d.resolve(p.GetToCoop(), up)
	if !ok {
		_ = s.Send(d.receipt(p, ReasonUnknownCoop))
		return
	}
	ck.to = to
	id := p.GetTransferId()
	done, first := d.claim(id)
	if !first {
		_ = s.Send(errorReply(ReplyUnavailable, "transfer "+id+" is being relayed; ask again"))
		return
	}
	defer d.release(id, done)
	upstreamExpiry := time.Unix(0, p.GetExpiresAtUnixNano())
	ctx, cancel := context.WithDeadline(d.ctx, upstreamExpiry.Add(d.opts.HopMargin))
	defer cancel()
	res, err := d.n.Propose(ctx, &icnv1.Command{RequestId: id, Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: &icnv1.PrepareTransfer{
		Id: id, From: string(up), To: string(to), Currency: p.GetCurrency(), AmountUnits: ck.amount.Units(),
		IntentHash: ck.hash[:], ExpiresAtUnixNano: upstreamExpiry.Add(d.opts.FollowerGrace).UnixNano()}}})
	switch {
	case err != nil:
		_ = s.Send(errorReply(ReplyUnavailable, fmt.Sprintf("prepare: %v", err)))
		return
	case res.GetTransfer() == nil:
		_ = s.Send(d.receipt(p, res.GetErrorCode()))
		return
	case res.GetTransfer().GetState() != icnv1.TransferState_TRANSFER_STATE_PREPARED:
		_ = s.Send(d.receipt(p, res.GetTransfer().GetReason()))
		return
	}
	down, reason := d.deliver(ctx, ck)
	if reason != "" {
		d.decide(id, reason)
		_ = s.Send(d.receipt(p, reason))
		return
	}
	defer down.Close()
	if err := s.Send(d.receipt(p, "")); err != nil {
		return // followUp asks upstream later
	}
	_ = s.SetDeadline(upstreamExpiry.Add(d.opts.HopMargin))
	var env icnv1.Envelope
	if err := s.Recv(&env); err != nil || env.GetOutcome() == nil {
		return // followUp asks upstream later; the hop below asks us
	}
	if t := d.apply(id, env.GetOutcome()); t != nil {
		_ = down.Send(outcomeReply(t))
	}
}

// decide aborts (reason != "") or commits a transfer this node holds and
// returns its record as decided, or nil if the decision could not be
// proposed (leadership lost: the co-ops and hubs involved ask the next
// leader).
func (d *Plane) decide(id, reason string) *icnv1.Transfer {
	cmd := &icnv1.Command{Cmd: &icnv1.Command_CommitTransfer{CommitTransfer: &icnv1.CommitTransfer{Id: id}}}
	if reason != "" {
		cmd = &icnv1.Command{Cmd: &icnv1.Command_AbortTransfer{AbortTransfer: &icnv1.AbortTransfer{Id: id, Reason: reason}}}
	}
	res, err := d.n.Propose(d.ctx, cmd)
	if err != nil {
		d.log.Warn("decide transfer", "transfer", id, "err", err)
		return nil
	}
	if t := res.GetTransfer(); t != nil {
		return t
	}
	t, ok, _ := d.n.State().Transfer(id)
	if !ok {
		return nil
	}
	return t
}

// apply follows an upstream outcome; a still-open one changes nothing.
func (d *Plane) apply(id string, o *icnv1.TransferOutcome) *icnv1.Transfer {
	switch o.GetState() {
	case icnv1.TransferState_TRANSFER_STATE_COMMITTED:
		return d.decide(id, "")
	case icnv1.TransferState_TRANSFER_STATE_ABORTED, icnv1.TransferState_TRANSFER_STATE_REJECTED:
		reason := o.GetReason()
		if !clearing.Reason(reason).Known() {
			reason = string(clearing.ReasonCanceled)
		}
		return d.decide(id, reason)
	}
	return nil
}

// followUp asks upstream hubs for the outcome of the relayed transfers no
// handler of this node is waiting on, and applies the decided ones.
func (d *Plane) followUp() {
	byUp := map[identity.DID][]string{}
	for _, t := range d.n.State().Pending() {
		up := identity.DID(t.GetFrom())
		d.mu.Lock()
		_, driven := d.inflight[t.GetId()]
		d.mu.Unlock()
		if !driven && d.isFederation(up) {
			byUp[up] = append(byUp[up], t.GetId())
		}
	}
	for up, ids := range byUp {
		ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
		c, err := d.connTo(ctx, up, time.Second)
		var resp icnv1.Envelope
		if err == nil {
			err = c.Call(ctx, &icnv1.Envelope{Body: &icnv1.Envelope_OutcomeQuery{OutcomeQuery: &icnv1.OutcomeQuery{TransferIds: ids}}}, &resp)
		}
		cancel()
		if err != nil {
			d.log.Debug("ask upstream for outcomes", "upstream", up, "err", err)
			continue
		}
		for _, o := range resp.GetOutcomes().GetOutcomes() {
			d.apply(o.GetTransferId(), o)
		}
	}
}

// parentLink returns the configured parent federation did, or nil.
func (d *Plane) parentLink(did identity.DID) *ParentLink {
	for i := range d.opts.Parents {
		if d.opts.Parents[i].Federation == did {
			return &d.opts.Parents[i]
		}
	}
	return nil
}

// linkParents connects this leader to each parent federation as this
// federation, announcing its co-ops on every connection.
func (d *Plane) linkParents() {
	for i := range d.opts.Parents {
		pl := &d.opts.Parents[i]
		addrs := make([]string, len(pl.Hubs))
		for i, h := range pl.Hubs {
			addrs[i] = h.Addr
		}
		accept := func(did identity.DID) bool {
			for _, h := range pl.Hubs {
				if h.DID == did {
					return true
				}
			}
			return false
		}
		opts := d.opts.Transport
		opts.Role, opts.Counters = icnv1.NodeRole_NODE_ROLE_HUB, d.messages
		p, err := routing.NewPeer(routing.PeerConfig{
			Addrs: addrs, Key: d.opts.FederationKey, Accept: accept, Options: opts,
			Handle:    func(s *routing.Stream) { d.handle(pl.Federation, s) },
			OnConnect: func(ctx context.Context, c *routing.Conn) { d.announce(ctx, pl, c) },
		})
		if err != nil {
			d.log.Error("connect to the parent federation", "parent", pl.Federation, "err", err)
			continue
		}
		d.mu.Lock()
		d.parents[pl.Federation] = p
		d.mu.Unlock()
	}
}

func (d *Plane) unlinkParents() {
	d.mu.Lock()
	ps := d.parents
	d.parents = map[identity.DID]*routing.Peer{}
	d.mu.Unlock()
	for _, p := range ps {
		_ = p.Close()
	}
}

// announce tells parent pl which co-ops this federation serves (its own
// co-op participants), following the parent's leader if the node it
// reached does not lead. With announcements off it asks only what the
// leader alone answers (an empty outcome query), so the link still follows
// the leader: the parent delivers to this federation over it.
func (d *Plane) announce(ctx context.Context, pl *ParentLink, c *routing.Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, req := range d.announcement() {
		var resp icnv1.Envelope
		if err := c.Call(ctx, req, &resp); err != nil {
			d.log.Debug("announce routes to the parent", "parent", pl.Federation, "err", err)
			return false
		}
		if e := resp.GetError(); e != nil {
			if e.GetCode() == ReplyNotLeader {
				d.followParent(pl, e.GetLeaderDid())
			} else {
				d.log.Warn("the parent refused the route announcement", "parent", pl.Federation, "code", e.GetCode(), "message", e.GetMessage())
			}
			return false
		}
	}
	return true
}

// announcement is the requests announce sends, in order.
func (d *Plane) announcement() []*icnv1.Envelope {
	if d.opts.NoRouteAnnouncements {
		return []*icnv1.Envelope{{Body: &icnv1.Envelope_OutcomeQuery{OutcomeQuery: &icnv1.OutcomeQuery{}}}}
	}
	var coops []*icnv1.RouteEntry
	for _, p := range d.n.State().Participants() {
		if p.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_COOP {
			coops = append(coops, &icnv1.RouteEntry{Did: p.GetDid(), Name: p.GetName()})
		}
	}
	var reqs []*icnv1.Envelope
	for _, part := range announceParts(string(d.opts.FederationKey.DID()), coops) {
		reqs = append(reqs, &icnv1.Envelope{Body: &icnv1.Envelope_Routes{Routes: part}})
	}
	return reqs
}

// followParent moves the link to parent pl to its leader.
func (d *Plane) followParent(pl *ParentLink, leader string) {
	for _, h := range pl.Hubs {
		if string(h.DID) == leader {
			d.mu.Lock()
			p := d.parents[pl.Federation]
			d.mu.Unlock()
			if p != nil {
				p.Follow(h.Addr)
			}
		}
	}
}

// reannounce refreshes every parent's routes over the current links; it
// reports whether all took them.
func (d *Plane) reannounce() bool {
	all := true
	for i := range d.opts.Parents {
		pl := &d.opts.Parents[i]
		d.mu.Lock()
		p := d.parents[pl.Federation]
		d.mu.Unlock()
		if p == nil {
			all = false
			continue
		}
		// Only over a live link: a link being dialled announces when it connects.
		ctx, cancel := context.WithTimeout(d.ctx, 50*time.Millisecond)
		c, err := p.Conn(ctx)
		cancel()
		if err != nil || !d.announce(d.ctx, pl, c) {
			all = false
		}
	}
	return all
}
