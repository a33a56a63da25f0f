package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
)

// TestWalletAdmitsAndPaysMember admits a newcomer with the shipped tools
// alone, against a real co-op node: the admin invites, the newcomer applies
// with its own key, the admin approves, pays it, and the newcomer reads the
// payment and pays back; then the admin revokes it and its key can no
// longer act as a member. Each command's refusals say what is wrong.
// Before, icn wallet had none of invite, apply, approve, revoke and payment.
func TestWalletAdmitsAndPaysMember(t *testing.T) {
	dir := t.TempDir()
	admin, ann, bob := genKey(t), genKey(t), genKey(t)
	adminFile, annFile, bobFile := writeKey(t, dir, "admin.key", admin), writeKey(t, dir, "ann.key", ann), writeKey(t, dir, "bob.key", bob)
	n := serveNode(t, coopnode.Config{CoopID: "coop-w", DataDir: t.TempDir(), Admin: string(admin.DID())})
	at := []string{"--gateway", n.URL(), "--coop", "coop-w"}
	as := func(key string, args ...string) []string {
		return append(append(append([]string{"wallet"}, args...), at...), "--key", key)
	}
	asJSON := func(key string, v any, args ...string) {
		t.Helper()
		out := mustICN(t, append(as(key, args...), "-o", "json")...)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("icn wallet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	wantFails := func(what string, words []string, args ...string) {
		t.Helper()
		out, err := runICN(t, args...)
		if err == nil {
			t.Fatalf("%s: icn %s succeeded:\n%s", what, strings.Join(args, " "), out)
		}
		wantContains(t, what, err.Error(), words...)
	}

	// The admin invites; the table says how the newcomer applies.
	wantContains(t, "invite table", mustICN(t, as(adminFile, "invite")...), "invite code", "icn wallet apply --gateway "+n.URL())
	var inv client.Invite
	asJSON(adminFile, &inv, "invite")
	if inv.Code == "" || inv.ExpiresAt == "" {
		t.Fatalf("invite %+v", inv)
	}

	// Ann, not a member yet, applies with her own key.
	wantContains(t, "login before joining", mustICN(t, as(annFile, "login")...), "(none: not a member")
	wantFails("apply without an invite", []string{"--invite is required"}, as(annFile, "apply", "--name", "Ann", "--email", "ann@example.org")...)
	wantFails("apply without an email", []string{"--email"}, as(annFile, "apply", "--invite", inv.Code, "--name", "Ann")...)
	wantFails("apply with a made-up invite", []string{"apply", "400"},
		as(annFile, "apply", "--invite", "no-such-code", "--name", "Ann", "--email", "ann@example.org")...)
	var app client.ApplicationResult
	asJSON(annFile, &app, "apply", "--invite", inv.Code, "--name", "Ann", "--email", "ann@example.org")
	if app.ID == "" || app.Status != "pending" {
		t.Fatalf("application %+v", app)
	}

	// Only a moderator approves; the admin does.
	wantFails("approve by the applicant", []string{"not_member", "needs role moderator", "has roles: none"}, as(annFile, "approve", app.ID)...)
	wantFails("approve of an unknown application", []string{"approve no-such-id"}, as(adminFile, "approve", "no-such-id")...)
	out := mustICN(t, as(adminFile, "approve", app.ID)...)
	wantContains(t, "approve table", out, "approved", app.ID, string(ann.DID()), "roles       member")
	wantContains(t, "login after joining", mustICN(t, as(annFile, "login")...), "roles          member")

	// The admin pays Ann; she reads the payment and her balance, and pays back.
	var paid client.PaymentResult
	asJSON(adminFile, &paid, "pay", "--to", string(ann.DID()), "--amount", "3.00", "--memo", "welcome")
	if paid.Status != client.StatusCommitted {
		t.Fatalf("pay Ann: %+v", paid)
	}
	var st client.PaymentResult
	asJSON(annFile, &st, "payment", paid.ID)
	if st.ID != paid.ID || st.Status != client.StatusCommitted {
		t.Fatalf("Ann reads payment %s: %+v", paid.ID, st)
	}
	wantContains(t, "payment table", mustICN(t, as(adminFile, "payment", paid.ID)...), "payment", paid.ID, "status   committed")
	wantFails("an unknown payment", []string{"not_found"}, as(annFile, "payment", "no-such-payment")...)
	wantFails("payment without an id", []string{"accepts 1 arg"}, as(annFile, "payment")...)
	wantContains(t, "Ann's balance", mustICN(t, as(annFile, "balance")...), "balance       3.00")
	var back client.PaymentResult
	asJSON(annFile, &back, "pay", "--to", string(admin.DID()), "--amount", "1.00")
	if back.Status != client.StatusCommitted {
		t.Fatalf("Ann pays back: %+v", back)
	}
	wantContains(t, "Ann's history", mustICN(t, as(annFile, "history")...), "+3.00", "-1.00", "welcome")

	// A member may not invite or revoke; the admin revokes Ann.
	wantFails("invite by a member", []string{"needs role moderator", "has roles: member"}, as(annFile, "invite")...)
	wantFails("revoke of a bad DID", []string{"DID \"did:icn:nope\""}, as(adminFile, "revoke", "did:icn:nope")...)
	out, err := runICN(t, as(adminFile, "revoke", string(bob.DID()))...)
	if err == nil || !strings.Contains(err.Error(), "not_member") || strings.Contains(err.Error(), "needs role") {
		t.Errorf("revoke of a non-member by the admin: %v\n%s", err, out)
	}
	wantFails("revoke by a member", []string{"needs role moderator"}, as(annFile, "revoke", string(admin.DID()))...)
	var rev struct{ DID, Status string }
	asJSON(adminFile, &rev, "revoke", string(ann.DID()))
	if rev.DID != string(ann.DID()) || rev.Status != "revoked" {
		t.Fatalf("revoke: %+v", rev)
	}
	wantFails("a revoked member pays", []string{"403"}, as(annFile, "pay", "--to", string(admin.DID()), "--amount", "1.00")...)

	// An invite is single use: Ann's is spent.
	wantFails("reusing an invite", []string{"apply"}, as(bobFile, "apply", "--invite", inv.Code, "--name", "Bob", "--email", "bob@example.org")...)
}
