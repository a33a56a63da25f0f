package clearing

import (
	"crypto/ed25519"
	"testing"

	"github.com/icn-coop/icn/identity"
)

func settleDID(t *testing.T, n byte) identity.DID {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = n
	k, err := identity.KeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k.DID()
}

func TestSettleReducesCarried(t *testing.T) {
	b := NewBook(NewMemRecords())
	a, c := settleDID(t, 1), settleDID(t, 2)
	b.set(posKey{a, "hours"}, pos{carried: 900})
	b.set(posKey{c, "hours"}, pos{carried: -900})
	if err := b.Settle(a, c, "hours", 600); err != nil {
		t.Fatal(err)
	}
	if got := b.Position(a, "hours").Carried; got != 300 {
		t.Fatalf("payer carried %d, want 300", got)
	}
	if got := b.Position(c, "hours").Carried; got != -300 {
		t.Fatalf("payee carried %d, want -300", got)
	}
	if err := b.Settle(a, c, "hours", 300); err != nil {
		t.Fatal(err)
	}
	if len(b.Positions()) != 0 {
		t.Fatalf("settled positions stay: %+v", b.Positions())
	}
	for _, bad := range []int64{0, -1} {
		if err := b.Settle(a, c, "hours", bad); err == nil {
			t.Fatalf("settle %d accepted", bad)
		}
	}
	if err := b.Settle(a, a, "hours", 1); err == nil {
		t.Fatal("settle to self accepted")
	}
}
