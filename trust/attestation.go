package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/icn-coop/icn/identity"
)

// AttestationType is the "type" field of every trust attestation payload.
const AttestationType = "icn-trust-attestation"

// maxPayload bounds a payload before it is parsed; the canonical form is about 220 bytes.
const maxPayload = 4096

// Sentinel errors; test with errors.Is. Every error from DecodeAttestation and Validate wraps
// ErrAttestation, and also ErrWeight or ErrSelfTrust (or an identity DID error) when that is
// the cause, so callers can map the whole family to one status and still tell causes apart.
var (
	ErrAttestation = errors.New("malformed trust attestation")
	ErrSignature   = errors.New("trust attestation signature does not verify")
	ErrSelfTrust   = errors.New("a participant cannot attest trust in itself")
	ErrStale       = errors.New("trust attestation is not newer than the one held")
)

// Attestation says "From trusts To with Weight"; it is signed by From.
type Attestation struct {
	From, To identity.DID
	Weight   Weight
	// IssuedAt is in unix nanoseconds; a later attestation for the same (From, To) replaces
	// an earlier one.
	IssuedAt int64
}

// Payload returns the canonical bytes that From signs: compact JSON with the fields in a fixed
// order, the weight as a decimal string so that it never passes through a float:
//
//	{"type":"icn-trust-attestation","from":"did:icn:…","to":"did:icn:…","weight":"0.8","issued_at":1732000000000000000}
func (a Attestation) Payload() []byte {
	b := make([]byte, 0, 224)
	b = append(b, `{"type":"`+AttestationType+`","from":`...)
	b = appendJSONString(b, string(a.From))
	b = append(b, `,"to":`...)
	b = appendJSONString(b, string(a.To))
	b = append(b, `,"weight":"`...)
	b = append(b, a.Weight.String()...)
	b = append(b, `","issued_at":`...)
	b = strconv.AppendInt(b, a.IssuedAt, 10)
	return append(b, '}')
}

// appendJSONString quotes s; valid DIDs need no escaping, but Payload must stay valid JSON
// even for a value that Validate would reject.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // marshalling a string cannot fail
	return append(b, q...)
}

// Validate reports whether a could have come from a well-formed payload: both DIDs parse,
// From != To, the weight is within [0, 1] and IssuedAt is positive.
func (a Attestation) Validate() error {
	if _, _, err := identity.ParseDID(string(a.From)); err != nil {
		return fmt.Errorf("%w: from: %w", ErrAttestation, err)
	}
	if _, _, err := identity.ParseDID(string(a.To)); err != nil {
		return fmt.Errorf("%w: to: %w", ErrAttestation, err)
	}
	if a.From == a.To {
		return fmt.Errorf("%w: %w: %s", ErrAttestation, ErrSelfTrust, a.From.Short())
	}
	if !a.Weight.Valid() {
		return fmt.Errorf("%w: %w: %d millionths", ErrAttestation, ErrWeight, uint32(a.Weight))
	}
	if a.IssuedAt <= 0 {
		return fmt.Errorf("%w: issued_at %d is not positive", ErrAttestation, a.IssuedAt)
	}
	return nil
}

// Sign validates a and signs its payload with k under identity.TagTrustAttestation.
// k must be From's key: an attestation is only ever made by the one who trusts.
func Sign(k *identity.Key, a Attestation) (identity.Signed, error) {
	if k == nil || k.DID() != a.From {
		return identity.Signed{}, fmt.Errorf("sign trust attestation: %w: key is not the key of from (%s)",
			ErrSignature, a.From.Short())
	}
	if err := a.Validate(); err != nil {
		return identity.Signed{}, fmt.Errorf("sign trust attestation: %w", err)
	}
	return identity.SignPayload(k, identity.TagTrustAttestation, a.Payload()), nil
}

// VerifyAttestation decodes s.Payload, checks that s.Signer is the attestation's From and that
// the signature verifies under identity.TagTrustAttestation, and returns the attestation.
func VerifyAttestation(s identity.Signed) (Attestation, error) {
	a, err := DecodeAttestation(s.Payload)
	if err != nil {
		return Attestation{}, err
	}
	if s.Signer != a.From {
		return Attestation{}, fmt.Errorf("verify trust attestation: %w: signer %s is not from %s",
			ErrSignature, s.Signer.Short(), a.From.Short())
	}
	if err := s.Verify(identity.TagTrustAttestation); err != nil {
		return Attestation{}, fmt.Errorf("verify trust attestation: %w: %w", ErrSignature, err)
	}
	return a, nil
}

// DecodeAttestation parses a payload strictly: one JSON object with exactly the five fields
// (no unknown, missing or repeated ones, names matched case-sensitively), the right type
// string, DIDs that identity.ParseDID accepts, a weight that ParseWeight accepts, an integer
// issued_at > 0, From != To, nothing after the object, at most 4096 bytes. It does not check
// a signature (VerifyAttestation does). It is deterministic, for the hub's state machine.
func DecodeAttestation(payload []byte) (Attestation, error) {
	if len(payload) > maxPayload {
		return Attestation{}, fmt.Errorf("%w: %d bytes, more than %d", ErrAttestation, len(payload), maxPayload)
	}
	var raw attestationJSON
	if err := identity.DecodeJSON(payload, &raw, "type", "from", "to", "weight", "issued_at"); err != nil {
		return Attestation{}, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	if raw.Type != AttestationType {
		return Attestation{}, fmt.Errorf("%w: type %.40q", ErrAttestation, raw.Type)
	}
	w, err := ParseWeight(raw.Weight)
	if err != nil {
		return Attestation{}, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	a := Attestation{From: identity.DID(raw.From), To: identity.DID(raw.To), Weight: w, IssuedAt: raw.IssuedAt}
	if err := a.Validate(); err != nil {
		return Attestation{}, err
	}
	return a, nil
}

// attestationJSON is the payload's form (identity.DecodeJSON refuses an
// issued_at written 1e18 or 1.0, and repeated or case-variant names).
type attestationJSON struct {
	Type     string `json:"type"`
	From     string `json:"from"`
	To       string `json:"to"`
	Weight   string `json:"weight"`
	IssuedAt int64  `json:"issued_at"`
}
