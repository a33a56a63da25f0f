package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// TestOpenFeedClosedOnRevocation: an event stream that is already open is
// closed (policy violation, with the refusal's code) once its member is
// revoked, or the session is emergency-revoked, without the client doing anything.
func TestOpenFeedClosedOnRevocation(t *testing.T) {
	t.Parallel()
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	adminS := e.login(e.admin)
	for _, tc := range []struct {
		name   string
		revoke func(t *testing.T, k *identity.Key)
		code   string
	}{
		{"member revoked", func(t *testing.T, k *identity.Key) {
			if st, body := e.do("DELETE", "/membership/"+testCoop+"/members/"+string(k.DID()), adminS.Token(), nil); st != http.StatusOK {
				t.Fatalf("revoke: %d %s", st, body)
			}
		}, ""},
		{"emergency revoke", func(t *testing.T, k *identity.Key) {
			// A later session of the same member revokes every session before it.
			s := e.login(k)
			req := signedDoc(k, identity.TagEmergencyRevoke, map[string]string{
				"did": string(k.DID()), "keep_device": "primary", "at": client.FormatTime(time.Now())})
			if st, body := e.do("POST", "/identity/emergency-revoke", s.Token(), req); st != http.StatusOK {
				t.Fatalf("emergency revoke: %d %s", st, body)
			}
		}, "session_revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKey(t)
			e.join(adminS, k, "m")
			s := e.login(k)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			events, errs := s.Watch(ctx, testCoop, 0, false)
			// The first event (the membership approval) shows the stream is live.
			select {
			case <-events:
			case err := <-errs:
				t.Fatalf("watch ended before revocation: %v", err)
			}
			tc.revoke(t, k)
			for range events { // drain until the server closes the stream
			}
			err := <-errs
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("stream ended with %v, want a policy-violation close", err)
			}
			if tc.code != "" && !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("close reason %v lacks %q", err, tc.code)
			}
		})
	}
}
