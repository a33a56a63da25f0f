package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// TestRevokedSessionsStayDead: revoking a member ends every session opened
// before the revocation for good. Its access tokens are refused with 401
// session_revoked for a payment and a balance read, and its refresh tokens
// (one never exchanged, one handed out by an exchange) with 401
// session_revoked: right after the revocation, after the member has been
// admitted again through the API (invite, application, approve), and after
// two node restarts. The re-admitted member's new logins and their refreshes
// work, before and after the restarts. The clock is frozen, so the tokens
// from before the revocation and those from after it carry the same issue
// time to the nanosecond: only the order of events tells them apart.
func TestRevokedSessionsStayDead(t *testing.T) {
	e, alice, _ := sessionEnv(t)
	e.clock.Freeze()
	adminS := e.login(e.admin)
	did := alice.DID()
	balance := "/ledger/" + testCoop + "/balance/" + string(did)
	n := 0
	pay := func(tok string) (int, []byte) {
		t.Helper()
		n++
		return e.do("POST", "/ledger/"+testCoop+"/payment", tok, intentBody(alice, e.intentNow(fmt.Sprintf("pay-%d", n), did, e.admin.DID(), "1.00")))
	}
	works := func(what, tok string) {
		t.Helper()
		if st, body := e.do("GET", balance, tok, nil); st != http.StatusOK {
			t.Fatalf("%s: balance %d %s, want 200", what, st, body)
		}
		if st, body := pay(tok); st != http.StatusOK {
			t.Fatalf("%s: payment %d %s, want 200", what, st, body)
		}
	}

	// Two sessions: one as logged in, one refreshed once.
	s1, s2 := e.login(alice), e.login(alice)
	tr2 := e.mustRefresh("refresh before the revocation", s2.RefreshToken())
	works("login's access token", s1.Token())
	works("refreshed access token", tr2.Token)
	old := []struct{ what, access, refresh string }{
		{"login's tokens", s1.Token(), s1.RefreshToken()},
		{"refreshed tokens", tr2.Token, tr2.RefreshToken},
	}
	dead := func(when string) {
		t.Helper()
		for _, o := range old {
			st, body := e.do("GET", balance, o.access, nil)
			wantErr(t, when+": balance with the "+o.what, st, body, http.StatusUnauthorized, "session_revoked")
			st, body = pay(o.access)
			wantErr(t, when+": payment with the "+o.what, st, body, http.StatusUnauthorized, "session_revoked")
			st, _, body = e.refresh(o.refresh)
			wantErr(t, when+": refresh with the "+o.what, st, body, http.StatusUnauthorized, "session_revoked")
		}
	}

	if st, body := e.do("DELETE", "/membership/"+testCoop+"/members/"+string(did), adminS.Token(), nil); st != http.StatusOK {
		t.Fatalf("revoke: %d %s", st, body)
	}
	dead("after the revocation")

	e.join(adminS, alice, "alice2")
	if m, err := adminS.Member(context.Background(), testCoop, did); err != nil || m.Status != "active" {
		t.Fatalf("alice after re-admission: %+v %v", m, err)
	}
	dead("after the re-admission")
	fresh := e.login(alice)
	if a, b := claimsOf(t, s1.Token()).IssuedNano, claimsOf(t, fresh.Token()).IssuedNano; a != b {
		t.Fatalf("the clock moved: tokens issued at %d and %d", a, b)
	}
	works("login after the re-admission", fresh.Token())
	freshTr := e.mustRefresh("refresh after the re-admission", fresh.RefreshToken())
	works("refreshed login after the re-admission", freshTr.Token)

	for i := range 2 {
		e.restart()
		when := fmt.Sprintf("after restart %d", i+1)
		dead(when)
		works(when+": session opened after the re-admission", freshTr.Token)
		freshTr = e.mustRefresh(when+": its refresh", freshTr.RefreshToken)
		works(when+": its refreshed access token", freshTr.Token)
		works(when+": new login", e.login(alice).Token())
	}
}

// TestRevokedDeviceStaysRevoked: a revoked device's sessions stay refused
// (401 device_revoked) after its record has been forgotten (a DID keeps at
// most membership.MaxDeviceRecords) and a new device has been added under the
// same id; the new device's own session works.
func TestRevokedDeviceStaysRevoked(t *testing.T) {
	e, alice, check := sessionEnv(t)
	ctx := context.Background()
	did := alice.DID()
	doc := func(body map[string]string) ([]byte, []byte) {
		body["did"], body["signed_by"], body["at"] = string(did), "primary", client.FormatTime(e.clock.Now())
		b := mustJSON(t, body)
		return b, alice.Sign(identity.TagDevice, b)
	}
	add := func(id string, k *identity.Key) {
		t.Helper()
		req, sig := doc(map[string]string{"action": "add", "device_id": id, "name": id, "public_key": identity.B64(k.Public())})
		if _, err := e.members.AddDevice(ctx, did, req, sig); err != nil {
			t.Fatalf("add %s: %v", id, err)
		}
	}
	revoke := func(id string) {
		t.Helper()
		req, sig := doc(map[string]string{"action": "revoke", "device_id": id})
		if err := e.members.RevokeDevice(ctx, did, id, req, sig); err != nil {
			t.Fatalf("revoke %s: %v", id, err)
		}
	}
	phone := newKey(t)
	add("phone", phone)
	st, oldTr, code := e.loginDevice(did, phone)
	if st != http.StatusOK {
		t.Fatalf("login with the phone: %d %s", st, code)
	}
	check("phone's session", oldTr.Token, 200, "")
	revoke("phone")
	check("revoked phone's session", oldTr.Token, 401, "device_revoked")

	// Fill the keyring with revoked devices until the phone, revoked first,
	// is forgotten; then add a new phone under its id.
	for i := 0; ; i++ {
		if _, err := e.members.Device(did, "phone"); err != nil {
			break
		}
		if i > 2*1000 {
			t.Fatal("the revoked phone is never forgotten")
		}
		id := fmt.Sprintf("d%d", i)
		add(id, newKey(t))
		revoke(id)
	}
	newPhone := newKey(t)
	add("phone", newPhone)
	st, newTr, code := e.loginDevice(did, newPhone)
	if st != http.StatusOK {
		t.Fatalf("login with the new phone: %d %s", st, code)
	}
	check("new phone's session", newTr.Token, 200, "")
	check("old phone's session", oldTr.Token, 401, "device_revoked")
	st, _, body := e.refresh(oldTr.RefreshToken)
	wantErr(t, "old phone's refresh token", st, body, http.StatusUnauthorized, "device_revoked")
	e.restart()
	check("old phone's session after a restart", oldTr.Token, 401, "device_revoked")
	check("new phone's session after a restart", newTr.Token, 200, "")
}
