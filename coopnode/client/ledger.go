package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/icn-coop/icn/identity"
)

// DefaultCurrency fills an intent without a currency.
const DefaultCurrency = "hours"

// DefaultPaymentTTL is how long an intent without expires_at stays valid.
const DefaultPaymentTTL = 5 * time.Minute

// NewPaymentID returns a fresh payment id: a UUIDv7, unique and time-ordered.
func NewPaymentID() string {
	id, err := uuid.NewV7()
	if err != nil { // only if the system's random source fails
		return uuid.NewString()
	}
	return id.String()
}

// Pay signs intent with key and submits it to the session's co-op.
//
// Empty fields are filled first: ID (NewPaymentID), From (key's DID),
// ToCoop (the session's co-op, an internal payment), Currency
// (DefaultCurrency), CreatedAt (now) and ExpiresAt (CreatedAt +
// DefaultPaymentTTL). The intent is marshalled once and those exact bytes
// are signed with the payment-intent tag and sent. To retry a payment
// safely after an unknown outcome, set ID yourself and resend the same
// intent: the gateway returns the first outcome and moves nothing twice.
//
// A gateway decision ("committed", "pending", "rejected") is a result, not
// an error; check PaymentResult.Status.
func (s *Session) Pay(ctx context.Context, intent PaymentIntent, key *identity.Key) (*PaymentResult, error) {
	if key == nil {
		return nil, errors.New("pay: no key")
	}
	intent = s.fillIntent(intent, key)
	b, err := json.Marshal(intent)
	if err != nil {
		return nil, fmt.Errorf("pay %s: encode intent: %w", intent.ID, err)
	}
	res, err := s.PayRaw(ctx, b, key.Sign(identity.TagPaymentIntent, b))
	if err != nil {
		return nil, fmt.Errorf("pay %s: %w", intent.ID, err)
	}
	return res, nil
}

func (s *Session) fillIntent(in PaymentIntent, key *identity.Key) PaymentIntent {
	now := s.c.now()
	if in.ID == "" {
		in.ID = NewPaymentID()
	}
	if in.From == "" {
		in.From = key.DID()
	}
	if in.ToCoop == "" {
		in.ToCoop = s.coopID
	}
	if in.Currency == "" {
		in.Currency = DefaultCurrency
	}
	if in.CreatedAt == "" {
		in.CreatedAt = FormatTime(now)
	}
	if in.ExpiresAt == "" {
		created, err := time.Parse(time.RFC3339, in.CreatedAt)
		if err != nil {
			created = now
		}
		in.ExpiresAt = FormatTime(created.Add(DefaultPaymentTTL))
	}
	return in
}

// PayRaw submits already-signed intent bytes as they are, for callers that
// build or sign intents themselves (and tests that send malformed ones).
func (s *Session) PayRaw(ctx context.Context, intentJSON, signature []byte) (*PaymentResult, error) {
	var res PaymentResult
	req := PaymentRequest{Intent: identity.B64(intentJSON), Signature: identity.B64(signature)}
	if err := s.do(ctx, "POST", "/ledger/"+seg(s.coopID)+"/payment", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Balance reads did's balance in currency ("" lets the gateway choose its default).
func (s *Session) Balance(ctx context.Context, coop string, did identity.DID, currency string) (*Balance, error) {
	p := "/ledger/" + seg(coop) + "/balance/" + seg(string(did))
	if currency != "" {
		p += "?" + url.Values{"currency": {currency}}.Encode()
	}
	var b Balance
	if err := s.do(ctx, "GET", p, nil, &b); err != nil {
		return nil, fmt.Errorf("balance %s: %w", did.Short(), err)
	}
	return &b, nil
}

// History reads one page of did's payments, newest first: at most limit
// entries (0 lets the gateway choose), older than the cursor before ("" for
// the newest). Pass the returned Next as before to read the following page.
func (s *Session) History(ctx context.Context, coop string, did identity.DID, limit int, before string) (*History, error) {
	p := "/ledger/" + seg(coop) + "/history/" + seg(string(did))
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before != "" {
		q.Set("before", before)
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var h History
	if err := s.do(ctx, "GET", p, nil, &h); err != nil {
		return nil, fmt.Errorf("history %s: %w", did.Short(), err)
	}
	if h.Entries == nil {
		h.Entries = []HistoryEntry{}
	}
	return &h, nil
}

// PaymentStatus reads the outcome of payment id.
func (s *Session) PaymentStatus(ctx context.Context, coop, id string) (*PaymentResult, error) {
	var res PaymentResult
	if err := s.do(ctx, "GET", "/payments/"+seg(coop)+"/"+seg(id), nil, &res); err != nil {
		return nil, fmt.Errorf("payment %s: %w", id, err)
	}
	return &res, nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }
