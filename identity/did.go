package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// DIDPrefix starts every ICN decentralised identifier.
const DIDPrefix = "did:icn:"

// Sentinel identity errors; test with errors.Is. Each maps to a wire code by Code.
var (
	ErrDIDPrefix    = errors.New("DID must start with the did:icn prefix")
	ErrBase58       = errors.New("DID key is not valid base58btc")
	ErrKeyLength    = errors.New("public key must be 32 bytes")
	ErrBadSignature = errors.New("signature does not verify")
	ErrSigLength    = errors.New("signature must be 64 bytes")
	ErrBadTag       = errors.New("unknown signature tag")
	ErrEncoding     = errors.New("not base64url without padding")
	ErrKeyFile      = errors.New("malformed key file")
	// ErrWeakKey: 32 bytes that are not a canonical encoding of a point of
	// large order (CheckPublicKey). In a DID it is an invalid_did.
	ErrWeakKey = errors.New("public key is a small-order point or not a canonical point encoding")
	// ErrPublicKey marks a refused raw public key field (a device or a
	// rotation key), as opposed to a DID; it wraps the reason.
	ErrPublicKey = errors.New("invalid public key")
)

// Code returns the wire error code for an identity error, or "" if err is not one.
func Code(err error) string {
	switch {
	case errors.Is(err, ErrKeyFile): // first: a key file error may wrap the others
		return "invalid_key_file"
	case errors.Is(err, ErrPublicKey): // also first: it wraps ErrWeakKey or ErrKeyLength
		return "invalid_public_key"
	case errors.Is(err, ErrDIDPrefix), errors.Is(err, ErrBase58), errors.Is(err, ErrKeyLength), errors.Is(err, ErrWeakKey):
		return "invalid_did"
	case errors.Is(err, ErrBadSignature), errors.Is(err, ErrSigLength), errors.Is(err, ErrBadTag):
		return "invalid_signature"
	case errors.Is(err, ErrEncoding):
		return "invalid_encoding"
	}
	return ""
}

// DID is a did:icn identifier: the prefix and base58btc of a 32-byte Ed25519 key.
// A DID value obtained from ParseDID or DIDFromKey is always well formed.
type DID string

// DIDFromKey returns the DID of an Ed25519 public key. It does not check the
// key: for a key from outside, call CheckPublicKey first (or parse the DID).
func DIDFromKey(pub ed25519.PublicKey) DID {
	return DID(DIDPrefix + base58.Encode(pub))
}

// maxDIDLen bounds input before decoding: 32 bytes are at most 44 base58 digits.
const maxDIDLen = len(DIDPrefix) + 44

// ParseDID parses s strictly and returns the DID and its public key. The key
// must pass CheckPublicKey: a small-order or non-canonically encoded point is
// refused with ErrWeakKey (code invalid_did).
func ParseDID(s string) (DID, ed25519.PublicKey, error) {
	raw, err := decodeDID(s)
	if err != nil {
		return "", nil, err
	}
	if err := CheckPublicKey(raw); err != nil {
		return "", nil, fmt.Errorf("parse DID %.60q: %w", s, err)
	}
	return DID(s), raw, nil
}

// decodeDID decodes s's key strictly (prefix, canonical base58btc, 32
// bytes) without checking the point.
func decodeDID(s string) (ed25519.PublicKey, error) {
	if !strings.HasPrefix(s, DIDPrefix) {
		return nil, fmt.Errorf("parse DID %.60q: %w", s, ErrDIDPrefix)
	}
	if len(s) > maxDIDLen {
		return nil, fmt.Errorf("parse DID %.60q: %w", s, ErrKeyLength)
	}
	enc := s[len(DIDPrefix):]
	raw, err := base58.Decode(enc)
	if err != nil || enc == "" {
		return nil, fmt.Errorf("parse DID %.60q: %w", s, ErrBase58)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse DID %.60q: %d bytes: %w", s, len(raw), ErrKeyLength)
	}
	// Reject non-canonical encodings (extra leading '1's decode to zero bytes
	// and would change the length; this guards any other ambiguity).
	if base58.Encode(raw) != enc {
		return nil, fmt.Errorf("parse DID %.60q: non-canonical: %w", s, ErrBase58)
	}
	return ed25519.PublicKey(raw), nil
}

// PublicKey returns the key inside a DID. It fails only for a DID that was
// not produced by ParseDID or DIDFromKey. It does not check the point again
// (ParseDID did; the verifier checks every key it has not seen verify).
func (d DID) PublicKey() (ed25519.PublicKey, error) { return decodeDID(string(d)) }

// Short returns an abbreviated form for logs and tables.
func (d DID) Short() string {
	s := string(d)
	if len(s) <= len(DIDPrefix)+12 {
		return s
	}
	return s[:len(DIDPrefix)+6] + "…" + s[len(s)-4:]
}
