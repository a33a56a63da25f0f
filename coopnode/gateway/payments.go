package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/payment"
	"github.com/icn-coop/icn/routing"
)

// Router routes a verified payment to another co-op: it holds the amount,
// has the hub decide, and applies the outcome (see coopnode/hubpeer).
type Router interface {
	Route(ctx context.Context, t ledger.Transfer, signer identity.DID, expires time.Time) (ledger.Payment, error)
}

type paymentReq struct {
	Intent    string `json:"intent"`
	Signature string `json:"signature"`
}

type paymentResp struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	EntryHash string `json:"entry_hash"`
}

// Payment reasons the gateway gives.
const (
	ReasonNoRoute      = "no_route"
	ReasonUnknownPayee = "unknown_payee"
)

func (g *Gateway) postPayment(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req paymentReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	raw, err := b64Field("intent", req.Intent)
	if err != nil {
		return err
	}
	sig, err := b64Field("signature", req.Signature)
	if err != nil {
		return err
	}
	in, err := payment.Check(raw, payment.Rules{Currencies: g.cfg.Ledger.Currencies(), Horizon: g.cfg.IntentHorizon}, g.cfg.Clock())
	if err != nil {
		return err
	}
	if identity.DID(in.From) != c.DID {
		return errf(http.StatusForbidden, "from_mismatch", "the intent's from must be the logged-in DID")
	}
	signer, err := g.verifyBy(c, raw, sig)
	if err != nil {
		return err
	}
	t := ledger.Transfer{
		ID: in.ID, From: ledger.Account(in.From), To: ledger.Account(in.To), FromCoop: g.cfg.CoopID, ToCoop: in.ToCoop,
		Amount: in.Amount, Memo: in.Memo, CreatedAt: in.Created, Intent: raw, Signature: sig,
	}
	p, err := g.settle(r, t, signer, in.Expires)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, paymentResp{ID: p.ID, Status: string(p.Status), Reason: p.Reason, EntryHash: p.EntryHash})
	return nil
}

// settle decides a verified intent: a repeat gets its first outcome; a new one
// must be current, to a member of this co-op (other co-ops have no route yet).
func (g *Gateway) settle(r *http.Request, t ledger.Transfer, signer identity.DID, expires time.Time) (ledger.Payment, error) {
	ctx := r.Context()
	if p, err := g.cfg.Ledger.Payment(t.ID); err == nil {
		if p.Hold && g.cfg.Router != nil {
			return g.cfg.Ledger.Hold(ctx, t) // as it stands now, or modified_request
		}
		return g.cfg.Ledger.Pay(ctx, t) // first outcome, or modified_request
	}
	now := g.cfg.Clock()
	if !now.Before(expires) {
		return ledger.Payment{}, errf(http.StatusBadRequest, payment.CodeExpired, "the intent expired at %s; sign a new one", rfc3339(expires))
	}
	if t.ToCoop != g.cfg.CoopID {
		if g.cfg.Router == nil {
			return g.cfg.Ledger.Reject(ctx, t, ReasonNoRoute)
		}
		return g.cfg.Router.Route(ctx, t, signer, expires)
	}
	if _, err := g.cfg.Members.Authorize(identity.DID(t.To), now); err != nil {
		return g.cfg.Ledger.Reject(ctx, t, ReasonUnknownPayee)
	}
	return g.cfg.Ledger.Pay(ctx, t)
}

// verifyBy checks a member's payment intent signature: with the key of the
// session's device first, then with the member's other login keys. It
// returns the DID of the key that signed. Every key tried counts as one
// verification in the metrics.
func (g *Gateway) verifyBy(c *caller, payload, sig []byte) (identity.DID, error) {
	keys := g.cfg.Members.LoginKeys(c.DID, g.cfg.Clock())
	verify := func(d membership.Device) bool {
		g.metrics.sigs.Inc(routing.SignedIntent)
		return payment.Verify(d.PublicKey, payload, sig) == nil
	}
	for _, d := range keys {
		if d.ID == c.Device && verify(d) {
			return identity.DIDFromKey(d.PublicKey), nil
		}
	}
	for _, d := range keys {
		if d.ID != c.Device && verify(d) {
			return identity.DIDFromKey(d.PublicKey), nil
		}
	}
	return "", errf(http.StatusUnauthorized, "invalid_signature", "the signature does not verify with any active key of %s", c.DID)
}

type balanceResp struct {
	DID         string `json:"did"`
	Currency    string `json:"currency"`
	Balance     string `json:"balance"`
	Available   string `json:"available"`
	CreditLimit string `json:"credit_limit"`
	Held        string `json:"held"`
	Pending     string `json:"pending"`
}

func (g *Gateway) currency(r *http.Request) (money.Currency, error) {
	code := r.URL.Query().Get("currency")
	if code == "" {
		code = money.Hours.Code
	}
	return g.cfg.Ledger.Currencies().Lookup(code)
}

func (g *Gateway) getBalance(w http.ResponseWriter, r *http.Request, _ *caller) error {
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	cur, err := g.currency(r)
	if err != nil {
		return err
	}
	b, err := g.cfg.Ledger.Balance(ledger.Account(did), cur)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, balanceResp{
		DID: string(did), Currency: cur.Code, Balance: b.Balance.String(), Available: b.Available.String(),
		CreditLimit: b.CreditLimit.String(), Held: b.Held.String(), Pending: b.PendingIn.String(),
	})
	return nil
}

// HistoryEntry is one row of a member's history, as API.md fixes it.
type HistoryEntry struct {
	ID        string `json:"id"`
	From      string `json:"from"`
	To        string `json:"to"`
	FromCoop  string `json:"from_coop"`
	ToCoop    string `json:"to_coop"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Memo      string `json:"memo"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	CreatedAt string `json:"created_at"`
	EntryHash string `json:"entry_hash"`
}

type historyResp struct {
	Entries []HistoryEntry `json:"entries"`
	Next    string         `json:"next"`
}

func (g *Gateway) getHistory(w http.ResponseWriter, r *http.Request, _ *caller) error {
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 50
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 200 {
			return errf(http.StatusBadRequest, "invalid_request", "limit must be a whole number from 1 to 200")
		}
	}
	var before uint64
	if s := q.Get("before"); s != "" {
		if before, err = strconv.ParseUint(s, 10, 64); err != nil || before == 0 {
			return errf(http.StatusBadRequest, "invalid_cursor", "before must be a cursor from a previous page's next")
		}
	}
	page, next, err := g.cfg.Ledger.History(ledger.Account(did), limit, before)
	if err != nil {
		return err
	}
	resp := historyResp{Entries: make([]HistoryEntry, 0, len(page))}
	for _, p := range page {
		from, fromCoop := p.Sender() // the paying member, not the clearing account
		resp.Entries = append(resp.Entries, HistoryEntry{
			ID: p.ID, From: from, To: string(p.To), FromCoop: fromCoop, ToCoop: p.ToCoop,
			Amount: p.Amount.String(), Currency: p.Amount.Currency().Code, Memo: p.Memo, Status: string(p.Status),
			Reason: p.Reason, CreatedAt: rfc3339(p.CreatedAt), EntryHash: p.EntryHash,
		})
	}
	if next != 0 {
		resp.Next = strconv.FormatUint(next, 10)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (g *Gateway) getPayment(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := g.cfg.Ledger.Payment(r.PathValue("id"))
	if errors.Is(err, ledger.ErrNotFound) {
		return errf(http.StatusNotFound, "not_found", "no payment with this id")
	}
	if err != nil {
		return err
	}
	mine := p.From == ledger.Account(c.DID) || (p.To == ledger.Account(c.DID) && p.Status != ledger.StatusRejected)
	if !mine && !c.hasRole(membership.RoleModerator, membership.RoleTreasurer) {
		// Same answer as a missing id: a member can't probe others' payment ids.
		return errf(http.StatusNotFound, "not_found", "no payment with this id")
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": p.ID, "status": string(p.Status), "reason": p.Reason})
	return nil
}
