package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/membership"
)

// TestWalletTrust drives the trust and recovery commands against a real
// co-op node with [credit_policy] enabled: a member's standing and limits,
// a vouch (and its repeat), a voucher's emergency revoke after which the
// member cannot log in, and a recovery signed by two stewards, one sending
// its own signature and the other's written to a file and sent by the
// member's new DID.
func TestWalletTrust(t *testing.T) {
	dir := t.TempDir()
	admin, ann, bob, s1, neu := genKey(t), genKey(t), genKey(t), genKey(t), genKey(t)
	files := map[string]string{
		"admin": writeKey(t, dir, "admin.key", admin), "ann": writeKey(t, dir, "ann.key", ann), "bob": writeKey(t, dir, "bob.key", bob),
		"s1": writeKey(t, dir, "s1.key", s1), "new": writeKey(t, dir, "new.key", neu),
	}
	n := serveNode(t, coopnode.Config{CoopID: "coop-t", DataDir: t.TempDir(), Admin: string(admin.DID()),
		CreditPolicy: coopnode.CreditPolicyConfig{Enabled: true}})
	if _, err := n.Members.AddMember(context.Background(), s1.DID(), "s1", []string{membership.RoleSteward}); err != nil {
		t.Fatal(err)
	}
	at := []string{"--gateway", n.URL(), "--coop", "coop-t"}
	as := func(who string, args ...string) []string {
		return append(append(append([]string{"wallet"}, args...), at...), "--key", files[who])
	}
	for _, who := range []string{"ann", "bob"} {
		var inv client.Invite
		if err := json.Unmarshal([]byte(mustICN(t, append(as("admin", "invite"), "-o", "json")...)), &inv); err != nil {
			t.Fatal(err)
		}
		var app client.ApplicationResult
		if err := json.Unmarshal([]byte(mustICN(t, append(as(who, "apply", "--invite", inv.Code, "--name", who, "--email", who+"@example.org"), "-o", "json")...)), &app); err != nil {
			t.Fatal(err)
		}
		mustICN(t, as("admin", "approve", app.ID)...)
	}
	fails := func(what string, words []string, args ...string) {
		t.Helper()
		out, err := runICN(t, args...)
		if err == nil {
			t.Fatalf("%s: icn %s succeeded:\n%s", what, strings.Join(args, " "), out)
		}
		wantContains(t, what, err.Error(), words...)
	}

	wantContains(t, "trust before", mustICN(t, as("ann", "trust")...), "standing", "50 %", string(admin.DID()), "50.00 of 100.00 set")
	wantContains(t, "vouch", mustICN(t, as("bob", "vouch", string(ann.DID()))...), string(ann.DID()))
	wantContains(t, "vouch again", mustICN(t, as("bob", "vouch", string(ann.DID()))...), "nothing changed")
	fails("self vouch", []string{"self_vouch"}, as("ann", "vouch", string(ann.DID()))...)
	fails("vouch for a bad DID", []string{"did"}, as("ann", "vouch", "did:icn:nope")...)
	var tr client.Trust
	if err := json.Unmarshal([]byte(mustICN(t, append(as("bob", "trust", string(ann.DID())), "-o", "json")...)), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.StandingPercent != 75 || !tr.PolicyEnabled || len(tr.Vouches) != 1 || tr.Limits[0].Effective != "75.00" {
		t.Fatalf("ann's trust after a vouch: %+v", tr)
	}

	fails("revoke by a non-voucher", []string{"not_voucher"}, as("ann", "emergency-revoke", string(bob.DID()))...)
	wantContains(t, "emergency revoke", mustICN(t, as("bob", "emergency-revoke", string(ann.DID()))...), "in_recovery")
	fails("ann logs in", []string{"in_recovery"}, as("ann", "trust")...)

	wantContains(t, "s1 signs", mustICN(t, as("s1", "recover", "--recovery", "rec-ann", "--old", string(ann.DID()), "--new", string(neu.DID()))...),
		"pending", "1 signed, 2 needed of 2 stewards")
	fails("recover without ids", []string{"--recovery, --old and --new"}, as("s1", "recover", "--old", string(ann.DID()))...)
	signed := filepath.Join(dir, "admin-sig.json")
	wantContains(t, "admin signs to a file", mustICN(t, as("admin", "recover", "--recovery", "rec-ann", "--old", string(ann.DID()), "--new", string(neu.DID()), "--print", signed)...),
		"--send "+signed)
	wantContains(t, "the new DID sends it", mustICN(t, as("new", "recover", "--send", signed)...), "completed", "2 signed, 2 needed")
	wantContains(t, "recoveries", mustICN(t, as("new", "recovery")...), "rec-ann", "completed", string(ann.DID()))
	wantContains(t, "trust of the new DID", mustICN(t, as("new", "trust")...), string(bob.DID()))
	wantContains(t, "recoveries of the old DID", mustICN(t, as("bob", "recovery", string(ann.DID()))...), "rec-ann")
}
