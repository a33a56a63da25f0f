package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	raw, err := readFields(payload)
	if err != nil {
		return Attestation{}, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	if raw.typ != AttestationType {
		return Attestation{}, fmt.Errorf("%w: type %.40q", ErrAttestation, raw.typ)
	}
	w, err := ParseWeight(raw.weight)
	if err != nil {
		return Attestation{}, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	// ParseInt rejects the forms JSON allows but an integer timestamp must not use (1e18, 1.0).
	at, err := strconv.ParseInt(raw.issuedAt.String(), 10, 64)
	if err != nil {
		return Attestation{}, fmt.Errorf("%w: issued_at %.30q is not an int64", ErrAttestation, raw.issuedAt)
	}
	a := Attestation{From: identity.DID(raw.from), To: identity.DID(raw.to), Weight: w, IssuedAt: at}
	if err := a.Validate(); err != nil {
		return Attestation{}, err
	}
	return a, nil
}

// rawAttestation holds the payload's fields before their values are checked.
type rawAttestation struct {
	typ, from, to, weight string
	issuedAt              json.Number
}

// readFields walks the token stream rather than using json.Unmarshal, which would accept
// repeated fields (last wins) and field names in any letter case.
func readFields(payload []byte) (rawAttestation, error) {
	var raw rawAttestation
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return raw, err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, val, err := readMember(dec)
		if err != nil {
			return raw, err
		}
		if seen[key] {
			return raw, fmt.Errorf("field %q repeated", key)
		}
		seen[key] = true
		if err := raw.set(key, val); err != nil {
			return raw, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return raw, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return raw, errors.New("data after the object")
	}
	if len(seen) != 5 {
		return raw, fmt.Errorf("%d of the 5 fields present", len(seen))
	}
	return raw, nil
}

// readMember reads one "key": value pair whose value is a scalar.
func readMember(dec *json.Decoder) (string, json.Token, error) {
	k, err := dec.Token()
	if err != nil {
		return "", nil, err
	}
	key, _ := k.(string) // inside an object the decoder only yields string keys
	v, err := dec.Token()
	if err != nil {
		return "", nil, err
	}
	if _, nested := v.(json.Delim); nested {
		return "", nil, fmt.Errorf("field %.40q is not a scalar", key)
	}
	return key, v, nil
}

// set stores one field's value, checking its JSON type.
func (r *rawAttestation) set(key string, val json.Token) error {
	var dst *string
	switch key {
	case "issued_at":
		n, ok := val.(json.Number)
		if !ok {
			return errors.New("issued_at is not a number")
		}
		r.issuedAt = n
		return nil
	case "type":
		dst = &r.typ
	case "from":
		dst = &r.from
	case "to":
		dst = &r.to
	case "weight":
		dst = &r.weight
	default:
		return fmt.Errorf("unknown field %.40q", key)
	}
	s, ok := val.(string)
	if !ok {
		return fmt.Errorf("field %q is not a string", key)
	}
	*dst = s
	return nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("expected %v, found %v", d, t)
	}
	return nil
}
