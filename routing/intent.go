package routing

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/proto/icnv1"
)

// Intent is a payment intent exactly as API.md fixes it: the JSON a payer's
// app signs (tag icn/v1/payment-intent). Every hop of a cross-co-op
// transfer carries the signed bytes unchanged.
type Intent struct {
	ID        string `json:"id"`
	From      string `json:"from"`
	To        string `json:"to"`
	ToCoop    string `json:"to_coop"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Memo      string `json:"memo"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
}

// ErrIntent: intent bytes that are not one strict JSON intent object.
var ErrIntent = errors.New("routing: malformed intent")

// DecodeIntent decodes intent bytes strictly: one JSON object, no unknown
// fields, nothing after it. It checks no signature and no field values.
func DecodeIntent(raw []byte) (Intent, error) {
	var in Intent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Intent{}, fmt.Errorf("%w: %v", ErrIntent, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Intent{}, fmt.Errorf("%w: data after the object", ErrIntent)
	}
	return in, nil
}

// Expiry parses the intent's expires_at.
func (in Intent) Expiry() (time.Time, error) {
	t, err := time.Parse(time.RFC3339, in.ExpiresAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: expires_at: %v", ErrIntent, err)
	}
	return t, nil
}

// IntentHash is the SHA-256 of a signed intent's bytes: what receipts and
// the hub's transfer records bind to.
func IntentHash(payload []byte) [32]byte { return sha256.Sum256(payload) }

// VerifyIntent checks a signed intent's signature with the key named by its
// signer (a device key of the payer; only the payer's co-op knows which
// devices belong to whom, and it checked that before sending).
func VerifyIntent(sm *icnv1.SignedMessage) error {
	if sm == nil {
		return fmt.Errorf("%w: no intent", ErrIntent)
	}
	return identity.VerifyDID(identity.DID(sm.GetSigner()), identity.TagPaymentIntent, sm.GetPayload(), sm.GetSignature())
}

// Receipt errors.
var (
	// ErrReceipt: a receipt that does not decode, or answers another
	// transfer or intent.
	ErrReceipt = errors.New("routing: bad receipt")
	// ErrReceiptSigner: a receipt signed by someone other than the co-op
	// that had to answer.
	ErrReceiptSigner = errors.New("routing: receipt signed by the wrong node")
)

// SignReceipt encodes r deterministically and signs it with key.
func SignReceipt(key *identity.Key, r *icnv1.TransferReceipt) (*icnv1.SignedMessage, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("sign receipt %s: %w", r.GetTransferId(), err)
	}
	return &icnv1.SignedMessage{Payload: b, Signer: string(key.DID()), Signature: key.Sign(identity.TagTransferReceipt, b)}, nil
}

// VerifyReceipt checks that sm is a receipt signed by coop for transfer id
// and the intent with hash intentHash, and returns it.
func VerifyReceipt(sm *icnv1.SignedMessage, coop identity.DID, id string, intentHash [32]byte) (*icnv1.TransferReceipt, error) {
	if sm == nil {
		return nil, fmt.Errorf("%w: missing", ErrReceipt)
	}
	if identity.DID(sm.GetSigner()) != coop {
		return nil, fmt.Errorf("%w: signed by %.80s, want %s", ErrReceiptSigner, sm.GetSigner(), coop)
	}
	if err := identity.VerifyDID(coop, identity.TagTransferReceipt, sm.GetPayload(), sm.GetSignature()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReceiptSigner, err)
	}
	r := &icnv1.TransferReceipt{}
	if err := proto.Unmarshal(sm.GetPayload(), r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	if r.GetTransferId() != id || !bytes.Equal(r.GetIntentHash(), intentHash[:]) || identity.DID(r.GetCoop()) != coop {
		return nil, fmt.Errorf("%w: it answers transfer %.80q of %.80s", ErrReceipt, r.GetTransferId(), r.GetCoop())
	}
	return r, nil
}

// Answer is the signed reply of the node of key to a prepare: an accept
// when reason is empty, else a reject with reason, both carrying a receipt
// bound to the transfer and its intent.
func Answer(key *identity.Key, p *icnv1.TransferPrepare, reason string) (*icnv1.Envelope, error) {
	h := IntentHash(p.GetIntent().GetPayload())
	r, err := SignReceipt(key, &icnv1.TransferReceipt{TransferId: p.GetTransferId(), IntentHash: h[:],
		Accept: reason == "", Reason: reason, Coop: string(key.DID())})
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return &icnv1.Envelope{Body: &icnv1.Envelope_Reject{Reject: &icnv1.TransferReject{TransferId: p.GetTransferId(), Reason: reason, Receipt: r}}}, nil
	}
	return &icnv1.Envelope{Body: &icnv1.Envelope_Accept{Accept: &icnv1.TransferAccept{TransferId: p.GetTransferId(), Receipt: r}}}, nil
}
