package hubpeer

import (
	"context"
	"fmt"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/payment"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// reconcileBatch bounds one outcome query.
const reconcileBatch = 500

// reconcileLoop finishes open transfers: at every connect and then
// periodically it asks the hub leader for their outcomes and applies them.
// The query also moves a client connected to a follower to the leader.
func (c *Client) reconcileLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.ReconcileEvery)
	defer t.Stop()
	var lastSync time.Time
	for {
		select {
		case <-t.C:
		case <-c.kick:
		case <-c.ctx.Done():
			return
		}
		if err := c.Reconcile(c.ctx); err != nil && c.ctx.Err() == nil {
			c.log.Debug("reconcile", "err", err)
		}
		if time.Since(lastSync) >= c.cfg.StatementsEvery {
			lastSync = time.Now()
			if err := c.SyncStatements(c.ctx); err != nil && c.ctx.Err() == nil {
				c.log.Debug("sync settlement statements", "err", err)
			}
		}
	}
}

// Reconcile asks the hub for the outcome of every open transfer and
// applies the decided ones. A payment the hub has never seen is sent again:
// every step is keyed by the transfer id, so a repeat is harmless, and one
// sent after its expiry is rejected as expired.
//
// A query the hub refuses as larger than this co-op's trust class allows
// (payload_too_large: 500 ids are about 14 KB, over the known class's
// 10 KiB) halves the batch for every later query.
func (c *Client) Reconcile(ctx context.Context) error {
	c.mu.Lock()
	batch := c.queryBatch
	c.mu.Unlock()
	if batch <= 0 {
		batch = reconcileBatch
	}
	open, err := c.cfg.Ledger.OpenTransfers(batch)
	if err != nil {
		return err
	}
	ids := make([]string, len(open))
	for i, p := range open {
		ids[i] = p.ID
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.call(ctx, &icnv1.Envelope{Body: &icnv1.Envelope_OutcomeQuery{OutcomeQuery: &icnv1.OutcomeQuery{TransferIds: ids}}})
	if err != nil {
		return err
	}
	if e := resp.GetError(); e.GetCode() == "payload_too_large" && len(ids) > 1 {
		c.mu.Lock()
		c.queryBatch = len(ids) / 2
		c.mu.Unlock()
		return fmt.Errorf("the hub refused an outcome query of %d transfers: %s: %s; asking about %d at a time", len(ids), e.GetCode(), e.GetMessage(), len(ids)/2)
	}
	byID := make(map[string]*icnv1.TransferOutcome, len(open))
	for _, o := range resp.GetOutcomes().GetOutcomes() {
		byID[o.GetTransferId()] = o
	}
	for _, p := range open {
		o := byID[p.ID]
		switch {
		case o == nil:
		case o.GetState() != icnv1.TransferState_TRANSFER_STATE_UNSPECIFIED:
			if _, err := c.applyOut(ctx, o); err != nil {
				c.log.Warn("apply outcome", "transfer", p.ID, "err", err)
			}
		case p.Hold:
			c.resend(p)
		}
	}
	return nil
}

// resend drives a held payment the hub does not know, in the background,
// unless it is being routed already.
func (c *Client) resend(p ledger.Payment) {
	release, busy := c.claim(p.ID)
	if busy != nil {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer release()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Wait)
		defer cancel()
		prep, ok := c.prepareFor(ctx, p)
		if !ok {
			return
		}
		prep.Retry = true // sent before the restart, perhaps
		if out := c.drive(ctx, prep); out != nil {
			if _, err := c.applyOut(ctx, out); err != nil {
				c.log.Warn("apply outcome", "transfer", p.ID, "err", err)
			}
		}
	}()
}

// prepareFor rebuilds the prepare of a held payment. If the device that
// signed it is gone the hub cannot check the intent any more; the transfer
// never reached the hub (it said so, and nobody else routes it), so the
// hold is released.
func (c *Client) prepareFor(ctx context.Context, p ledger.Payment) (*icnv1.TransferPrepare, bool) {
	in, err := payment.Decode(p.Intent)
	if err != nil {
		return nil, false
	}
	exp, err := in.Expiry()
	if err != nil {
		return nil, false
	}
	signer, ok := c.cfg.Members.SignerOf(identity.DID(in.From), p.Intent, p.Signature, c.cfg.Clock())
	if !ok {
		if _, err := c.cfg.Ledger.ReleaseHold(ctx, p.ID, "expired"); err != nil {
			c.log.Warn("release unroutable hold", "transfer", p.ID, "err", err)
		}
		return nil, false
	}
	held := ledger.Transfer{ID: p.ID, ToCoop: p.ToCoop, Amount: p.Amount, Intent: p.Intent, Signature: p.Signature}
	return c.prepareOf(held, signer, exp), true
}
