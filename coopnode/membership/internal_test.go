package membership

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
)

// TestReplayPruned checks that accepted-request hashes are dropped once
// they are older than ReplayWindow, and kept (on disk) until then.
func TestReplayPruned(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l, err := ledger.Open(ledger.Options{Path: filepath.Join(t.TempDir(), "l.db"), Buckets: Buckets, Clock: clock, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	coop, _ := identity.KeyFromSeed(bytes.Repeat([]byte{7}, 32))
	s, err := New(l, Options{CoopID: "c", CoopKey: coop, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := identity.KeyFromSeed(bytes.Repeat([]byte{8}, 32))
	add := func(id string, seed byte) {
		t.Helper()
		dk, _ := identity.KeyFromSeed(bytes.Repeat([]byte{seed}, 32))
		req, _ := json.Marshal(map[string]any{"did": k.DID(), "action": "add", "device_id": id, "name": id,
			"public_key": identity.B64(dk.Public()), "signed_by": "primary", "at": now.Format(time.RFC3339)})
		if _, err := s.AddDevice(context.Background(), k.DID(), req, k.Sign(identity.TagDevice, req)); err != nil {
			t.Fatal(err)
		}
	}
	recent := func() int {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return len(s.keyrings[k.DID()].Recent)
	}
	add("a", 10)
	now = now.Add(5 * time.Minute)
	add("b", 11)
	if n := recent(); n != 2 {
		t.Fatalf("%d hashes kept, want 2", n)
	}
	now = now.Add(5*time.Minute + time.Second) // "a" is now older than ReplayWindow
	add("c", 12)
	if n := recent(); n != 2 {
		t.Fatalf("%d hashes kept, want 2 (b, c)", n)
	}
	s2, err := New(l, Options{CoopID: "c", CoopKey: coop, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s2.keyrings[k.DID()].Recent); got != 2 {
		t.Fatalf("%d hashes on disk, want 2", got)
	}
}

// TestApplyOutOfOrder checks that the cache keeps the newest record when
// callers apply commits in another order than they were written.
func TestApplyOutOfOrder(t *testing.T) {
	s := &Store{members: map[identity.DID]*memberRec{}, revoked: map[string]bool{}, keyrings: map[identity.DID]*keyringRec{}}
	did := identity.DID("did:icn:x")
	s.apply(commit{member: &memberRec{DID: did, Rev: 2, Status: StatusRevoked}, keyring: &keyringRec{Rev: 5}, did: did})
	s.apply(commit{member: &memberRec{DID: did, Rev: 1, Status: StatusActive}, keyring: &keyringRec{Rev: 4}, did: did})
	if s.members[did].Status != StatusRevoked || s.keyrings[did].Rev != 5 {
		t.Fatal("an older commit replaced a newer one in the cache")
	}
}

// No id starts with '-': 2000 draws see one such base64url start with
// probability 1 - (63/64)^2000, so the loop in randomID is exercised.
func TestRandomIDNoLeadingDash(t *testing.T) {
	for i := 0; i < 2000; i++ {
		id, err := randomID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' {
			t.Fatalf("id %q", id)
		}
	}
}
