package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
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
