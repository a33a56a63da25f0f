package identity

import (
	"crypto/ed25519"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/oasisprotocol/curve25519-voi/curve"
)

// CheckPublicKey reports whether pub may stand for someone: a 32-byte
// canonical encoding (RFC 8032 §5.1.3: y < p, and no sign bit on x = 0) of a
// point on the curve that is not of small order. Under a small-order key
// (the identity 01 00…00 and the seven other points whose order divides 8)
// one fixed signature verifies for every message, so such a key proves
// nothing; a non-canonical encoding would give one key two DIDs.
//
// Keys this package makes from a seed always pass. Every key that arrives
// from outside (a DID, a device or rotation key, a certificate, a key file)
// is checked here: ParseDID, CertDID, UnmarshalKey and the verifier call it.
// The errors wrap ErrKeyLength or ErrWeakKey.
func CheckPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("public key: %d bytes: %w", len(pub), ErrKeyLength)
	}
	k := [ed25519.PublicKeySize]byte(pub)
	// Decompressing the point costs about 3 µs, and the payment path parses
	// the same members' DIDs over and over: remember keys that passed (a
	// key in the verifier's cache passed when it was added).
	if checked.Contains(k) || expanded.Contains(k) {
		return nil
	}
	var c curve.CompressedEdwardsY
	copy(c[:], pub)
	// The "Taming the many EdDSAs" test: y >= p, or y = ±1 (x = 0) with
	// the sign bit set.
	if !c.IsCanonicalVartime() {
		return fmt.Errorf("public key: non-canonical point encoding: %w", ErrWeakKey)
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		return fmt.Errorf("public key: not a point on the curve: %w", ErrWeakKey)
	}
	if p.IsSmallOrder() { // [8]P is the identity
		return fmt.Errorf("public key: point of small order: %w", ErrWeakKey)
	}
	checked.Add(k, struct{}{})
	return nil
}

// checked memoises CheckPublicKey's acceptances, a pure function: a hit
// and a miss give the same verdict. Refused keys are not kept, so made-up
// keys cost a check each and cannot evict anything but other good keys.
var checked = func() *lru.Cache[[ed25519.PublicKeySize]byte, struct{}] {
	c, err := lru.New[[ed25519.PublicKeySize]byte, struct{}](keyCacheSize)
	if err != nil {
		panic(err)
	}
	return c
}()
