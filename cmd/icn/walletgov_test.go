package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
)

// TestWalletGovernance drives the governance commands against a real co-op
// node: the admin (who holds every role) opens a credit-limit proposal, a
// member delegates and reads it, a vote in the discussion period is refused
// with the rules' code, the admin cancels it; an appeal without a removal
// and a proposal by a plain member are refused with what is wrong.
func TestWalletGovernance(t *testing.T) {
	dir := t.TempDir()
	admin, ann := genKey(t), genKey(t)
	adminFile, annFile := writeKey(t, dir, "admin.key", admin), writeKey(t, dir, "ann.key", ann)
	n := serveNode(t, coopnode.Config{CoopID: "coop-g", DataDir: t.TempDir(), Admin: string(admin.DID())})
	at := []string{"--gateway", n.URL(), "--coop", "coop-g"}
	as := func(key string, args ...string) []string {
		return append(append(append([]string{"wallet"}, args...), at...), "--key", key)
	}
	var inv client.Invite
	if err := json.Unmarshal([]byte(mustICN(t, append(as(adminFile, "invite"), "-o", "json")...)), &inv); err != nil {
		t.Fatal(err)
	}
	var app client.ApplicationResult
	if err := json.Unmarshal([]byte(mustICN(t, append(as(annFile, "apply", "--invite", inv.Code, "--name", "Ann", "--email", "ann@example.org"), "-o", "json")...)), &app); err != nil {
		t.Fatal(err)
	}
	mustICN(t, as(adminFile, "approve", app.ID)...)
	fails := func(what string, words []string, args ...string) {
		t.Helper()
		out, err := runICN(t, args...)
		if err == nil {
			t.Fatalf("%s: icn %s succeeded:\n%s", what, strings.Join(args, " "), out)
		}
		wantContains(t, what, err.Error(), words...)
	}

	fails("an id that looks like a flag", []string{"if -3Iw is an argument, put it after --"}, as(adminFile, "approve", "-3Iw")...)

	out := mustICN(t, as(adminFile, "propose", "--kind", "economic", "--id", "p-1", "--title", "Ann gets 40 hours",
		"--credit-limit", string(ann.DID())+"=40")...)
	wantContains(t, "propose", out, "p-1", "economic", "discussion", "0 for, 0 against, 0 abstain of 2")
	fails("propose by a member", []string{"forbidden"}, as(annFile, "propose", "--kind", "economic", "--title", "Me", "--default-credit-limit", "5")...)
	fails("propose nothing", []string{"changes nothing"}, as(adminFile, "propose", "--kind", "economic", "--title", "Nothing")...)
	wantContains(t, "list", mustICN(t, as(annFile, "proposals")...), "p-1", "Ann gets 40 hours")
	wantContains(t, "delegate", mustICN(t, as(annFile, "delegate", string(admin.DID()))...), "your vote goes to")
	fails("vote in discussion", []string{"not_voting", "discussion"}, as(annFile, "vote", "p-1", "for")...)
	fails("bad choice", []string{"for, against or abstain"}, as(annFile, "vote", "p-1", "maybe")...)
	var p client.Proposal
	if err := json.Unmarshal([]byte(mustICN(t, append(as(adminFile, "cancel", "p-1"), "-o", "json")...)), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != "cancelled" || p.Outcome == nil || p.Outcome.Result != "cancelled" {
		t.Fatalf("cancelled: %+v", p)
	}
	wantContains(t, "revoke delegation", mustICN(t, as(annFile, "delegate", "--revoke")...), "revoked")
	fails("revoke again", []string{"no_delegation"}, as(annFile, "delegate", "--revoke")...)
	fails("appeal without removal", []string{"no_removal"}, as(annFile, "appeal", "--title", "Why")...)

	out = mustICN(t, as(adminFile, "propose", "--kind", "dues", "--id", "d-1", "--title", "Weekly dues",
		"--dues", "1", "--dues-cron", "0 9 * * 1", "--dues-time-zone", "Europe/Berlin", "--treasury", "treasury")...)
	wantContains(t, "propose dues by cron", out, "d-1", "dues", "discussion")
	fails("dues more than daily", []string{"invalid dues schedule", "at most once a day"}, as(adminFile, "propose", "--kind", "dues",
		"--title", "Hourly", "--dues", "1", "--dues-cron", "0 * * * *", "--treasury", "treasury")...)
}
