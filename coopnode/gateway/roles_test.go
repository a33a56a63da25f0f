package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/membership"
)

// TestRolesAPI: a moderator grants and revokes roles over HTTP; a grant of
// a role held is a 200 that changes nothing; the refusals come with their
// codes; each change is a RolesChanged event in the member's feed.
func TestRolesAPI(t *testing.T) {
	_, e := newTestGateway(t, func(cfg *Config) { cfg.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	adminS := e.login(e.admin)
	admin := adminS.Token()
	ann, bob, stranger := newKey(t), newKey(t), newKey(t)
	e.join(adminS, ann, "ann")
	e.join(adminS, bob, "bob")
	annTok, bobTok := e.login(ann).Token(), e.login(bob).Token()
	role := func(did, r string) string { return "/membership/" + testCoop + "/members/" + did + "/roles/" + r }
	var resp roleResp
	decode := func(body []byte) roleResp {
		t.Helper()
		var r roleResp
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return r
	}

	st, body := e.do("PUT", role(string(ann.DID()), "moderator"), bobTok, nil)
	wantResp(t, "grant by a member", st, body, 403, "forbidden_role")

	st, body = e.do("PUT", role(string(ann.DID()), "moderator"), admin, nil)
	wantResp(t, "grant", st, body, 200, "")
	if resp = decode(body); !resp.Changed || resp.DID != ann.DID() || resp.Role != "moderator" || !slices.Equal(resp.Roles, []string{"member", "moderator"}) {
		t.Fatalf("grant: %s", body)
	}
	st, body = e.do("PUT", role(string(ann.DID()), "moderator"), admin, nil)
	wantResp(t, "grant again", st, body, 200, "")
	if resp = decode(body); resp.Changed || !slices.Equal(resp.Roles, []string{"member", "moderator"}) {
		t.Fatalf("grant again: %s", body)
	}
	// The new moderator acts at once with the token it had: roles come
	// from the records on every request.
	st, body = e.do("PUT", role(string(bob.DID()), "proposer"), annTok, nil)
	wantResp(t, "grant by the new moderator", st, body, 200, "")
	st, body = e.do("GET", "/membership/"+testCoop+"/members/"+string(bob.DID()), bobTok, nil)
	if st != 200 || !jsonHas(body, `"roles":["member","proposer"]`) {
		t.Fatalf("bob's record: %d %s", st, body)
	}

	for _, tc := range []struct {
		what, method, path string
		status             int
		code               string
	}{
		{"grant member", "PUT", role(string(bob.DID()), "member"), 400, "member_role"},
		{"revoke member", "DELETE", role(string(bob.DID()), "member"), 400, "member_role"},
		{"unknown role", "PUT", role(string(bob.DID()), "king"), 400, "unknown_role"},
		{"not a member", "PUT", role(string(stranger.DID()), "steward"), 404, "member_not_found"},
		{"bad did", "PUT", role("did:icn:nope", "steward"), 400, "invalid_did"},
		{"the admin's role", "DELETE", role(string(e.admin.DID()), "moderator"), 403, "forbidden"},
	} {
		st, body := e.do(tc.method, tc.path, admin, nil)
		wantResp(t, tc.what, st, body, tc.status, tc.code)
	}

	st, body = e.do("DELETE", role(string(ann.DID()), "moderator"), annTok, nil)
	wantResp(t, "step down", st, body, 200, "")
	if resp = decode(body); !resp.Changed || !slices.Equal(resp.Roles, []string{"member"}) {
		t.Fatalf("step down: %s", body)
	}
	st, body = e.do("DELETE", role(string(bob.DID()), "proposer"), annTok, nil)
	wantResp(t, "revoke by a former moderator", st, body, 403, "forbidden_role")
	st, body = e.do("DELETE", role(string(bob.DID()), "treasurer"), admin, nil)
	if wantResp(t, "revoke a role not held", st, body, 200, ""); decode(body).Changed {
		t.Fatalf("revoke a role not held: %s", body)
	}

	if n := countType(feedTypes(t, e.ledger, ann.DID()), membership.EventRolesChanged); n != 2 {
		t.Fatalf("%d RolesChanged in ann's feed, want 2", n)
	}
	if n := countType(feedTypes(t, e.ledger, bob.DID()), membership.EventRolesChanged); n != 1 {
		t.Fatalf("%d RolesChanged in bob's feed, want 1", n)
	}
}

// TestRolesAPILastModerator: the co-op's last moderator cannot step down
// (here the admin's credential has lapsed, so another holds the role alone).
func TestRolesAPILastModerator(t *testing.T) {
	_, e := newTestGateway(t, nil)
	e.clock.Advance(366 * 24 * time.Hour)
	mod := newKey(t)
	if _, err := e.members.AddMember(context.Background(), mod.DID(), "mod", []string{membership.RoleModerator}); err != nil {
		t.Fatal(err)
	}
	st, body := e.do("DELETE", "/membership/"+testCoop+"/members/"+string(mod.DID())+"/roles/moderator", e.login(mod).Token(), nil)
	wantResp(t, "last moderator", st, body, 409, "last_moderator")
}

func countType(types []string, typ string) int {
	n := 0
	for _, x := range types {
		if x == typ {
			n++
		}
	}
	return n
}
