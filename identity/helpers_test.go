package identity_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// vectorSeed is the 32-byte seed 0x01..0x20 of the fixed test vector.
func vectorSeed() []byte {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	return seed
}

// testKey returns a deterministic key; different n give different keys.
func testKey(t testing.TB, n byte) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// randKey returns a key generated from a seeded (deterministic) stream.
func randKey(t testing.TB, seed uint64) *identity.Key {
	t.Helper()
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	k, err := identity.GenerateKey(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wantErr(t *testing.T, err, kind error, code string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	if got := identity.Code(err); got != code {
		t.Errorf("Code(%v) = %q, want %q", err, got, code)
	}
}
