package gateway

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// TestIdentityPointLoginRefused: the attack of issue 11 closed end to end.
// Under the identity point 01 00…00, R = 01 00…00, S = 0 signs every
// message, so its DID could log in, apply and (once approved) pay from its
// account with no secret. Its challenge and its verify are now 400
// invalid_did, as are those of every other small-order or non-canonical key.
func TestIdentityPointLoginRefused(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	forged := identity.B64(append(testutil.WeakKeys[0].Bytes(), make([]byte, 32)...))

	st, body := e.do("POST", "/auth/challenge", "", map[string]string{"did": testutil.IdentityPointDID})
	wantErr(t, "challenge for the identity point", st, body, http.StatusBadRequest, "invalid_did")
	// The forged login, with a nonce the node never issued: refused for the
	// DID before the nonce is looked at.
	st, body = e.do("POST", "/auth/verify", "", map[string]string{"did": testutil.IdentityPointDID,
		"nonce": identity.B64(make([]byte, 32)), "signature": forged, "coop_id": testCoop})
	wantErr(t, "verify for the identity point", st, body, http.StatusBadRequest, "invalid_did")

	for _, w := range testutil.WeakKeys {
		did := string(identity.DIDFromKey(w.Bytes()))
		st, body := e.do("POST", "/auth/challenge", "", map[string]string{"did": did})
		wantErr(t, "challenge for "+w.Name, st, body, http.StatusBadRequest, "invalid_did")
	}
}

// TestWeakDeviceKeyRefused: a member cannot register, or rotate to, a
// small-order or non-canonical key (whose "signatures" anyone could make):
// 400 invalid_public_key, and the key does not log in.
func TestWeakDeviceKeyRefused(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	adminS := e.login(e.admin)
	alice := newKey(t)
	e.join(adminS, alice, "alice")
	s := e.login(alice)
	did := string(alice.DID())
	for _, w := range testutil.WeakKeys {
		at := client.FormatTime(e.clock.Now())
		add := signedDoc(alice, identity.TagDevice, map[string]string{"did": did, "action": "add", "device_id": "weak",
			"name": "weak", "public_key": identity.B64(w.Bytes()), "signed_by": "primary", "at": at})
		st, body := e.do("POST", "/devices/"+did, s.Token(), add)
		wantErr(t, "add device "+w.Name, st, body, http.StatusBadRequest, "invalid_public_key")

		rot := signedDoc(alice, identity.TagKeyRotation, map[string]any{"did": did, "new_public_key": identity.B64(w.Bytes()),
			"new_device_id": "weak", "grace_seconds": 60, "signed_by": "primary", "at": at})
		st, body = e.do("POST", "/identity/rotate", s.Token(), rot)
		wantErr(t, "rotate to "+w.Name, st, body, http.StatusBadRequest, "invalid_public_key")
	}
	for _, d := range e.members.LoginKeys(alice.DID(), e.clock.Now()) {
		if d.ID != "primary" {
			t.Errorf("device %q was registered", d.ID)
		}
	}
	// Had the identity point been registered, this would log in as alice.
	var ch client.Challenge
	if st, body := e.do("POST", "/auth/challenge", "", map[string]string{"did": did}); st != http.StatusOK || json.Unmarshal(body, &ch) != nil {
		t.Fatalf("challenge: %d %s", st, body)
	}
	forged := identity.B64(append(testutil.WeakKeys[0].Bytes(), make([]byte, 32)...))
	st, body := e.do("POST", "/auth/verify", "", map[string]string{"did": did, "nonce": ch.Nonce, "signature": forged, "coop_id": testCoop})
	wantErr(t, "forged login as alice", st, body, http.StatusUnauthorized, "invalid_signature")
}
