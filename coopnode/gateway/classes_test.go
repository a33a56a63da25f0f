package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

// refusal is the status, code, message and Retry-After of an answer.
type refusal struct {
	status     int
	code, msg  string
	retryAfter string
}

func (e *testEnv) send(method, path, token string, body []byte, chunked bool) refusal {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no length known: sent chunked
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb errorBody
	json.Unmarshal(b, &eb)
	return refusal{resp.StatusCode, eb.Error.Code, eb.Error.Message, resp.Header.Get("Retry-After")}
}

func challengeBody(did identity.DID) []byte {
	b, _ := json.Marshal(map[string]string{"did": string(did)})
	return b
}

// TestUnauthenticatedRoutesIsolated: with no configuration, the login
// routes are the isolated class's, per client address: a burst of 10
// requests at once (the three routes share it), then 429 rate_limited with
// Retry-After naming the class, refilled at 10/s; and bodies of at most
// 1 KiB, a longer one refused with 413 body_too_large naming the class,
// whether its length is declared or not. Each refusal is counted. Before,
// these routes allowed 20/s with bursts of 60 and 16 KiB bodies.
func TestUnauthenticatedRoutesIsolated(t *testing.T) {
	t.Parallel()
	_, e := newTestGateway(t, nil)
	e.clock.Freeze()
	did := newKey(t).DID()
	for i := 0; i < 10; i++ {
		path := "/auth/challenge"
		if i%3 == 2 {
			path = "/auth/refresh" // no valid token in it: a 401, but a request all the same
		}
		if r := e.send("POST", path, "", challengeBody(did), false); r.status == http.StatusTooManyRequests {
			t.Fatalf("request %d of the burst of 10: %+v", i+1, r)
		}
	}
	r := e.send("POST", "/auth/verify", "", []byte(`{}`), false)
	if r.status != http.StatusTooManyRequests || r.code != "rate_limited" || !strings.Contains(r.msg, "trust class isolated") {
		t.Fatalf("the 11th request: %+v, want 429 rate_limited naming the isolated class", r)
	}
	if r.retryAfter != "1" {
		t.Errorf("Retry-After %q, want 1 (100 ms, rounded up to a second)", r.retryAfter)
	}
	if got := e.metric(`icn_trust_class_refusals_total{class="isolated",kind="rate"}`); got != "1" {
		t.Errorf("isolated rate refusals %s, want 1", got)
	}
	e.clock.Advance(100 * time.Millisecond)
	if r := e.send("POST", "/auth/challenge", "", challengeBody(did), false); r.status != http.StatusOK {
		t.Fatalf("after 100 ms: %+v, want one more challenge", r)
	}
	if r := e.send("POST", "/auth/challenge", "", challengeBody(did), false); r.status != http.StatusTooManyRequests {
		t.Fatalf("after one refill: %+v, want 429", r)
	}

	// Payload: a fresh budget, then bodies around the cap.
	e.clock.Advance(time.Minute)
	pad := func(n int) []byte { // {"did":"…"} of n bytes: an invalid DID, a 400 if read
		return []byte(`{"did":"` + strings.Repeat("x", n-10) + `"}`)
	}
	if r := e.send("POST", "/auth/challenge", "", pad(1024), false); r.status != http.StatusBadRequest {
		t.Fatalf("a 1024-byte body: %+v, want it read (400 for its DID)", r)
	}
	for _, chunked := range []bool{false, true} {
		r := e.send("POST", "/auth/challenge", "", pad(1025), chunked)
		if r.status != http.StatusRequestEntityTooLarge || r.code != "body_too_large" || !strings.Contains(r.msg, "trust class isolated") {
			t.Fatalf("a 1025-byte body (chunked %v): %+v, want 413 body_too_large naming the isolated class", chunked, r)
		}
	}
	if got := e.metric(`icn_trust_class_refusals_total{class="isolated",kind="payload"}`); got != "2" {
		t.Errorf("isolated payload refusals %s, want 2", got)
	}
}

// TestApplicantsShareTheAddressBudget: a token holder without a membership
// (an applicant) has no per-DID budget of its own: its requests spend its
// address's isolated budget, with the logins. Its largest legitimate
// membership application (1,151 bytes: a 100-character name in a
// four-byte script, a 252-byte e-mail) passes the isolated class's 1 KiB,
// so it is read under the known class's 10 KiB cap; a larger body is
// refused naming that class.
func TestApplicantsShareTheAddressBudget(t *testing.T) {
	t.Parallel()
	_, e := newTestGateway(t, nil)
	e.clock.Freeze()
	ctx := context.Background()
	adminS := e.login(e.admin) // 2 of the address's 10
	code, err := adminS.CreateInvite(ctx, testCoop)
	if err != nil {
		t.Fatal(err)
	}
	ann := newKey(t)
	annS := e.login(ann) // 4 of 10
	app := client.Application{InviteCode: code, Name: strings.Repeat("😀", 100), Email: strings.Repeat("e", 240) + "@example.org"}
	raw, _ := json.Marshal(map[string]string{"did": string(ann.DID()), "invite_code": app.InviteCode, "name": app.Name, "email": app.Email})
	body, _ := json.Marshal(map[string]string{"application": identity.B64(raw), "signature": identity.B64(ann.Sign(identity.TagMembershipApplication, raw))})
	if len(body) <= 1024 {
		t.Fatalf("the long application is %d bytes; the test needs one over 1 KiB", len(body))
	}
	path := "/membership/" + testCoop + "/applications"
	if r := e.send("POST", path, annS.Token(), body, false); r.status != http.StatusCreated {
		t.Fatalf("a %d-byte application: %+v, want 201", len(body), r) // 5 of 10
	}
	big := append(bytes.Repeat([]byte(" "), 10<<10), body...)
	if r := e.send("POST", path, annS.Token(), big, false); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.msg, "trust class known") {
		t.Fatalf("a %d-byte application: %+v, want 413 naming the known class", len(big), r) // 6 of 10
	}
	for i := 7; i <= 10; i++ { // anonymous requests from the same address
		if r := e.send("POST", "/auth/challenge", "", challengeBody(ann.DID()), false); r.status != http.StatusOK {
			t.Fatalf("request %d of the address's 10: %+v", i, r)
		}
	}
	// The member admin has its own budget; the applicant's is spent.
	if r := e.send("GET", "/ledger/"+testCoop+"/balance/"+string(e.admin.DID()), adminS.Token(), nil, false); r.status != http.StatusOK {
		t.Fatalf("the admin: %+v", r)
	}
	if r := e.send("POST", path, annS.Token(), body, false); r.status != http.StatusTooManyRequests || !strings.Contains(r.msg, "isolated") {
		t.Fatalf("the applicant's 11th request: %+v, want 429 for the isolated class", r)
	}
	if _, err := client.New(e.srv.URL).Login(ctx, newKey(t), testCoop); err == nil {
		t.Fatal("a login from the same address went through its spent budget")
	}
}

// TestMemberClassesApplied: a trust class the co-op configures for a
// member — by DID, by role (the highest of the member's) or for every
// member — gives that member the class's burst (then 429 naming it) and
// payload cap (then 413 naming it), per DID; a member the configuration
// does not place keeps the plain per-DID limit and max_body_bytes.
func TestMemberClassesApplied(t *testing.T) {
	t.Parallel()
	bob := newKey(t)
	for _, tc := range []struct {
		name    string
		classes func(bob identity.DID) MemberClasses
		class   string
		burst   int
		cap     int
	}{
		{"by DID", func(bob identity.DID) MemberClasses {
			return MemberClasses{Members: map[string]string{string(bob): "known"}}
		}, "known", 50, 10 << 10},
		{"by role, the highest", func(identity.DID) MemberClasses {
			return MemberClasses{Roles: map[string]string{"member": "isolated", "treasurer": "known"}}
		}, "known", 50, 10 << 10},
		{"default member class, configured policy", func(identity.DID) MemberClasses {
			return MemberClasses{DefaultMemberClass: "partner", Policies: map[string]trust.PolicyOverride{"partner": {RequestsPerSecond: 20, MaxPayloadBytes: 4096}}}
		}, "partner", 20, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, e := newTestGateway(t, func(c *Config) {
				c.Classes = tc.classes(bob.DID())
				c.Limits = RateLimits{PerIP: 1e6}
			})
			e.clock.Freeze()
			ctx := context.Background()
			if _, err := e.members.AddMember(ctx, bob.DID(), "bob", []string{membership.RoleMember, membership.RoleTreasurer}); err != nil {
				t.Fatal(err)
			}
			bobS := e.login(bob)
			balance := "/ledger/" + testCoop + "/balance/" + string(bob.DID())
			for i := 0; i < tc.burst; i++ {
				if r := e.send("GET", balance, bobS.Token(), nil, false); r.status != http.StatusOK {
					t.Fatalf("request %d of the %s burst of %d: %+v", i+1, tc.class, tc.burst, r)
				}
			}
			r := e.send("GET", balance, bobS.Token(), nil, false)
			if r.status != http.StatusTooManyRequests || r.code != "rate_limited" || !strings.Contains(r.msg, "trust class "+tc.class) || r.retryAfter != "1" {
				t.Fatalf("over the burst: %+v, want 429 rate_limited naming class %s, Retry-After 1", r, tc.class)
			}
			if got := e.metric(fmt.Sprintf(`icn_trust_class_refusals_total{class=%q,kind="rate"}`, tc.class)); got != "1" {
				t.Errorf("%s rate refusals %s, want 1", tc.class, got)
			}

			e.clock.Advance(time.Minute)
			pay := "/ledger/" + testCoop + "/payment"
			body := []byte(`{"intent":"` + strings.Repeat("A", tc.cap) + `","signature":"AA"}`)
			r = e.send("POST", pay, bobS.Token(), body, false)
			if r.status != http.StatusRequestEntityTooLarge || r.code != "body_too_large" || !strings.Contains(r.msg, "trust class "+tc.class) {
				t.Fatalf("a %d-byte payment body: %+v, want 413 body_too_large naming class %s", len(body), r, tc.class)
			}
			if got := e.metric(fmt.Sprintf(`icn_trust_class_refusals_total{class=%q,kind="payload"}`, tc.class)); got != "1" {
				t.Errorf("%s payload refusals %s, want 1", tc.class, got)
			}
			if r := e.send("POST", pay, bobS.Token(), body[:tc.cap-200], false); r.status == http.StatusRequestEntityTooLarge {
				t.Fatalf("a body under the cap: %+v", r)
			}

			// A member the configuration does not place (the admin, by DID
			// only) keeps the per-DID limit: a burst of 400.
			if tc.name != "by DID" {
				return
			}
			adminS := e.login(e.admin)
			for i := 0; i < 2*tc.burst; i++ {
				if r := e.send("GET", "/ledger/"+testCoop+"/balance/"+string(e.admin.DID()), adminS.Token(), nil, false); r.status != http.StatusOK {
					t.Fatalf("the unplaced admin's request %d: %+v", i+1, r)
				}
			}
		})
	}
}

// TestMembersKeepThePerDIDLimitByDefault: with no [gateway.trust], a member
// has the per-DID limit of before (200/s, burst 400) and max_body_bytes,
// and no class refusal is counted.
func TestMembersKeepThePerDIDLimitByDefault(t *testing.T) {
	t.Parallel()
	_, e := newTestGateway(t, nil)
	e.clock.Freeze()
	s := e.login(e.admin)
	path := "/ledger/" + testCoop + "/balance/" + string(e.admin.DID())
	for i := 0; i < 400; i++ {
		if r := e.send("GET", path, s.Token(), nil, false); r.status != http.StatusOK {
			t.Fatalf("request %d of the per-DID burst of 400: %+v", i+1, r)
		}
	}
	if r := e.send("GET", path, s.Token(), nil, false); r.status != http.StatusTooManyRequests || strings.Contains(r.msg, "trust class") {
		t.Fatalf("the 401st: %+v, want 429 for the DID, no class", r)
	}
	body := []byte(`{"intent":"` + strings.Repeat("A", 15<<10) + `","signature":"AA"}`)
	e.clock.Advance(time.Minute)
	if r := e.send("POST", "/ledger/"+testCoop+"/payment", s.Token(), body, false); r.status == http.StatusRequestEntityTooLarge {
		t.Fatalf("a 15 KiB body: %+v, want it read", r)
	}
	for _, c := range []string{"isolated", "known", "partner", "federated"} {
		for _, k := range []string{"rate", "payload"} {
			if got := e.metric(fmt.Sprintf(`icn_trust_class_refusals_total{class=%q,kind=%q}`, c, k)); got != "0" {
				t.Errorf("%s %s refusals %s, want 0", c, k, got)
			}
		}
	}
}

// TestMemberClassesChecked: a bad class, role or DID is refused when the
// gateway starts, naming what is wrong.
func TestMemberClassesChecked(t *testing.T) {
	for _, tc := range []struct {
		mc   MemberClasses
		want string
	}{
		{MemberClasses{DefaultMemberClass: "trusted"}, "default_member_class"},
		{MemberClasses{Roles: map[string]string{"admin": "known"}}, "unknown role"},
		{MemberClasses{Roles: map[string]string{"member": "Known"}}, "roles.member"},
		{MemberClasses{Members: map[string]string{"did:icn:nope": "known"}}, "members"},
		{MemberClasses{Policies: map[string]trust.PolicyOverride{"known": {Burst: -1}}}, "policies"},
	} {
		if err := tc.mc.Check("gateway.trust"); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "gateway.trust") {
			t.Errorf("%+v: %v, want an error naming %s", tc.mc, err, tc.want)
		}
	}
	if err := (MemberClasses{}).Check("gateway.trust"); err != nil {
		t.Errorf("no configuration: %v", err)
	}
}
