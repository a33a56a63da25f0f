package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// TestEmergencyRevokeSessions: an emergency revoke voids every session opened
// before it, for members and non-members alike, and a login made right after
// it works. The clock is frozen, so the sessions before and after the revoke
// and the revoke itself share one instant to the nanosecond.
func TestEmergencyRevokeSessions(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	e.clock.Freeze()
	adminS := e.login(e.admin)
	alice, erin := newKey(t), newKey(t)
	e.join(adminS, alice, "alice")

	for _, tc := range []struct {
		name  string
		k     *identity.Key
		probe func(did identity.DID) (string, string, any) // a request the session may make
	}{
		{"member", alice, func(did identity.DID) (string, string, any) {
			return "GET", "/ledger/" + testCoop + "/balance/" + string(did), nil
		}},
		// A non-member may only use the token-only routes; an empty device
		// request gets past authorization and is refused as a bad request.
		{"non-member", erin, func(did identity.DID) (string, string, any) {
			return "POST", "/devices/" + string(did), []byte(`{}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			did := tc.k.DID()
			m, p, body := tc.probe(did)
			old := e.login(tc.k)
			okStatus, _ := e.do(m, p, old.Token(), body)
			if okStatus == http.StatusUnauthorized || okStatus == http.StatusForbidden {
				t.Fatalf("probe before the revoke: %d", okStatus)
			}
			req := signedDoc(tc.k, identity.TagEmergencyRevoke, map[string]string{
				"did": string(did), "keep_device": "primary", "at": client.FormatTime(time.Now())})
			if st, body := e.do("POST", "/identity/emergency-revoke", old.Token(), req); st != http.StatusOK {
				t.Fatalf("emergency revoke: %d %s", st, body)
			}
			if st, body := e.do(m, p, old.Token(), body); st != http.StatusUnauthorized || errCode(body) != "session_revoked" {
				t.Errorf("session from before the revoke: %d %s, want 401 session_revoked", st, body)
			}
			if st, body := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": old.RefreshToken()}); st != http.StatusUnauthorized || errCode(body) != "session_revoked" {
				t.Errorf("refresh from before the revoke: %d %s, want 401 session_revoked", st, body)
			}
			fresh := e.login(tc.k)
			if st, body := e.do(m, p, fresh.Token(), body); st != okStatus {
				t.Errorf("session opened right after the revoke: %d %s, want %d", st, body, okStatus)
			}
		})
	}
}
