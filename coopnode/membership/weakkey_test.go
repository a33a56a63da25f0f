package membership_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// TestWeakKeysRefused: a small-order or non-canonically encoded key is
// refused as a device key and as a rotation's new key (400
// invalid_public_key), and its DID as an applicant (400 invalid_did) even
// with an application "signed" by the identity point's universal forgery;
// nothing is written.
func TestWeakKeysRefused(t *testing.T) {
	e := newEnv(t)
	alice := key(t, 1)
	e.join(alice, "Alice")
	code := e.invite()
	for _, w := range testutil.WeakKeys {
		t.Run(w.Name, func(t *testing.T) {
			before := e.snapshot()
			pub := identity.B64(w.Bytes())
			add, addSig := signedReq(alice, identity.TagDevice, map[string]any{
				"did": alice.DID(), "action": "add", "device_id": "weak", "name": "Weak",
				"public_key": pub, "signed_by": "primary", "at": e.at(0),
			})
			_, err := e.s.AddDevice(e.ctx, alice.DID(), add, addSig)
			wantKeyErr(t, "add device", err, identity.ErrPublicKey, http.StatusBadRequest, "invalid_public_key")

			rot, rotSig := signedReq(alice, identity.TagKeyRotation, map[string]any{
				"did": alice.DID(), "new_public_key": pub, "new_device_id": "weak",
				"grace_seconds": 60, "signed_by": "primary", "at": e.at(0),
			})
			_, err = e.s.Rotate(e.ctx, alice.DID(), rot, rotSig)
			wantKeyErr(t, "rotate", err, identity.ErrPublicKey, http.StatusBadRequest, "invalid_public_key")

			did := identity.DIDFromKey(w.Bytes())
			app := appJSON(did, code, "Mallory", "m@example.org")
			forged := append(testutil.WeakKeys[0].Bytes(), make([]byte, 32)...)
			_, err = e.s.Apply(e.ctx, app, forged)
			wantKeyErr(t, "apply", err, identity.ErrWeakKey, http.StatusBadRequest, "invalid_did")

			if e.snapshot() != before {
				t.Error("a refused request changed the store")
			}
		})
	}
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); len(ids) != 1 || ids[0] != membership.PrimaryDevice {
		t.Fatalf("alice's devices %v", ids)
	}
}

func wantKeyErr(t *testing.T, what string, err, kind error, status int, code string) {
	t.Helper()
	if !errors.Is(err, identity.ErrWeakKey) || !errors.Is(err, kind) {
		t.Errorf("%s: %v, want ErrWeakKey and %v", what, err, kind)
	}
	if st, c := membership.Code(err); st != status || c != code {
		t.Errorf("%s: Code = %d %q, want %d %q", what, st, c, status, code)
	}
}
