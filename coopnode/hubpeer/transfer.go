package hubpeer

import (
	"context"
	"errors"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/payment"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// Reason codes the co-op side gives.
const (
	ReasonUnknownPayee = "unknown_payee"
	ReasonInvalid      = "invalid_intent"
)

// Route sends a member's verified cross-co-op payment: it holds the amount,
// asks the hub to route it, and applies the outcome. t.Intent and
// t.Signature are the signed intent, signer the DID of the key that signed
// it. If no outcome arrives within the configured wait the payment is
// returned pending; the reconciler finishes it.
func (c *Client) Route(ctx context.Context, t ledger.Transfer, signer identity.DID, expires time.Time) (ledger.Payment, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Wait)
	defer cancel()
	// Claimed before the hold is written, so the reconciler never resends a
	// hold that this call is about to send.
	release, err := c.claimWait(ctx, t.ID)
	if err != nil {
		return c.cfg.Ledger.Payment(t.ID)
	}
	defer release()
	p, err := c.cfg.Ledger.Hold(ctx, t)
	if err != nil || p.Status != ledger.StatusPending {
		return p, err
	}
	if out := c.drive(ctx, c.prepareOf(t, signer, expires)); out != nil {
		return c.applyKnown(ctx, p, out)
	}
	return c.cfg.Ledger.Payment(t.ID)
}

// prepareOf is the prepare this co-op sends its hub for held transfer t,
// whose intent signer signed.
func (c *Client) prepareOf(t ledger.Transfer, signer identity.DID, expires time.Time) *icnv1.TransferPrepare {
	return &icnv1.TransferPrepare{
		TransferId: t.ID, Intent: &icnv1.SignedMessage{Payload: t.Intent, Signer: string(signer), Signature: t.Signature},
		FromCoop: string(c.cfg.Key.DID()), ToCoop: t.ToCoop, Currency: t.Amount.Currency().Code,
		AmountUnits: t.Amount.Units(), ExpiresAtUnixNano: expires.UnixNano(),
	}
}

// claim marks transfer id as routed by the caller, who must call release
// once the outcome is applied; if someone else routes it, busy is closed
// when they are done.
func (c *Client) claim(id string) (release func(), busy <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.inflight[id]; ok {
		return nil, ch
	}
	ch := make(chan struct{})
	c.inflight[id] = ch
	return func() {
		c.mu.Lock()
		delete(c.inflight, id)
		c.mu.Unlock()
		close(ch)
	}, nil
}

// claimWait claims id, first waiting for whoever routes it already (a
// retried request, or the reconciler resending it) to finish.
func (c *Client) claimWait(ctx context.Context, id string) (release func(), err error) {
	for {
		release, busy := c.claim(id)
		if busy == nil {
			return release, nil
		}
		if c.testHookBusy != nil {
			c.testHookBusy(id)
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// drive sends prep to the hub leader and returns the outcome, or nil if it
// is not known yet. The caller holds the transfer's claim.
func (c *Client) drive(ctx context.Context, prep *icnv1.TransferPrepare) *icnv1.TransferOutcome {
	resp, err := c.call(ctx, &icnv1.Envelope{Body: &icnv1.Envelope_Prepare{Prepare: prep}})
	if err != nil {
		c.log.Debug("prepare not answered", "transfer", prep.GetTransferId(), "err", err)
		return nil
	}
	if out := resp.GetOutcome(); out != nil {
		return out
	}
	if e := resp.GetError(); e != nil {
		// The hub refused the prepare before recording anything: final.
		c.log.Warn("hub refused prepare", "transfer", prep.GetTransferId(), "code", e.GetCode(), "message", e.GetMessage())
		return &icnv1.TransferOutcome{TransferId: prep.GetTransferId(), State: icnv1.TransferState_TRANSFER_STATE_REJECTED, Reason: e.GetCode()}
	}
	return nil
}

// applyOut applies a decided outcome to whichever side of the transfer this
// co-op holds, and returns the payment as it now stands.
func (c *Client) applyOut(ctx context.Context, out *icnv1.TransferOutcome) (ledger.Payment, error) {
	id := out.GetTransferId()
	p, err := c.cfg.Ledger.Payment(id)
	if err != nil {
		return p, err
	}
	committed := out.GetState() == icnv1.TransferState_TRANSFER_STATE_COMMITTED
	decided := committed || out.GetState() == icnv1.TransferState_TRANSFER_STATE_ABORTED ||
		out.GetState() == icnv1.TransferState_TRANSFER_STATE_REJECTED
	if !decided || p.Status != ledger.StatusPending {
		return p, nil
	}
	return c.decide(ctx, p, committed, out.GetReason())
}

// applyKnown is applyOut for a transfer whose record the caller has just
// written (p: the pending hold or credit, as Hold or CreditPending
// returned it), without reading the record again: one read transaction
// and record decode fewer per payment on each side. Deciding is
// idempotent, so a record the reconciler decided meanwhile the same way
// comes back unchanged; one decided otherwise is read back as it stands,
// as applyOut would have found it.
func (c *Client) applyKnown(ctx context.Context, p ledger.Payment, out *icnv1.TransferOutcome) (ledger.Payment, error) {
	committed := out.GetState() == icnv1.TransferState_TRANSFER_STATE_COMMITTED
	decided := committed || out.GetState() == icnv1.TransferState_TRANSFER_STATE_ABORTED ||
		out.GetState() == icnv1.TransferState_TRANSFER_STATE_REJECTED
	if !decided || p.Status != ledger.StatusPending || p.ID != out.GetTransferId() || !(p.Hold || p.PendingCredit) {
		return c.applyOut(ctx, out)
	}
	got, err := c.decide(ctx, p, committed, out.GetReason())
	if errors.Is(err, ledger.ErrFinal) {
		// Decided otherwise meanwhile (not by the hub's final outcome, so
		// never in practice): the record as it stands, as applyOut gives.
		return c.cfg.Ledger.Payment(p.ID)
	}
	return got, err
}

// decide applies a decided outcome to p, this co-op's pending side of the
// transfer: committed, or rejected with reason.
func (c *Client) decide(ctx context.Context, p ledger.Payment, committed bool, reason string) (ledger.Payment, error) {
	id := p.ID
	if reason == "" {
		reason = "rejected"
	}
	switch {
	case p.PendingCredit && committed:
		return c.cfg.Ledger.CommitCredit(ctx, id)
	case p.PendingCredit:
		return c.cfg.Ledger.VoidCredit(ctx, id, reason)
	case committed:
		return c.cfg.Ledger.CommitHold(ctx, id, c.clearing)
	default:
		return c.cfg.Ledger.ReleaseHold(ctx, id, reason)
	}
}

// incoming serves a stream the hub opened: a transfer for one of this
// co-op's members. It records a pending credit, answers a signed accept (or
// reject), then applies the outcome the hub sends on the same stream.
func (c *Client) incoming(s *routing.Stream) {
	var env icnv1.Envelope
	if err := s.Recv(&env); err != nil {
		s.Abort()
		return
	}
	prep := env.GetPrepare()
	if prep == nil {
		_ = s.Send(&icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: "unsupported", Message: routing.MessageType(&env)}}})
		return
	}
	expires := time.Unix(0, prep.GetExpiresAtUnixNano())
	ctx, cancel := context.WithDeadline(c.ctx, expires.Add(5*time.Second))
	defer cancel()
	pending, reason := c.accept(ctx, prep)
	answer, err := routing.Answer(c.cfg.Key, prep, reason)
	if err != nil {
		s.Abort()
		return
	}
	_ = s.SetDeadline(expires.Add(5 * time.Second))
	if err := s.Send(answer); err != nil || reason != "" {
		return
	}
	var outcome icnv1.Envelope
	if err := s.Recv(&outcome); err != nil || outcome.GetOutcome() == nil {
		c.poke() // the reconciler asks the hub
		return
	}
	if _, err := c.applyKnown(ctx, pending, outcome.GetOutcome()); err != nil {
		c.log.Warn("apply outcome", "transfer", prep.GetTransferId(), "err", err)
	}
}

// accept checks an incoming prepare and records the pending credit; it
// returns the payment as recorded and "" to accept, or the reason to
// refuse.
func (c *Client) accept(ctx context.Context, p *icnv1.TransferPrepare) (ledger.Payment, string) {
	c.cfg.Signatures.Inc(routing.SignedIntent)
	intent := p.GetIntent()
	if err := payment.VerifyBy(identity.DID(intent.GetSigner()), intent.GetPayload(), intent.GetSignature()); err != nil {
		return ledger.Payment{}, ReasonInvalid
	}
	in, err := payment.Check(intent.GetPayload(), payment.Rules{Currencies: c.cfg.Ledger.Currencies(), Horizon: c.cfg.IntentHorizon}, c.cfg.Clock())
	switch {
	case err != nil, in.ID != p.GetTransferId(), in.ToCoop != c.cfg.CoopID && in.ToCoop != string(c.cfg.Key.DID()),
		in.Amount.Units() != p.GetAmountUnits(), in.Currency != p.GetCurrency():
		return ledger.Payment{}, ReasonInvalid
	}
	if !c.cfg.Members.IsMember(identity.DID(in.To), c.cfg.Clock()) {
		return ledger.Payment{}, ReasonUnknownPayee
	}
	// The clearing account is what the ledger posts against; the payee's
	// history and events name the paying member (signed in the intent) and
	// its co-op's id (which the hub that took the payment stamps).
	pay, err := c.cfg.Ledger.CreditPending(ctx, ledger.Transfer{
		ID: in.ID, From: c.clearing, To: ledger.Account(in.To), FromCoop: p.GetFromCoop(), ToCoop: c.cfg.CoopID,
		Amount: in.Amount, Memo: in.Memo, CreatedAt: in.Created, Intent: p.GetIntent().GetPayload(), Signature: p.GetIntent().GetSignature(),
		Payer: identity.DID(in.From), PayerCoop: p.GetFromCoopId(),
	})
	switch {
	case errors.Is(err, ledger.ErrModifiedRequest):
		return ledger.Payment{}, "modified_request"
	case err != nil:
		c.log.Warn("record pending credit", "transfer", in.ID, "err", err)
		return ledger.Payment{}, "receiver_error"
	case pay.Status == ledger.StatusRejected:
		return pay, pay.Reason
	}
	return pay, ""
}
