package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// refresh posts a refresh token to /auth/refresh.
func (e *testEnv) refresh(tok string) (int, client.TokenResponse, []byte) {
	e.t.Helper()
	st, body := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": tok})
	var tr client.TokenResponse
	if st == http.StatusOK {
		if err := json.Unmarshal(body, &tr); err != nil {
			e.t.Fatalf("refresh answer %s: %v", body, err)
		}
	}
	return st, tr, body
}

// intentNow is intent() dated by the gateway's clock, which a test may have moved.
func (e *testEnv) intentNow(id string, from, to identity.DID, amount string) client.PaymentIntent {
	in := intent(id, from, to, amount)
	now := e.clock.Now()
	in.CreatedAt, in.ExpiresAt = client.FormatTime(now), client.FormatTime(now.Add(5*time.Minute))
	return in
}

// rotation is a POST /identity/rotate body: did's device signedBy hands over to
// newKey as device newID, keeping grace, signed by signer with tag.
func rotation(signer *identity.Key, tag identity.Tag, did identity.DID, newKey *identity.Key, newID string, grace time.Duration, signedBy string, at time.Time) map[string]string {
	return signedDoc(signer, tag, map[string]any{
		"did": string(did), "new_public_key": identity.B64(newKey.Public()), "new_device_id": newID,
		"grace_seconds": int64(grace / time.Second), "signed_by": signedBy, "at": client.FormatTime(at),
	})
}

// wantErr checks an error answer's status, code and shape.
func wantErr(t *testing.T, what string, st int, body []byte, status int, code string) {
	t.Helper()
	if st != status || errCode(body) != code {
		t.Errorf("%s: %d %s, want %d %s", what, st, body, status, code)
		return
	}
	checkErrorShape(t, body)
}

// TestRefresh: a refresh token from a login gets a new pair whose access
// token works and whose refresh token refreshes again, also after the access
// token expired; an access token is refused as a refresh token (used before or
// not: verified access tokens are cached) and a refresh token as an access
// token; an expired refresh token is refused.
func TestRefresh(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	adminS := e.login(e.admin)
	alice := newKey(t)
	e.join(adminS, alice, "alice")
	s := e.login(alice)
	balance := "/ledger/" + testCoop + "/balance/" + string(alice.DID())
	checkBalance := func(what, tok string) {
		t.Helper()
		st, body := e.do("GET", balance, tok, nil)
		var b balanceResp
		if st != http.StatusOK || json.Unmarshal(body, &b) != nil || b.DID != string(alice.DID()) || b.Balance != "0.00" {
			t.Fatalf("%s: balance %d %s", what, st, body)
		}
	}
	checkPair := func(what string, st int, tr client.TokenResponse, body []byte, prev ...string) {
		t.Helper()
		if st != http.StatusOK || tr.Token == "" || tr.RefreshToken == "" || tr.ExpiresIn != 3600 || !slices.Equal(tr.Roles, []string{"member"}) {
			t.Fatalf("%s: %d %s", what, st, body)
		}
		if slices.Contains(prev, tr.Token) || slices.Contains(prev, tr.RefreshToken) || tr.Token == tr.RefreshToken {
			t.Fatalf("%s: a token came back again", what)
		}
	}

	checkBalance("login's access token", s.Token())
	st, tr1, body := e.refresh(s.RefreshToken())
	checkPair("refresh with the login's refresh token", st, tr1, body, s.Token(), s.RefreshToken())
	checkBalance("refreshed access token", tr1.Token)
	st, tr2, body := e.refresh(tr1.RefreshToken)
	checkPair("refresh with the refreshed refresh token", st, tr2, body, s.Token(), s.RefreshToken(), tr1.Token, tr1.RefreshToken)
	checkBalance("twice-refreshed access token", tr2.Token)

	unused := e.login(alice) // its access token is never verified, so not cached
	for _, tc := range []struct {
		name       string
		method     string
		path, tok  string
		wantStatus int
		wantCode   string
	}{
		{"access token as refresh token, never used", "refresh", "", unused.Token(), 401, "invalid_token"},
		{"access token as refresh token, used before", "refresh", "", tr1.Token, 401, "invalid_token"},
		{"login's access token as refresh token, used before", "refresh", "", s.Token(), 401, "invalid_token"},
		{"refresh token as access token", "GET", balance, tr2.RefreshToken, 401, "invalid_token"},
		{"login's refresh token as access token", "GET", balance, s.RefreshToken(), 401, "invalid_token"},
		{"garbage as refresh token", "refresh", "", "garbage", 401, "invalid_token"},
		{"empty refresh token", "refresh", "", "", 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st int
			var body []byte
			if tc.method == "refresh" {
				st, _, body = e.refresh(tc.tok)
			} else {
				st, body = e.do(tc.method, tc.path, tc.tok, nil)
			}
			wantErr(t, tc.name, st, body, tc.wantStatus, tc.wantCode)
		})
	}
	// The refused attempts did not spoil the tokens they misused.
	checkBalance("access token after its misuse", tr1.Token)
	st, tr3, body := e.refresh(tr2.RefreshToken)
	checkPair("refresh token after its misuse", st, tr3, body, tr2.Token, tr2.RefreshToken)

	// An hour on, the access tokens have expired and the refresh tokens (24 h) renew the session.
	e.clock.Advance(time.Hour + time.Minute)
	st, body = e.do("GET", balance, tr3.Token, nil)
	wantErr(t, "expired access token", st, body, 401, "token_expired")
	st, tr4, body := e.refresh(tr3.RefreshToken)
	checkPair("refresh after the access token expired", st, tr4, body, tr3.Token, tr3.RefreshToken)
	checkBalance("access token refreshed after expiry", tr4.Token)

	// A day on, the refresh tokens issued before have expired too.
	e.clock.Advance(24 * time.Hour)
	st, _, body = e.refresh(tr3.RefreshToken)
	wantErr(t, "expired refresh token", st, body, 401, "token_expired")
	st, _, body = e.refresh(tr4.RefreshToken)
	wantErr(t, "refresh token issued at +1h, at +25h", st, body, 401, "token_expired")
}

// TestKeyRotation drives POST /identity/rotate over HTTP. Refused first: a
// request signed by a key other than signed_by's, for another purpose, or
// naming no device (401 invalid_signature, nothing changes). Then a rotation
// with a grace period: its replay is 409 replayed_request; the new key logs
// in and pays; during the grace the old key logs in, its old session works and
// its payment signatures verify, but it signs no further key requests (403
// device_not_active); after the grace it no longer logs in (401
// invalid_signature), its sessions are 401 device_revoked (refresh too), its
// payment signatures are 401 invalid_signature, while the new key goes on;
// the replay is still 409 until its time is stale (400 request_expired).
func TestKeyRotation(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	adminS := e.login(e.admin)
	alice, next, mallory := newKey(t), newKey(t), newKey(t)
	e.join(adminS, alice, "alice")
	did := alice.DID()
	oldS := e.login(alice)
	balance := "/ledger/" + testCoop + "/balance/" + string(did)
	const grace = 2 * time.Minute
	pay := func(tok string, signer *identity.Key, id string) (int, []byte) {
		t.Helper()
		return e.do("POST", "/ledger/"+testCoop+"/payment", tok, intentBody(signer, e.intentNow(id, did, e.admin.DID(), "1.00")))
	}
	committed := func(what string, st int, body []byte, id string) {
		t.Helper()
		var r paymentResp
		if st != http.StatusOK || json.Unmarshal(body, &r) != nil || r.ID != id || r.Status != "committed" || r.EntryHash == "" {
			t.Fatalf("%s: %d %s, want 200 committed", what, st, body)
		}
	}
	checkBalance := func(what, tok, want string) {
		t.Helper()
		st, body := e.do("GET", balance, tok, nil)
		var b balanceResp
		if st != http.StatusOK || json.Unmarshal(body, &b) != nil || b.Balance != want {
			t.Fatalf("%s: balance %d %s, want 200 %s", what, st, body, want)
		}
	}

	t.Run("refused", func(t *testing.T) {
		now := e.clock.Now()
		for _, tc := range []struct {
			name string
			doc  map[string]string
		}{
			{"signed by another key", rotation(mallory, identity.TagKeyRotation, did, next, "k2", grace, "primary", now)},
			{"signed by the new key", rotation(next, identity.TagKeyRotation, did, next, "k2", grace, "primary", now)},
			{"signed for device registration", rotation(alice, identity.TagDevice, did, next, "k2", grace, "primary", now)},
			{"signed_by names no device", rotation(alice, identity.TagKeyRotation, did, next, "k2", grace, "tablet", now)},
		} {
			st, body := e.do("POST", "/identity/rotate", oldS.Token(), tc.doc)
			wantErr(t, tc.name, st, body, 401, "invalid_signature")
		}
		// Nothing changed: the new key does not log in, the old one does.
		if st, _, code := e.loginDevice(did, next); st != 401 || code != "invalid_signature" {
			t.Errorf("new key after refused rotations: %d %s, want 401 invalid_signature", st, code)
		}
		if st, _, code := e.loginDevice(did, alice); st != 200 {
			t.Errorf("old key after refused rotations: %d %s", st, code)
		}
	})
	if t.Failed() {
		return
	}

	rot := rotation(alice, identity.TagKeyRotation, did, next, "k2", grace, "primary", e.clock.Now())
	st, body := e.do("POST", "/identity/rotate", oldS.Token(), rot)
	var rr struct {
		Device deviceJSON `json:"device"`
	}
	if st != http.StatusOK || json.Unmarshal(body, &rr) != nil {
		t.Fatalf("rotate: %d %s", st, body)
	}
	if d := rr.Device; d.ID != "k2" || d.Status != "active" || d.Name != "primary" || d.PublicKey != identity.B64(next.Public()) || d.AddedAt == "" {
		t.Fatalf("rotate: new device %+v", d)
	}
	// The same request again, with the old session or a new key's one.
	st, body = e.do("POST", "/identity/rotate", oldS.Token(), rot)
	wantErr(t, "replayed rotation", st, body, 409, "replayed_request")

	// The new key logs in as the same DID and pays.
	st, newTok, code := e.loginDevice(did, next)
	if st != http.StatusOK || !slices.Equal(newTok.Roles, []string{"member"}) {
		t.Fatalf("new key's login: %d %s %+v", st, code, newTok)
	}
	st, body = pay(newTok.Token, next, "rot-new-1")
	committed("payment signed by the new key", st, body, "rot-new-1")
	if st, body := e.do("GET", "/payments/"+testCoop+"/rot-new-1", newTok.Token, nil); st != http.StatusOK || !json.Valid(body) {
		t.Errorf("payment status: %d %s", st, body)
	}
	st, body = e.do("POST", "/identity/rotate", newTok.Token, rot)
	wantErr(t, "rotation replayed in the new key's session", st, body, 409, "replayed_request")

	// Halfway through the grace period.
	e.clock.Advance(grace / 2)
	st, graceTok, code := e.loginDevice(did, alice)
	if st != http.StatusOK || !slices.Equal(graceTok.Roles, []string{"member"}) {
		t.Fatalf("old key's login during the grace: %d %s", st, code)
	}
	checkBalance("old session during the grace", oldS.Token(), "-1.00")
	st, body = pay(newTok.Token, alice, "rot-old-grace")
	committed("payment signed by the old key during the grace", st, body, "rot-old-grace")
	st, body = pay(graceTok.Token, alice, "rot-old-grace-2")
	committed("payment in the old key's grace session", st, body, "rot-old-grace-2")
	// A retiring key signs no key requests: neither another rotation nor a new device.
	st, body = e.do("POST", "/identity/rotate", oldS.Token(), rotation(alice, identity.TagKeyRotation, did, mallory, "k3", grace, "primary", e.clock.Now()))
	wantErr(t, "second rotation by the retiring key", st, body, 403, "device_not_active")
	st, body = e.do("POST", "/devices/"+string(did), oldS.Token(), signedDoc(alice, identity.TagDevice, map[string]string{
		"did": string(did), "action": "add", "device_id": "dev3", "name": "phone", "public_key": identity.B64(mallory.Public()),
		"signed_by": "primary", "at": client.FormatTime(e.clock.Now())}))
	wantErr(t, "device added by the retiring key", st, body, 403, "device_not_active")

	// Past the end of the grace period (the clock is real time plus an offset,
	// so grace/2 + 1 s more is past it whatever time the test took).
	e.clock.Advance(grace/2 + time.Second)
	if st, _, code := e.loginDevice(did, alice); st != 401 || code != "invalid_signature" {
		t.Errorf("old key's login after the grace: %d %s, want 401 invalid_signature", st, code)
	}
	for _, tc := range []struct{ name, tok string }{{"old session", oldS.Token()}, {"session opened during the grace", graceTok.Token}} {
		st, body := e.do("GET", balance, tc.tok, nil)
		wantErr(t, tc.name+" after the grace", st, body, 401, "device_revoked")
	}
	st, _, body = e.refresh(oldS.RefreshToken())
	wantErr(t, "old session's refresh after the grace", st, body, 401, "device_revoked")
	st, body = pay(newTok.Token, alice, "rot-old-after")
	wantErr(t, "payment signed by the old key after the grace", st, body, 401, "invalid_signature")
	if _, err := e.ledger.Payment("rot-old-after"); err == nil {
		t.Error("a payment signed by the retired key was recorded")
	}
	st, body = pay(newTok.Token, next, "rot-new-2")
	committed("payment signed by the new key after the grace", st, body, "rot-new-2")
	checkBalance("new session after the grace", newTok.Token, "-4.00")
	st, newTok2, body := e.refresh(newTok.RefreshToken)
	if st != http.StatusOK {
		t.Fatalf("new session's refresh after the grace: %d %s", st, body)
	}
	checkBalance("refreshed new session", newTok2.Token, "-4.00")

	// The rotation is still remembered as a replay, until its time is stale.
	st, body = e.do("POST", "/identity/rotate", newTok.Token, rot)
	wantErr(t, "rotation replayed after the grace", st, body, 409, "replayed_request")
	e.clock.Advance(5 * time.Minute)
	st, body = e.do("POST", "/identity/rotate", newTok2.Token, rot)
	wantErr(t, "rotation replayed once stale", st, body, 400, "request_expired")
}
