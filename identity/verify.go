package identity

import (
	"crypto/ed25519"

	lru "github.com/hashicorp/golang-lru/v2"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// keyCacheSize bounds the expanded public keys kept for verification: about
// 1.5 KiB each, so at most about 6 MiB. Members' device keys, co-op nodes and
// hubs that sign often stay in it; a key seen once costs one expansion.
const keyCacheSize = 4096

// stdlibRules makes curve25519-voi accept exactly the signatures that
// crypto/ed25519 accepts, so that every verifier in a federation reaches the
// same verdict; verifyEd25519 in addition refuses every key that
// CheckPublicKey refuses (both checked by FuzzVerifyMatchesStdlib).
var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// expanded memoises the expansion of public keys (their decompressed point
// and its multiples). It is a cache of a pure function: a hit and a miss
// verify alike.
var expanded = mustKeyCache(keyCacheSize)

func mustKeyCache(n int) *lru.Cache[[ed25519.PublicKeySize]byte, *voi.ExpandedPublicKey] {
	c, err := lru.New[[ed25519.PublicKeySize]byte, *voi.ExpandedPublicKey](n)
	if err != nil {
		panic(err) // only for n <= 0
	}
	return c
}

// verifyEd25519 is ed25519.Verify with curve25519-voi, which verifies in
// about 60 % of the standard library's time with a cached expanded key
// (BenchmarkVerify). The caller has checked the key and signature lengths.
// Under a key that CheckPublicKey refuses nothing verifies, wherever the key
// came from (a keyring stored before that check existed, say).
// CometBFT verifies Ed25519 the same way.
func verifyEd25519(pub ed25519.PublicKey, msg, sig []byte) bool {
	k := [ed25519.PublicKeySize]byte(pub)
	e, ok := expanded.Get(k)
	if !ok {
		// A cached key passed this check when it was added.
		if CheckPublicKey(pub) != nil {
			return false // small order: a fixed signature would verify anything
		}
		var err error
		if e, err = voi.NewExpandedPublicKey(voi.PublicKey(pub)); err != nil {
			return false // not a point: crypto/ed25519 rejects it too
		}
	}
	valid := voi.VerifyExpandedWithOptions(e, msg, sig, stdlibRules)
	if valid && !ok {
		// Only keys that have signed something are kept, so that forged
		// signatures under made-up keys cannot churn the cache.
		expanded.Add(k, e)
	}
	return valid
}
