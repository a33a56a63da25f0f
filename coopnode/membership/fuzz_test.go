package membership_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// FuzzApply feeds arbitrary application bytes to Apply. "$INVITE" in the input
// is replaced by a fresh invite code, and the bytes are signed by a fixed key
// unless badSig is set, so that every stage past the signature is reached.
// Apply must never panic, and must write nothing when it fails.
func FuzzApply(f *testing.F) {
	alice := key(f, 1)
	ok := fmt.Sprintf(`{"did":%q,"invite_code":"$INVITE","name":"Alice","email":"a@x.org"}`, alice.DID())
	f.Add([]byte(ok), false)
	f.Add([]byte(ok), true)
	f.Add([]byte(fmt.Sprintf(`{"did":%q,"invite_code":"$INVITE","name":"Alice","email":"a@x.org","x":1}`, alice.DID())), false)
	f.Add([]byte(fmt.Sprintf(`{"did":%q,"invite_code":"nope","name":"Alice","email":"a@x.org"}`, alice.DID())), false)
	f.Add([]byte(fmt.Sprintf(`{"did":%q,"invite_code":"$INVITE","name":"Alice","email":"a@x.org"} `, alice.DID())), false)
	f.Add([]byte(`{"did":"did:icn:1","invite_code":"$INVITE","name":"","email":""}`), false)
	f.Add([]byte(`{}`), false)
	f.Add([]byte(`null`), false)
	f.Add([]byte(``), true)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, app []byte, badSig bool) {
		e.t = t // the target runs one input at a time; helpers report to t
		if bytes.Contains(app, []byte("$INVITE")) {
			app = bytes.ReplaceAll(app, []byte("$INVITE"), []byte(e.invite()))
		}
		sig := alice.Sign(identity.TagMembershipApplication, app)
		if badSig {
			sig[0] ^= 1
		}
		before := e.snapshot()
		a, err := e.s.Apply(e.ctx, app, sig)
		if err != nil {
			if e.snapshot() != before {
				t.Fatalf("Apply(%q) failed (%v) but wrote", app, err)
			}
			if _, code := membershipCode(err); code == "" {
				t.Fatalf("Apply(%q): error without a wire code: %v", app, err)
			}
			return
		}
		if badSig || a.DID != alice.DID() || a.Status != "pending" {
			t.Fatalf("Apply(%q) accepted: %+v", app, a)
		}
	})
}
