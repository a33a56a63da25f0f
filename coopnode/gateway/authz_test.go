package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// want is the expected answer of one cell of the authorization matrix; the
// body (if set) replaces the default "{}" of a POST or DELETE, and query is
// appended to the path.
type want struct {
	status int
	code   string
	query  string
	body   any
}

// authzRow is one route's row of the matrix. A nil cell does not apply to
// the route; the reason is in the table's comment.
type authzRow struct {
	method, pattern string
	otherDID        *want // member A acts on member B's {did} (or B's payment / intent / request)
	wrongRole       *want // plain member A on a moderator-only route (or ?feed=coop)
	nonMember       *want // a logged-in DID with no membership (roles [])
	revokedCred     *want // member C, revoked, with a token from a login after the revocation
}

func cell(status int, code string) *want { return &want{status: status, code: code} }

// TestAuthorizationMatrix checks every authenticated route against each
// failure of DESIGN.md's authorization order.
//
// Columns and expected answers:
//
//	no token                    every route: 401 missing_token
//	expired token (clock +61m)  every route: 401 token_expired
//	revoked device's token      every route: 401 device_revoked (and that key's /auth/verify: 401 invalid_signature)
//	revoked member's token from
//	before the revocation       every route: 401 session_revoked (refresh too)
//	other DID (A on B's)        member get, balance, history, devices list/add/revoke, application, rotate,
//	                            emergency-revoke: 403 forbidden; payment with B's intent: 403 from_mismatch;
//	                            B's payment status: 404 not_found (indistinguishable from a missing id);
//	                            invites, approve, directory, ws: no {did} (n/a); member revoke: governed by role (see next)
//	wrong role (plain member)   invites, approve, member revoke, role grant/revoke, ws?feed=coop: 403 forbidden_role; others n/a
//	non-member (roles [])       every route needing a credential: 403 not_member (ws: even the own feed);
//	                            application, devices, rotate, emergency-revoke need only a token (n/a)
//	revoked credential (a login
//	after the revocation)       every route needing a credential: 403 credential_revoked (ws: even the own feed);
//	                            the token-only routes above are n/a
func TestAuthorizationMatrix(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	ctx := context.Background()
	adminS := e.login(e.admin)
	alice, bob, carol, dave, erin := newKey(t), newKey(t), newKey(t), newKey(t), newKey(t)
	for name, k := range map[string]*identity.Key{"alice": alice, "bob": bob, "carol": carol, "dave": dave} {
		e.join(adminS, k, name)
	}
	aliceS, bobS, carolS, daveS, erinS := e.login(alice), e.login(bob), e.login(carol), e.login(dave), e.login(erin)
	if !slices.Equal(aliceS.Roles(), []string{"member"}) || len(erinS.Roles()) != 0 {
		t.Fatalf("roles: alice %v erin %v", aliceS.Roles(), erinS.Roles())
	}
	if r, err := bobS.Pay(ctx, intent("bob-pay", bob.DID(), e.admin.DID(), "1.00"), bob); err != nil || r.Status != "committed" {
		t.Fatalf("bob's payment: %+v %v", r, err)
	}
	now := func() string { return client.FormatTime(time.Now()) }

	// Bodies for the other-DID cells: well-formed documents about bob.
	bobApp := func() any {
		code, err := adminS.CreateInvite(ctx, testCoop)
		if err != nil {
			t.Fatal(err)
		}
		b := mustJSON(t, client.Application{DID: bob.DID(), InviteCode: code, Name: "Bob", Email: "bob@example.org"})
		return map[string]string{"application": identity.B64(b), "signature": identity.B64(bob.Sign(identity.TagMembershipApplication, b))}
	}
	spare := newKey(t)

	rows := []authzRow{
		{method: "POST", pattern: "/membership/{coop}/invites",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/backup/{coop}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "POST", pattern: "/membership/{coop}/applications",
			otherDID: &want{status: 403, code: "forbidden", body: bobApp}},
		{method: "POST", pattern: "/membership/{coop}/applications/{id}/approve",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/membership/{coop}/members",
			nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/membership/{coop}/members/{did}",
			otherDID: cell(403, "forbidden"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "DELETE", pattern: "/membership/{coop}/members/{did}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "PUT", pattern: "/membership/{coop}/members/{did}/roles/{role}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "DELETE", pattern: "/membership/{coop}/members/{did}/roles/{role}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "POST", pattern: "/ledger/{coop}/payment",
			otherDID:  &want{status: 403, code: "from_mismatch", body: intentBody(bob, intent("from-bob", bob.DID(), alice.DID(), "1.00"))},
			nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/ledger/{coop}/balance/{did}",
			otherDID: cell(403, "forbidden"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/ledger/{coop}/history/{did}",
			otherDID: cell(403, "forbidden"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/payments/{coop}/{id}",
			otherDID: cell(404, "not_found"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/ws/{coop}",
			wrongRole:   &want{status: 403, code: "forbidden_role", query: "?feed=coop"},
			nonMember:   cell(403, "not_member"),
			revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/settlement/{coop}/statements",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/settlement/{coop}/statements/{period}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/cluster/{coop}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "POST", pattern: "/cluster/{coop}/nodes",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "DELETE", pattern: "/cluster/{coop}/nodes/{did}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
		{method: "GET", pattern: "/devices/{did}", otherDID: cell(403, "forbidden")},
		{method: "POST", pattern: "/devices/{did}",
			otherDID: &want{status: 403, code: "forbidden", body: signedDoc(bob, identity.TagDevice, map[string]string{
				"did": string(bob.DID()), "action": "add", "device_id": "evil", "name": "evil", "public_key": identity.B64(spare.Public()),
				"signed_by": "primary", "at": now()})}},
		{method: "DELETE", pattern: "/devices/{did}/{device}",
			otherDID: &want{status: 403, code: "forbidden", body: signedDoc(bob, identity.TagDevice, map[string]string{
				"did": string(bob.DID()), "action": "revoke", "device_id": "dev2", "signed_by": "primary", "at": now()})}},
		{method: "POST", pattern: "/identity/rotate",
			otherDID: &want{status: 403, code: "forbidden", body: signedDoc(alice, identity.TagKeyRotation, map[string]any{
				"did": string(bob.DID()), "new_public_key": identity.B64(spare.Public()), "new_device_id": "rot", "grace_seconds": 0,
				"signed_by": "primary", "at": now()})}},
		{method: "POST", pattern: "/identity/emergency-revoke",
			otherDID: &want{status: 403, code: "forbidden", body: signedDoc(alice, identity.TagEmergencyRevoke, map[string]string{
				"did": string(bob.DID()), "keep_device": "primary", "at": now()})}},
		{method: "PUT", pattern: "/ledger/{coop}/credit-limit/{did}",
			wrongRole: cell(403, "forbidden_role"), nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")},
	}
	// Governance: the rules decide roles (proposer, moderator) from the
	// membership records, so a route needs only a member (an appeal and a
	// cancel only a token: an appellant is no member).
	for _, p := range []string{"POST /governance/{coop}/proposals", "GET /governance/{coop}/proposals", "GET /governance/{coop}/proposals/{id}",
		"POST /governance/{coop}/proposals/{id}/votes", "POST /governance/{coop}/proposals/{id}/close", "GET /governance/{coop}/delegations",
		"PUT /governance/{coop}/delegation", "DELETE /governance/{coop}/delegation", "GET /governance/{coop}/dues"} {
		m, pat, _ := strings.Cut(p, " ")
		rows = append(rows, authzRow{method: m, pattern: pat, nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")})
	}
	rows = append(rows, authzRow{method: "POST", pattern: "/governance/{coop}/appeals"}, authzRow{method: "POST", pattern: "/governance/{coop}/proposals/{id}/cancel"})
	// Member trust (trust.go): vouching, reading a standing and a voucher's
	// revoke need a member; a recovery signature needs only a token (the
	// member's new DID has no membership), and so does reading one's own
	// recoveries (another DID's needs a member: TestVoucherRevokeAndRecovery).
	for _, p := range []string{"POST /membership/{coop}/vouches", "GET /membership/{coop}/trust/{did}", "POST /membership/{coop}/emergency-revoke"} {
		m, pat, _ := strings.Cut(p, " ")
		rows = append(rows, authzRow{method: m, pattern: pat, nonMember: cell(403, "not_member"), revokedCred: cell(403, "credential_revoked")})
	}
	rows = append(rows, authzRow{method: "POST", pattern: "/membership/{coop}/recoveries"}, authzRow{method: "GET", pattern: "/membership/{coop}/recoveries/{did}"})

	// The matrix covers exactly the authenticated routes.
	var table, covered []string
	for _, rt := range e.g.allRoutes() {
		if !rt.Auth.public {
			table = append(table, rt.Method+" "+rt.Pattern)
		}
	}
	for _, r := range rows {
		covered = append(covered, r.method+" "+r.pattern)
	}
	slices.Sort(table)
	slices.Sort(covered)
	if !slices.Equal(table, covered) {
		t.Fatalf("matrix rows %v\n  differ from authenticated routes %v", covered, table)
	}

	// run sends row's request as token, with {did} = did, and checks the answer.
	run := func(t *testing.T, col string, r authzRow, token string, did identity.DID, w want) {
		t.Helper()
		id := "missing-id"
		if col == "other DID" {
			id = "bob-pay"
		}
		path := strings.NewReplacer("{coop}", testCoop, "{did}", string(did), "{id}", id, "{device}", "dev2", "{period}", "1", "{role}", "steward").Replace(r.pattern) + w.query
		var body any
		if r.method != "GET" {
			body = []byte(`{}`)
		}
		if f, ok := w.body.(func() any); ok {
			body = f()
		} else if w.body != nil {
			body = w.body
		}
		st, resp := e.do(r.method, path, token, body)
		if st != w.status || (w.code != "" && errCode(resp) != w.code) {
			t.Errorf("%s: %s %s: %d %s; want %d %s", col, r.method, path, st, resp, w.status, w.code)
		}
		if st >= 400 {
			checkErrorShape(t, resp)
		}
	}
	column := func(col string, token string, did identity.DID, pick func(authzRow) *want) {
		t.Run(col, func(t *testing.T) {
			for _, r := range rows {
				if w := pick(r); w != nil {
					run(t, col, r, token, did, *w)
				}
			}
		})
	}
	all := func(w want) func(authzRow) *want { return func(authzRow) *want { return &w } }

	column("no token", "", alice.DID(), all(want{status: 401, code: "missing_token"}))
	column("other DID", aliceS.Token(), bob.DID(), func(r authzRow) *want { return r.otherDID })
	column("wrong role", aliceS.Token(), bob.DID(), func(r authzRow) *want { return r.wrongRole })
	column("non-member", erinS.Token(), erin.DID(), func(r authzRow) *want { return r.nonMember })

	// A malformed token and a token from another node's key are no better than none.
	other, _ := newTestGateway(t, nil)
	foreign, err := other.tokens.issue(&caller{DID: alice.DID(), Device: "primary", Session: newSID()}, typAccess, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"garbage", foreign, aliceS.RefreshToken()} {
		if st, body := e.do("GET", "/ledger/"+testCoop+"/balance/"+string(alice.DID()), tok, nil); st != 401 || errCode(body) != "invalid_token" {
			t.Errorf("token %.20q...: %d %s, want 401 invalid_token", tok, st, body)
		}
	}

	// Revoked member: carol is revoked; her token from before is still
	// unexpired, but the revocation ended its session. She may still log in
	// (as anyone may), and that session's token meets her revoked credential.
	if err := adminS.RevokeMember(ctx, testCoop, carol.DID()); err != nil {
		t.Fatal(err)
	}
	if m, err := adminS.Member(ctx, testCoop, carol.DID()); err != nil || m.Status != "revoked" {
		t.Fatalf("carol after revoke: %+v %v", m, err)
	}
	column("revoked member's token from before the revocation", carolS.Token(), carol.DID(), all(want{status: 401, code: "session_revoked"}))
	if st, body := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": carolS.RefreshToken()}); st != 401 || errCode(body) != "session_revoked" {
		t.Errorf("refresh from before the revocation: %d %s, want 401 session_revoked", st, body)
	}
	column("revoked credential", e.login(carol).Token(), carol.DID(), func(r authzRow) *want { return r.revokedCred })

	// Revoked device: dave adds a second device (request signed by his
	// primary key), logs in with it, then revokes it.
	dev2 := newKey(t)
	add := signedDoc(dave, identity.TagDevice, map[string]string{"did": string(dave.DID()), "action": "add", "device_id": "dev2",
		"name": "phone", "public_key": identity.B64(dev2.Public()), "signed_by": "primary", "at": now()})
	if st, body := e.do("POST", "/devices/"+string(dave.DID()), daveS.Token(), add); st != http.StatusCreated {
		t.Fatalf("add device: %d %s", st, body)
	}
	st, dev2Tok, code := e.loginDevice(dave.DID(), dev2)
	if st != 200 || !slices.Equal(dev2Tok.Roles, []string{"member"}) {
		t.Fatalf("login with dev2: %d %s %+v", st, code, dev2Tok)
	}
	daveBalance := "/ledger/" + testCoop + "/balance/" + string(dave.DID())
	if st, body := e.do("GET", daveBalance, dev2Tok.Token, nil); st != 200 {
		t.Fatalf("dev2 session before revocation: %d %s", st, body)
	}
	rev := signedDoc(dave, identity.TagDevice, map[string]string{"did": string(dave.DID()), "action": "revoke", "device_id": "dev2",
		"signed_by": "primary", "at": now()})
	if st, body := e.do("DELETE", "/devices/"+string(dave.DID())+"/dev2", daveS.Token(), rev); st != 200 {
		t.Fatalf("revoke device: %d %s", st, body)
	}
	column("revoked device", dev2Tok.Token, dave.DID(), all(want{status: 401, code: "device_revoked"}))
	if st, _, code := e.loginDevice(dave.DID(), dev2); st != 401 || code != "invalid_signature" {
		t.Errorf("login with the revoked device: %d %s, want 401 invalid_signature", st, code)
	}
	if st, body := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": dev2Tok.RefreshToken}); st != 401 || errCode(body) != "device_revoked" {
		t.Errorf("refresh with the revoked device: %d %s, want 401 device_revoked", st, body)
	}
	if st, body := e.do("GET", daveBalance, daveS.Token(), nil); st != 200 {
		t.Errorf("dave's primary session after revoking dev2: %d %s", st, body)
	}

	// Expired token: a fresh admin token, then the gateway's clock moves past
	// its hour. The first request checks the signature, later ones hit the
	// token cache; both must refuse it.
	fresh := e.login(e.admin)
	e.clock.Advance(time.Hour + time.Minute)
	column("expired token", fresh.Token(), e.admin.DID(), all(want{status: 401, code: "token_expired"}))
	if st, body := e.do("GET", "/ledger/"+testCoop+"/balance/"+string(e.admin.DID()), adminS.Token(), nil); st != 401 || errCode(body) != "token_expired" {
		t.Errorf("cached admin token after expiry: %d %s", st, body)
	}
	e.clock.Set(0)
}
