package wallet_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

// recordedBallot is a ballot as GET /governance/{coop}/proposals/{id} shows
// it, with the signed bytes.
type recordedBallot struct {
	Voter     identity.DID `json:"voter"`
	Choice    string       `json:"choice"`
	Revision  uint32       `json:"revision"`
	Vote      string       `json:"vote"`
	Signature string       `json:"signature"`
}

type recordedProposal struct {
	Status  string           `json:"status"`
	Ballots []recordedBallot `json:"ballots"`
	Tally   struct {
		Eligible, For, Against, Abstain int
	} `json:"tally"`
}

// proposalRecord reads proposal id from the node as its record stands.
func (e *env) proposalRecord(id string) recordedProposal {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.inner.URL+"/governance/"+coopID+"/proposals/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+e.adminS.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var p recordedProposal
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("proposal %s: %d %v", id, resp.StatusCode, err)
	}
	return p
}

// checkBallot finds voter's ballot of the revision and checks that its
// bytes are the canonical encoding Go makes of the same fields and that the
// node's own check accepts them with their signature.
func checkBallot(t *testing.T, p recordedProposal, voter identity.DID, choice string, revision uint32) {
	t.Helper()
	for _, b := range p.Ballots {
		if b.Voter != voter || b.Revision != revision {
			continue
		}
		raw, err := identity.DecodeB64(b.Vote)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := identity.DecodeB64(b.Signature)
		if err != nil {
			t.Fatal(err)
		}
		v, err := governance.CheckVote(raw, sig, voter)
		if err != nil {
			t.Fatalf("the browser's vote does not check: %v\n%s", err, raw)
		}
		if b.Choice != choice || string(v.Choice) != choice {
			t.Fatalf("ballot %+v, want %s", b, choice)
		}
		canon := governance.VoteBody{Coop: v.Coop, Proposal: v.Proposal, Voter: string(v.Voter), Choice: string(v.Choice),
			Revision: v.Revision, CreatedAt: v.Created.UTC().Format(time.RFC3339)}.Encode()
		if string(canon) != string(raw) {
			t.Fatalf("the browser signed %s, Go's canonical form is %s", raw, canon)
		}
		return
	}
	t.Fatalf("no ballot of %s at revision %d in %+v", voter.Short(), revision, p.Ballots)
}

// TestBrowserGovernance drives the wallet's governance pages in Chromium:
// Ann sees the co-op's proposals listed, opens one (its title and body
// shown as text, its change, rule and tally), and votes for it: the page
// signs the vote with her key in the browser and the node records it (its
// bytes are Go's canonical encoding and its signature checks). She changes
// her vote (revision 2) and the tally follows. Bob opens the same proposal
// from a link (#proposal=ID) and votes; when a moderator closes it, both
// open pages show the outcome from the feed, without a reload, and the vote
// buttons go. Neither page reports an error.
func TestBrowserGovernance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, bob := newKey(t), newKey(t)
	e.join(ann, "Ann")
	e.join(bob, "Bob")
	ctx := context.Background()
	const id = "credit-ann"
	if _, err := e.adminS.OpenProposal(ctx, coopID, client.ProposalDraft{ID: id, Kind: "economic", Title: hostile,
		Body:   "Ann runs the bakery.\nShe needs more credit.",
		Change: map[string]any{"credit_limits": []map[string]any{{"member": ann.DID(), "limit": map[string]string{"amount": "40", "currency": "hours"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adminS.OpenProposal(ctx, coopID, client.ProposalDraft{ID: "bob-steward", Kind: "membership", Title: "Bob stewards",
		Change: map[string]any{"roles": []map[string]any{{"member": bob.DID(), "role": "steward", "grant": true}}}}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	login := func(name string, k *identity.Key, url string) *tab {
		t.Helper()
		tb := b.open(name, url, "body")
		tb.waitJS(name+"'s welcome", `document.body.dataset.state === "welcome"`, wait)
		tb.click("#welcome summary")
		tb.do(chromedp.SetValue(chromedp.CSS("#import-text"), string(identity.MarshalKey(k))))
		tb.click("#import")
		tb.waitJS(name+" a member", `document.body.dataset.state === "member"`, wait)
		tb.waitJS(name+" live", `document.getElementById("sub").dataset.state === "open"`, wait)
		return tb
	}
	at := login("ann", ann, e.front.URL+"/wallet/")

	// The list: both open proposals, voting (no discussion in this co-op's policy).
	at.waitJS("the proposals listed", `document.getElementById("proposals").dataset.rows === "2"`, wait)
	rows := eval[[]string](at, `[...document.querySelectorAll("#proposals tbody tr")].map(r => r.dataset.id + " " + r.dataset.phase + " " + r.cells[0].textContent)`)
	want := map[string]bool{id + " voting " + hostile: true, "bob-steward voting Bob stewards": true}
	for _, r := range rows {
		if !want[r] {
			t.Errorf("proposal row %q; want %v", r, want)
		}
	}
	at.shot("gov-1-list")

	// The detail.
	at.click(`button[data-open="` + id + `"]`)
	at.waitJS("the proposal shown", `document.getElementById("proposal").dataset.id === "`+id+`" && !document.getElementById("proposal").hidden`, wait)
	detail := eval[map[string]string](at, `({title: document.getElementById("proposal-title").textContent,
	  body: document.getElementById("proposal-body").textContent, change: document.getElementById("proposal-change").textContent,
	  eligible: document.getElementById("tally-eligible").dataset.value, phase: document.getElementById("proposal").dataset.phase,
	  voting: String(!document.getElementById("vote-buttons").hidden), hash: location.hash, mine: document.getElementById("my-vote").textContent,
	  rule: document.getElementById("proposal-rule").textContent})`)
	if detail["title"] != hostile || detail["body"] != "Ann runs the bakery.\nShe needs more credit." || detail["change"] != "Credit limit of you: 40.00 hours" ||
		detail["eligible"] != "3" || detail["phase"] != "voting" || detail["voting"] != "true" || detail["hash"] != "#proposal="+id ||
		detail["mine"] != "You have not voted." || detail["rule"] == "" {
		t.Errorf("proposal detail %q", detail)
	}
	if eval[string](at, `document.title`) == "pwned" {
		t.Fatal("a proposal title ran as HTML")
	}

	// Ann votes for it from the page.
	at.click("#vote-for")
	at.waitJS("Ann's vote recorded", `document.getElementById("vote-result").dataset.status === "recorded"`, wait)
	p := e.proposalRecord(id)
	checkBallot(t, p, ann.DID(), "for", 1)
	if p.Tally.For != 1 || p.Tally.Against != 0 {
		t.Fatalf("tally after Ann's vote %+v", p.Tally)
	}
	at.waitJS("the page's tally", `document.getElementById("tally-for").dataset.value === "1" && document.getElementById("proposal").dataset.myChoice === "for"`, wait)
	at.waitJS("the list's tally", `document.querySelector('#proposals tr[data-id="`+id+`"]').cells[4].textContent === "1 · 0 · 0"`, wait)
	at.shot("gov-2-voted")

	// She changes her mind: a new signed vote, revision 2.
	at.click("#vote-against")
	at.waitJS("the changed vote", `document.getElementById("vote-result").dataset.revision === "2"`, wait)
	p = e.proposalRecord(id)
	checkBallot(t, p, ann.DID(), "against", 2)
	if p.Tally.For != 0 || p.Tally.Against != 1 || len(p.Ballots) != 2 {
		t.Fatalf("after the change: tally %+v, %d ballots", p.Tally, len(p.Ballots))
	}
	at.waitJS("the page's tally after the change", `document.getElementById("tally-against").dataset.value === "1" && document.getElementById("tally-for").dataset.value === "0" && document.querySelectorAll("#ballots tbody tr").length === 2`, wait)

	// Bob follows a link to the proposal and votes for it.
	bt := login("bob", bob, e.front.URL+"/wallet/#proposal="+id)
	bt.waitJS("the linked proposal", `document.getElementById("proposal").dataset.id === "`+id+`"`, wait)
	bt.click("#vote-for")
	bt.waitJS("Bob's vote recorded", `document.getElementById("vote-result").dataset.status === "recorded"`, wait)
	checkBallot(t, e.proposalRecord(id), bob.DID(), "for", 1)
	if _, err := e.adminS.Vote(ctx, coopID, id, e.admin, "for", 0); err != nil {
		t.Fatal(err)
	}

	// A moderator closes it: both pages show the outcome from the feed.
	if _, err := e.adminS.CloseProposal(ctx, coopID, id); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []*tab{at, bt} {
		tb.waitJS("the outcome on "+tb.name+"'s page", `document.getElementById("proposal-outcome").dataset.status === "passed" && document.getElementById("vote-buttons").hidden`, wait)
	}
	if got := e.proposalRecord(id); got.Status != "passed" || got.Tally.For != 2 || got.Tally.Against != 1 {
		t.Fatalf("closed proposal %+v", got)
	}
	at.waitJS("the closed event listed", `[...document.querySelectorAll("#events li")].some(li => li.dataset.type === "ProposalClosed")`, wait)
	at.shot("gov-3-passed")
	for _, tb := range []*tab{at, bt} {
		if errs := tb.errors(); len(errs) > 0 {
			t.Errorf("%s's page reported errors: %q", tb.name, errs)
		}
	}
}
