package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
)

// TestWalletRoles: against a real co-op node, the admin grants a member the
// treasurer role with icn wallet roles grant, a repeat changes nothing,
// the member sees the role with roles show, a plain member's grant is
// refused saying the role it needs, and the admin revokes the role again.
func TestWalletRoles(t *testing.T) {
	dir := t.TempDir()
	admin, ann := genKey(t), genKey(t)
	adminFile, annFile := writeKey(t, dir, "admin.key", admin), writeKey(t, dir, "ann.key", ann)
	n := serveNode(t, coopnode.Config{CoopID: "coop-r", DataDir: t.TempDir(), Admin: string(admin.DID())})
	if _, err := n.Members.AddMember(t.Context(), ann.DID(), "Ann", nil); err != nil {
		t.Fatal(err)
	}
	as := func(key string, args ...string) []string {
		return append(append([]string{"wallet", "roles"}, args...), "--gateway", n.URL(), "--coop", "coop-r", "--key", key)
	}
	roleJSON := func(key string, args ...string) client.RoleChange {
		t.Helper()
		var rc client.RoleChange
		out := mustICN(t, append(as(key, args...), "-o", "json")...)
		if err := json.Unmarshal([]byte(out), &rc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return rc
	}
	annDID := string(ann.DID())

	out := mustICN(t, as(adminFile, "grant", annDID, "treasurer")...)
	wantContains(t, "grant table", out, "changed  yes", "roles    member, treasurer")
	if rc := roleJSON(adminFile, "grant", annDID, "treasurer"); rc.Changed || !slices.Equal(rc.Roles, []string{"member", "treasurer"}) {
		t.Fatalf("repeat grant %+v", rc)
	}
	wantContains(t, "show own roles", mustICN(t, as(annFile, "show")...), "member, treasurer", annDID)

	_, err := runICN(t, as(annFile, "grant", annDID, "moderator")...)
	if err == nil {
		t.Fatal("a treasurer granted moderator")
	}
	wantContains(t, "grant by a non-moderator", err.Error(), "forbidden_role", "needs role moderator")
	_, err = runICN(t, as(adminFile, "grant", annDID, "member")...)
	if err == nil || !strings.Contains(err.Error(), "member_role") {
		t.Fatalf("grant member: %v", err)
	}
	_, err = runICN(t, as(adminFile, "grant", "did:icn:x", "steward")...)
	if err == nil || !strings.Contains(err.Error(), "DID") {
		t.Fatalf("bad DID: %v", err)
	}

	if rc := roleJSON(adminFile, "revoke", annDID, "treasurer"); !rc.Changed || !slices.Equal(rc.Roles, []string{"member"}) {
		t.Fatalf("revoke %+v", rc)
	}
	wantContains(t, "show by the admin", mustICN(t, as(adminFile, "show", annDID)...), "roles   member")
}
