package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Tag names the purpose of a signature. It is signed ahead of the payload.
type Tag string

// The signature purposes. The first four are fixed by API.md.
const (
	TagAuthChallenge         Tag = "icn/v1/auth-challenge"
	TagPaymentIntent         Tag = "icn/v1/payment-intent"
	TagMembershipApplication Tag = "icn/v1/membership-application"
	TagDevice                Tag = "icn/v1/device"
	TagKeyRotation           Tag = "icn/v1/key-rotation"
	TagEmergencyRevoke       Tag = "icn/v1/emergency-revoke"
	TagCredential            Tag = "icn/v1/membership-credential"
	TagReport                Tag = "icn/v1/report"
	TagTrustAttestation      Tag = "icn/v1/trust-attestation"
	// A co-op node's or hub's signed answer to a transfer prepare (accept
	// or reject), and a hub's signed transfer outcome.
	TagTransferReceipt Tag = "icn/v1/transfer-receipt"
	// A treasurer's signed settlement confirmation (instruction paid or
	// received).
	TagSettlementConfirmation Tag = "icn/v1/settlement-confirmation"
	// A federation's directory link (it admits a member) and record (where
	// a member sits), published in the federation directory.
	TagDirectoryLink   Tag = "icn/v1/directory-link"
	TagDirectoryRecord Tag = "icn/v1/directory-record"
	// A member's vote on a co-op proposal (governance).
	TagVote Tag = "icn/v1/vote"
	// A member's vouch for another member (trust-gated credit), a
	// voucher's emergency revoke of a member it vouched for, and a
	// steward's signature on a recovery linking an old DID to a new one.
	TagVouch         Tag = "icn/v1/vouch"
	TagVoucherRevoke Tag = "icn/v1/voucher-revoke"
	TagRecovery      Tag = "icn/v1/recovery"
)

var knownTags = map[Tag]bool{
	TagAuthChallenge: true, TagPaymentIntent: true, TagMembershipApplication: true,
	TagDevice: true, TagKeyRotation: true, TagEmergencyRevoke: true,
	TagCredential: true, TagReport: true, TagTrustAttestation: true,
	TagTransferReceipt: true, TagSettlementConfirmation: true,
	TagDirectoryLink: true, TagDirectoryRecord: true, TagVote: true,
	TagVouch: true, TagVoucherRevoke: true, TagRecovery: true,
}

// SigningInput returns TAG || 0x0A || payload, the bytes a signature covers.
func SigningInput(tag Tag, payload []byte) []byte {
	b := make([]byte, 0, len(tag)+1+len(payload))
	b = append(b, tag...)
	b = append(b, '\n')
	return append(b, payload...)
}

// AuthChallengePayload returns the login payload: coop id, 0x0A, nonce.
func AuthChallengePayload(coopID string, nonce []byte) []byte {
	b := make([]byte, 0, len(coopID)+1+len(nonce))
	b = append(b, coopID...)
	b = append(b, '\n')
	return append(b, nonce...)
}

// Verify checks sig over (tag, payload) with pub.
func Verify(pub ed25519.PublicKey, tag Tag, payload, sig []byte) error {
	if !knownTags[tag] {
		return fmt.Errorf("verify %q: %w", tag, ErrBadTag)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify %s: %w", tag, ErrKeyLength)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("verify %s: %w", tag, ErrSigLength)
	}
	if !verifyEd25519(pub, SigningInput(tag, payload), sig) {
		return fmt.Errorf("verify %s: %w", tag, ErrBadSignature)
	}
	return nil
}

// VerifyDID checks sig over (tag, payload) with the key inside did, which
// is parsed as outside input (signers usually are).
func VerifyDID(did DID, tag Tag, payload, sig []byte) error {
	_, pub, err := ParseDID(string(did))
	if err != nil {
		return err
	}
	return Verify(pub, tag, payload, sig)
}

// Key is an Ed25519 key pair with its DID.
type Key struct {
	priv ed25519.PrivateKey
	did  DID
}

// GenerateKey makes a new key from r (crypto/rand.Reader in production).
func GenerateKey(r io.Reader) (*Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return KeyFromSeed(seed)
}

// KeyFromSeed returns the key for a 32-byte Ed25519 seed.
func KeyFromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key from seed: %d bytes: %w", len(seed), ErrKeyLength)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Key{priv: priv, did: DIDFromKey(priv.Public().(ed25519.PublicKey))}, nil
}

// DID returns the key's DID.
func (k *Key) DID() DID { return k.did }

// Public returns the public key.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Seed returns the 32-byte seed. Handle with care: it is the secret.
func (k *Key) Seed() []byte { return k.priv.Seed() }

// PrivateKey returns the Ed25519 private key, for libraries (JWT, TLS) that need it.
func (k *Key) PrivateKey() ed25519.PrivateKey { return k.priv }

// Sign signs (tag, payload). The signature is crypto/ed25519's to the byte
// (Ed25519 signing is deterministic), made with curve25519-voi in about 60 %
// of the time (BenchmarkSign; TestSignMatchesStdlib).
func (k *Key) Sign(tag Tag, payload []byte) []byte {
	return voi.Sign(voi.PrivateKey(k.priv), SigningInput(tag, payload))
}

// String never prints the secret.
func (k *Key) String() string { return "Key(" + string(k.did) + ")" }

// B64 encodes binary as base64url without padding, the API's encoding.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// DecodeB64 decodes base64url without padding, strictly.
func DecodeB64(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	// encoding/base64 silently skips '\r' and '\n'; one value, one encoding.
	if err == nil && strings.ContainsAny(s, "\r\n") {
		err = ErrEncoding
	}
	if err != nil {
		return nil, fmt.Errorf("decode %.20q: %w", s, ErrEncoding)
	}
	return b, nil
}
