package settlement

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/icn-coop/icn/identity"
)

// Kinds of confirmation.
const (
	KindPaid     = "paid"     // the payer's treasurer marks an instruction paid
	KindReceived = "received" // the payee's treasurer confirms it received the payment
)

// MaxReferenceLen bounds a confirmation's free-text reference (bytes).
const MaxReferenceLen = 256

// Confirmation is a treasurer's statement about one settlement instruction
// of a report: that the payer paid it (KindPaid) or that the payee received
// it (KindReceived). It travels as identity.Signed with the JSON encoding of
// Encode as payload, signed with identity.TagSettlementConfirmation by the
// participant's own DID key (the co-op node's key, the DID the co-op is
// registered under): the payer's for KindPaid, the payee's for KindReceived.
//
// It names the report by hash and repeats the instruction's content, so a
// confirmation can never be taken for a different report or instruction.
type Confirmation struct {
	Kind        string
	Federation  identity.DID
	Period      uint64
	ReportHash  [32]byte
	Instruction int // index in Report.Instructions
	Currency    string
	From, To    identity.DID
	Amount      string // decimal with the currency's scale, as in the report
	Method      string // MethodHoursTransfer, MethodAssetSwap or MethodFiat
	Reference   string // payment reference (bank reference, transfer id, …), may be empty
	SignedAt    int64  // unix ns, the signer's clock (informational)
}

type confirmationJSON struct {
	Kind        string       `json:"kind"`
	Federation  identity.DID `json:"federation"`
	Period      uint64       `json:"period"`
	ReportHash  string       `json:"report_hash"`
	Instruction int          `json:"instruction"`
	Currency    string       `json:"currency"`
	From        identity.DID `json:"from"`
	To          identity.DID `json:"to"`
	Amount      string       `json:"amount"`
	Method      string       `json:"method"`
	Reference   string       `json:"reference"`
	SignedAt    int64        `json:"signed_at"`
}

// ValidMethod reports whether m is a known settlement method.
func ValidMethod(m string) bool {
	return m == MethodHoursTransfer || m == MethodAssetSwap || m == MethodFiat
}

// Check verifies that the confirmation is well formed (not that it matches
// any report).
func (c Confirmation) Check() error {
	if c.Kind != KindPaid && c.Kind != KindReceived {
		return fmt.Errorf("%w: confirmation kind %.40q: want %q or %q", ErrInvalidArgument, c.Kind, KindPaid, KindReceived)
	}
	for _, d := range []struct {
		name string
		did  identity.DID
	}{{"federation", c.Federation}, {"from", c.From}, {"to", c.To}} {
		if _, _, err := identity.ParseDID(string(d.did)); err != nil {
			return fmt.Errorf("%w: confirmation %s: %w", ErrInvalidArgument, d.name, err)
		}
	}
	if c.Period == 0 {
		return fmt.Errorf("%w: confirmation period 0", ErrInvalidArgument)
	}
	if c.Instruction < 0 {
		return fmt.Errorf("%w: confirmation instruction %d", ErrInvalidArgument, c.Instruction)
	}
	if !ValidMethod(c.Method) {
		return fmt.Errorf("%w: method %.40q: want %s, %s or %s", ErrInvalidArgument, c.Method, MethodHoursTransfer, MethodAssetSwap, MethodFiat)
	}
	if len(c.Reference) > MaxReferenceLen || !utf8.ValidString(c.Reference) {
		return fmt.Errorf("%w: reference must be at most %d bytes of UTF-8", ErrInvalidArgument, MaxReferenceLen)
	}
	return nil
}

// Signer is the DID that must sign the confirmation: the payer for
// KindPaid, the payee for KindReceived.
func (c Confirmation) Signer() identity.DID {
	if c.Kind == KindPaid {
		return c.From
	}
	return c.To
}

// Encode returns the confirmation's JSON payload.
func (c Confirmation) Encode() []byte {
	b, err := json.Marshal(confirmationJSON{
		Kind: c.Kind, Federation: c.Federation, Period: c.Period, ReportHash: hex.EncodeToString(c.ReportHash[:]),
		Instruction: c.Instruction, Currency: c.Currency, From: c.From, To: c.To, Amount: c.Amount,
		Method: c.Method, Reference: c.Reference, SignedAt: c.SignedAt,
	})
	if err != nil { // strings and integers only
		panic("settlement: marshal confirmation: " + err.Error())
	}
	return b
}

// maxConfirmation bounds a confirmation payload.
const maxConfirmation = 4 << 10

// DecodeConfirmation parses a payload made by Encode strictly
// (identity.DecodeJSON, every field present) and checks it.
func DecodeConfirmation(b []byte) (Confirmation, error) {
	if len(b) > maxConfirmation {
		return Confirmation{}, fmt.Errorf("%w: confirmation of %d bytes", ErrInvalidArgument, len(b))
	}
	var j confirmationJSON
	if err := identity.DecodeJSON(b, &j, "kind", "federation", "period", "report_hash", "instruction", "currency",
		"from", "to", "amount", "method", "reference", "signed_at"); err != nil {
		return Confirmation{}, fmt.Errorf("%w: confirmation: %w", ErrInvalidArgument, err)
	}
	h, err := parseHash(j.ReportHash)
	if err != nil {
		return Confirmation{}, fmt.Errorf("%w: confirmation report_hash: %v", ErrInvalidArgument, err)
	}
	c := Confirmation{Kind: j.Kind, Federation: j.Federation, Period: j.Period, ReportHash: h,
		Instruction: j.Instruction, Currency: j.Currency, From: j.From, To: j.To, Amount: j.Amount,
		Method: j.Method, Reference: j.Reference, SignedAt: j.SignedAt}
	return c, c.Check()
}

// SignConfirmation checks c and signs it with k, which must be the key of
// c.Signer().
func SignConfirmation(k *identity.Key, c Confirmation) (identity.Signed, error) {
	if err := c.Check(); err != nil {
		return identity.Signed{}, err
	}
	if k.DID() != c.Signer() {
		return identity.Signed{}, fmt.Errorf("%w: a %s confirmation is signed by %s, not by %s", ErrInvalidArgument, c.Kind, c.Signer(), k.DID())
	}
	return identity.SignPayload(k, identity.TagSettlementConfirmation, c.Encode()), nil
}

// VerifyConfirmation decodes a signed confirmation, checks the signature
// (identity.TagSettlementConfirmation) and that the signer is the one the
// kind requires.
func VerifyConfirmation(s identity.Signed) (Confirmation, error) {
	c, err := DecodeConfirmation(s.Payload)
	if err != nil {
		return Confirmation{}, err
	}
	if s.Signer != c.Signer() {
		return Confirmation{}, fmt.Errorf("%w: a %s confirmation must be signed by %s, not by %s", ErrInvalidArgument, c.Kind, c.Signer(), s.Signer)
	}
	if err := s.Verify(identity.TagSettlementConfirmation); err != nil {
		return Confirmation{}, fmt.Errorf("confirmation signature: %w", err)
	}
	return c, nil
}

// ConfirmationFor fills a confirmation of instruction i of r (kind, method
// and reference given by the caller; SignedAt left to the caller).
func ConfirmationFor(r Report, i int, kind, method, reference string) (Confirmation, error) {
	if i < 0 || i >= len(r.Instructions) {
		return Confirmation{}, fmt.Errorf("%w: instruction %d: the report has %d (0..%d)", ErrInvalidArgument, i, len(r.Instructions), len(r.Instructions)-1)
	}
	in := r.Instructions[i]
	return Confirmation{Kind: kind, Federation: r.Federation, Period: r.Period, ReportHash: r.Hash(), Instruction: i,
		Currency: in.Currency, From: in.From, To: in.To, Amount: amountString(in.Amount, in.Currency, r.scales()),
		Method: method, Reference: reference}, nil
}
