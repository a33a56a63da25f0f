package payment

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Intent is a payment intent exactly as API.md fixes it: the JSON a payer's
// app signs (tag icn/v1/payment-intent). Every hop of a cross-co-op
// transfer carries the signed bytes unchanged; nobody re-serialises it.
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

// required are the intent's fields a payer must send; memo may be left out
// (it is then empty).
var required = []string{"id", "from", "to", "to_coop", "amount", "currency", "created_at", "expires_at"}

// Limits on an intent's parts.
const (
	MaxBytes     = 4 << 10 // the whole intent
	MaxIDLen     = 128
	MaxCoopLen   = 64
	MaxMemoBytes = 256
)

// Wire codes of refused intents (API.md).
const (
	CodeInvalid    = "invalid_intent"      // malformed, or a field out of its rules
	CodeTimeWindow = "invalid_time_window" // expires_at not after created_at
	CodeTooFar     = "expiry_too_far"      // expires_at beyond the horizon
	CodeExpired    = "intent_expired"
)

// Error is a refused intent: Code is its wire code, Err the cause. Amount
// and DID errors keep their own codes (money.Error, identity.Code).
type Error struct {
	Code string
	Err  error
}

func (e *Error) Error() string { return "intent: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrIntent is wrapped by every Error, for callers that need not tell
// the causes apart.
var ErrIntent = errors.New("invalid payment intent")

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf("%w: "+format, append([]any{ErrIntent}, args...)...)}
}

// Decode decodes intent bytes strictly (identity.DecodeJSON: one object,
// exactly the intent's fields, each once, in their exact case, UTF-8, no
// null, nothing after it). It checks no field values and no signature.
func Decode(raw []byte) (Intent, error) {
	if len(raw) > MaxBytes {
		return Intent{}, refuse(CodeInvalid, "%d bytes, at most %d", len(raw), MaxBytes)
	}
	var in Intent
	if err := identity.DecodeJSON(raw, &in, required...); err != nil {
		return Intent{}, &Error{Code: CodeInvalid, Err: fmt.Errorf("%w: %w", ErrIntent, err)}
	}
	return in, nil
}

// Expiry parses the intent's expires_at.
func (in Intent) Expiry() (time.Time, error) { return parseTime("expires_at", in.ExpiresAt) }

// Hash is the SHA-256 of a signed intent's bytes: what receipts and the
// hub's transfer records bind to.
func Hash(raw []byte) [32]byte { return sha256.Sum256(raw) }

// Verify checks sig over raw under the payment-intent tag with pub.
func Verify(pub ed25519.PublicKey, raw, sig []byte) error {
	return identity.Verify(pub, identity.TagPaymentIntent, raw, sig)
}

// VerifyBy checks sig over raw with the key named by the DID signer (a device
// key of the payer: only the payer's co-op knows which keys are whose).
func VerifyBy(signer identity.DID, raw, sig []byte) error {
	return identity.VerifyDID(signer, identity.TagPaymentIntent, raw, sig)
}
