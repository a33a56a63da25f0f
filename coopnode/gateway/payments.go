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
	"github.com/icn-coop/icn/routing"
)

// Intent is a payment intent exactly as API.md fixes it.
type Intent = routing.Intent

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
	maxMemo            = 256
	maxClockSkew       = 5 * time.Minute
)

// ParseIntent decodes and checks intent bytes from outside: strict JSON,
// well-formed id, DIDs, amount and times. It checks no signature and no state.
func ParseIntent(raw []byte, cs money.Currencies) (Intent, money.Amount, error) {
	var in Intent
	if err := decodeStrict(raw, &in); err != nil {
		return in, money.Amount{}, errf(http.StatusBadRequest, "invalid_intent", "intent: %s", err.(*apiError).Message)
	}
	if !validID(in.ID) {
		return in, money.Amount{}, errf(http.StatusBadRequest, "invalid_intent", "intent id must be 1-128 characters of letters, digits, '-', '_', '.', ':'")
	}
	if _, _, err := identity.ParseDID(in.From); err != nil {
		return in, money.Amount{}, err
	}
	if _, _, err := identity.ParseDID(in.To); err != nil {
		return in, money.Amount{}, err
	}
	if in.From == in.To {
		return in, money.Amount{}, errf(http.StatusBadRequest, "invalid_intent", "from and to are the same DID")
	}
	if in.ToCoop == "" || len(in.ToCoop) > 64 {
		return in, money.Amount{}, errf(http.StatusBadRequest, "invalid_intent", "to_coop must be 1-64 characters")
	}
	if len(in.Memo) > maxMemo {
		return in, money.Amount{}, errf(http.StatusBadRequest, "invalid_intent", "memo is longer than %d bytes", maxMemo)
	}
	cur, err := cs.Lookup(in.Currency)
	if err != nil {
		return in, money.Amount{}, err
	}
	amt, err := money.ParsePayment(in.Amount, cur)
	if err != nil {
		return in, money.Amount{}, err
	}
	for name, v := range map[string]string{"created_at": in.CreatedAt, "expires_at": in.ExpiresAt} {
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return in, money.Amount{}, errf(http.StatusBadRequest, "invalid_intent", "%s must be an RFC 3339 time", name)
		}
	}
	return in, amt, nil
}

func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return false
		}
	}
	return true
}

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
	in, amt, err := ParseIntent(raw, g.cfg.Ledger.Currencies())
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
	created, _ := time.Parse(time.RFC3339, in.CreatedAt)
	expires, _ := time.Parse(time.RFC3339, in.ExpiresAt)
	t := ledger.Transfer{
		ID: in.ID, From: ledger.Account(in.From), To: ledger.Account(in.To), FromCoop: g.cfg.CoopID, ToCoop: in.ToCoop,
		Amount: amt, Memo: in.Memo, CreatedAt: created, Intent: raw, Signature: sig,
	}
	p, err := g.settle(r, t, signer, expires)
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
		return ledger.Payment{}, errf(http.StatusBadRequest, "intent_expired", "the intent expired at %s; sign a new one", rfc3339(expires))
	}
	if t.CreatedAt.After(now.Add(maxClockSkew)) {
		return ledger.Payment{}, errf(http.StatusBadRequest, "invalid_intent", "created_at is in the future; check the device clock")
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
		return identity.Verify(d.PublicKey, identity.TagPaymentIntent, payload, sig) == nil
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
		resp.Entries = append(resp.Entries, HistoryEntry{
			ID: p.ID, From: string(p.From), To: string(p.To), FromCoop: p.FromCoop, ToCoop: p.ToCoop,
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
