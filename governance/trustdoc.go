package governance

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/icn-coop/icn/identity"
)

// The signed documents of member trust (docs/governance.md, "Trust-gated
// credit", "Voucher emergency revoke", "Recovery"). Each is one JSON object
// decoded strictly from the exact bytes signed (identity.DecodeJSON), at
// most MaxTrustDocBytes long, signed by its author's DID key under its own
// tag, so that a signature for one purpose never verifies for another.

// MaxTrustDocBytes bounds a vouch, voucher revoke or recovery document.
const MaxTrustDocBytes = 1 << 10

// VouchBody is a vouch as the voucher signs it (identity.TagVouch).
type VouchBody struct {
	Coop      string `json:"coop"`
	Voucher   string `json:"voucher"`
	Vouchee   string `json:"vouchee"`
	CreatedAt string `json:"created_at"`
}

var vouchFields = []string{"coop", "voucher", "vouchee", "created_at"}

// VoucherRevokeBody is a voucher's emergency revoke of a member it vouched
// for (identity.TagVoucherRevoke).
type VoucherRevokeBody struct {
	Coop      string `json:"coop"`
	Voucher   string `json:"voucher"`
	Member    string `json:"member"`
	CreatedAt string `json:"created_at"`
}

var voucherRevokeFields = []string{"coop", "voucher", "member", "created_at"}

// RecoveryBody is one steward's signature on a recovery: old DID to new
// DID, under the recovery's id (identity.TagRecovery).
type RecoveryBody struct {
	Coop      string `json:"coop"`
	Recovery  string `json:"recovery"`
	Old       string `json:"old"`
	New       string `json:"new"`
	Steward   string `json:"steward"`
	CreatedAt string `json:"created_at"`
}

var recoveryFields = []string{"coop", "recovery", "old", "new", "steward", "created_at"}

// TrustDoc is a checked signed document: who signed it (its author: the
// voucher or the steward), the two DIDs it names, and its bytes.
type TrustDoc struct {
	Coop string
	// Author signs: the voucher, or the steward.
	Author identity.DID
	// Subject is the vouchee, the member revoked, or a recovery's old DID.
	Subject identity.DID
	// New is a recovery's new DID ("" otherwise).
	New identity.DID
	// Recovery is a recovery's id ("" otherwise).
	Recovery string
	Created  time.Time
	// Payload and Signature are the exact signed bytes and the signature.
	Payload, Signature []byte
	Hash               [32]byte
}

// Encode returns the canonical bytes of b (compact, fields in order, no
// HTML escaping).
func (b VouchBody) Encode() []byte { return encodeCanonical(b) }

// Encode returns the canonical bytes of b.
func (b VoucherRevokeBody) Encode() []byte { return encodeCanonical(b) }

// Encode returns the canonical bytes of b.
func (b RecoveryBody) Encode() []byte { return encodeCanonical(b) }

func encodeCanonical(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // structs of strings always encode
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// DecodeVouch decodes vouch bytes strictly; it checks no values.
func DecodeVouch(raw []byte) (VouchBody, error) {
	var b VouchBody
	return b, decodeDoc(raw, &b, ErrInvalidVouch, vouchFields)
}

// DecodeVoucherRevoke decodes voucher revoke bytes strictly.
func DecodeVoucherRevoke(raw []byte) (VoucherRevokeBody, error) {
	var b VoucherRevokeBody
	return b, decodeDoc(raw, &b, ErrInvalidVoucherRevoke, voucherRevokeFields)
}

// DecodeRecovery decodes recovery bytes strictly.
func DecodeRecovery(raw []byte) (RecoveryBody, error) {
	var b RecoveryBody
	return b, decodeDoc(raw, &b, ErrInvalidRecovery, recoveryFields)
}

func decodeDoc(raw []byte, v any, sentinel error, fields []string) error {
	if len(raw) > MaxTrustDocBytes {
		return errorf(sentinel, "%d bytes, at most %d", len(raw), MaxTrustDocBytes)
	}
	if err := identity.DecodeJSON(raw, v, fields...); err != nil {
		return errorf(sentinel, "%w", err)
	}
	return nil
}

// ParseVouch decodes raw and checks its values, not the signature sig it
// keeps: for a state machine applying a vouch that CheckVouch passed.
func ParseVouch(raw, sig []byte) (TrustDoc, error) {
	b, err := DecodeVouch(raw)
	if err != nil {
		return TrustDoc{}, err
	}
	d, err := docOf(ErrInvalidVouch, b.Coop, "voucher", b.Voucher, "vouchee", b.Vouchee, b.CreatedAt)
	if err != nil {
		return TrustDoc{}, err
	}
	if d.Author == d.Subject {
		return TrustDoc{}, errorf(ErrSelfVouch, "%s vouches for themself", d.Author.Short())
	}
	return d.keep(raw, sig), nil
}

// ParseVoucherRevoke decodes raw and checks its values, not the signature.
func ParseVoucherRevoke(raw, sig []byte) (TrustDoc, error) {
	b, err := DecodeVoucherRevoke(raw)
	if err != nil {
		return TrustDoc{}, err
	}
	d, err := docOf(ErrInvalidVoucherRevoke, b.Coop, "voucher", b.Voucher, "member", b.Member, b.CreatedAt)
	if err != nil {
		return TrustDoc{}, err
	}
	if d.Author == d.Subject {
		return TrustDoc{}, errorf(ErrInvalidVoucherRevoke, "a member's own keys are revoked with icn/v1/emergency-revoke, not as their voucher")
	}
	return d.keep(raw, sig), nil
}

// ParseRecovery decodes raw and checks its values, not the signature.
func ParseRecovery(raw, sig []byte) (TrustDoc, error) {
	b, err := DecodeRecovery(raw)
	if err != nil {
		return TrustDoc{}, err
	}
	d, err := docOf(ErrInvalidRecovery, b.Coop, "steward", b.Steward, "old", b.Old, b.CreatedAt)
	if err != nil {
		return TrustDoc{}, err
	}
	if !identity.ValidID(b.Recovery, MaxIDLen) {
		return TrustDoc{}, errorf(ErrInvalidRecovery, "recovery must be 1-%d characters of letters, digits, '-', '_', '.', ':'", MaxIDLen)
	}
	d.Recovery = b.Recovery
	nd, _, err := identity.ParseDID(b.New)
	if err != nil {
		return TrustDoc{}, errorf(ErrInvalidRecovery, "new: %w", err)
	}
	d.New = nd
	switch {
	case d.New == d.Subject:
		return TrustDoc{}, errorf(ErrInvalidRecovery, "old and new are the same DID")
	case d.Author == d.Subject:
		return TrustDoc{}, errorf(ErrInvalidRecovery, "the member being recovered cannot sign their own recovery")
	case d.Author == d.New:
		return TrustDoc{}, errorf(ErrInvalidRecovery, "the new DID cannot sign its own recovery")
	}
	return d.keep(raw, sig), nil
}

func docOf(sentinel error, coop, authorField, author, subjectField, subject, created string) (TrustDoc, error) {
	if !validCoop(coop) {
		return TrustDoc{}, errorf(sentinel, "coop must be 1-%d printable characters", MaxCoopLen)
	}
	a, _, err := identity.ParseDID(author)
	if err != nil {
		return TrustDoc{}, errorf(sentinel, "%s: %w", authorField, err)
	}
	s, _, err := identity.ParseDID(subject)
	if err != nil {
		return TrustDoc{}, errorf(sentinel, "%s: %w", subjectField, err)
	}
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return TrustDoc{}, errorf(sentinel, "created_at must be an RFC 3339 time")
	}
	return TrustDoc{Coop: coop, Author: a, Subject: s, Created: t.UTC()}, nil
}

func (d TrustDoc) keep(raw, sig []byte) TrustDoc {
	d.Payload, d.Signature, d.Hash = bytes.Clone(raw), bytes.Clone(sig), sha256.Sum256(raw)
	return d
}

// CheckVouch parses raw and verifies sig under identity.TagVouch with the
// voucher's key.
func CheckVouch(raw, sig []byte) (TrustDoc, error) {
	return checkDoc(raw, sig, identity.TagVouch, ParseVouch)
}

// CheckVoucherRevoke parses raw and verifies sig under
// identity.TagVoucherRevoke with the voucher's key.
func CheckVoucherRevoke(raw, sig []byte) (TrustDoc, error) {
	return checkDoc(raw, sig, identity.TagVoucherRevoke, ParseVoucherRevoke)
}

// CheckRecovery parses raw and verifies sig under identity.TagRecovery
// with the steward's key.
func CheckRecovery(raw, sig []byte) (TrustDoc, error) {
	return checkDoc(raw, sig, identity.TagRecovery, ParseRecovery)
}

func checkDoc(raw, sig []byte, tag identity.Tag, parse func(raw, sig []byte) (TrustDoc, error)) (TrustDoc, error) {
	d, err := parse(raw, sig)
	if err != nil {
		return TrustDoc{}, err
	}
	if err := identity.VerifyDID(d.Author, tag, raw, sig); err != nil {
		return TrustDoc{}, errorf(ErrBadSignature, "%s by %s: %w", tag, d.Author.Short(), err)
	}
	return d, nil
}

// RecoveryQuorum is how many of n stewards must sign a recovery:
// max(2, floor(n/2)+1). With fewer than two stewards no recovery completes.
func RecoveryQuorum(n int) int { return max(2, n/2+1) }
