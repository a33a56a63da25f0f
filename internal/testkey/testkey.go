// Package testkey gives tests deterministic keys. It is apart from
// testutil because identity's own tests use testutil.
package testkey

import (
	"crypto/sha256"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// Key is the key named name in test t: the same at every run of t.
func Key(t testing.TB, name string) *identity.Key {
	t.Helper()
	seed := sha256.Sum256([]byte(t.Name() + "/" + name))
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}
