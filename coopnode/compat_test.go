package coopnode_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// dump reads every key and value of a bbolt file, by bucket.
func dump(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			m := map[string]string{}
			out[string(name)] = m
			return b.ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil })
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenFileOfBeforeCommands: a data file written before the command
// boundary (testdata/ledger-2026-11.db, by testdata/genfixture_test.go.txt)
// opens without loss: every key it held is kept unchanged (the layout is the
// same; the store only adds its applied index and the ledger a marker), the
// ledger verifies, balances and members are what that code left, and the
// open two-phase payments can still be decided.
func TestOpenFileOfBeforeCommands(t *testing.T) {
	src, err := os.ReadFile("testdata/ledger-2026-11.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	before := dump(t, path)

	ctx := context.Background()
	hours := money.DefaultCurrencies()["hours"]
	l, err := ledger.Open(ledger.Options{Path: path, Buckets: slices.Concat(membership.Buckets, gateway.Buckets),
		DefaultLimits: map[string]money.Amount{"hours": money.FromUnits(10000, hours)}})
	if err != nil {
		t.Fatal(err)
	}
	seed := func(b byte) *identity.Key {
		k, err := identity.KeyFromSeed(bytes.Repeat([]byte{b}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	coop, admin, m1, m2 := seed(1), seed(2), seed(3), seed(4)
	mem, err := membership.New(l, membership.Options{CoopID: "fixture", CoopKey: coop})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	if _, err := mem.Authorize(m1.DID(), at); err != nil {
		t.Errorf("m1: %v", err)
	}
	if _, err := mem.Authorize(m2.DID(), at); err == nil {
		t.Error("m2 was revoked, and authorizes")
	}
	if mem.Admin() != admin.DID() {
		t.Errorf("admin %s", mem.Admin())
	}
	r, err := l.Verify()
	if err != nil || !r.OK() || r.Open != 2 || r.Payments != 6 {
		t.Fatalf("verify: %v %+v", err, r)
	}
	a, b := ledger.Account(m1.DID()), ledger.Account(m2.DID())
	clr := ledger.ClearingAccount("did:icn:hub")
	for _, w := range []struct {
		acct             ledger.Account
		bal, held, inPen int64
	}{{a, -300, 100, 0}, {b, 700, 0, 300}, {clr, -400, 0, 0}} {
		got, err := l.Balance(w.acct, hours)
		if err != nil {
			t.Fatal(err)
		}
		if got.Balance.Units() != w.bal || got.Held.Units() != w.held || got.PendingIn.Units() != w.inPen {
			t.Errorf("%s: %+v, want balance %d held %d pending-in %d", w.acct, got, w.bal, w.held, w.inPen)
		}
	}
	if _, err := l.CommitHold(ctx, "h1", clr); err != nil {
		t.Fatal(err)
	}
	if _, err := l.VoidCredit(ctx, "c1", "aborted"); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Verify(); err != nil || !r.OK() || r.Open != 0 {
		t.Fatalf("verify after deciding: %v %+v", err, r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Nothing the old file held was lost or changed by opening it (the
	// decisions above changed only what they decide: compare a fresh copy).
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = ledger.Open(ledger.Options{Path: path, Buckets: slices.Concat(membership.Buckets, gateway.Buckets)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	after := dump(t, path)
	for bkt, kv := range before {
		for k, v := range kv {
			if got, ok := after[bkt][k]; !ok || got != v {
				t.Errorf("bucket %s key %q: changed or lost on open", bkt, k)
			}
		}
	}
	for bkt, kv := range after {
		for k := range kv {
			if _, ok := before[bkt][k]; !ok && bkt != "store.meta" && !(bkt == "meta" && k == "open_indexed") {
				t.Errorf("bucket %s key %q: new on open", bkt, k)
			}
		}
	}
}
