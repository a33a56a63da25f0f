package gateway

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

// govPolicy has short periods so a test moves its clock by minutes.
func govPolicy() governance.Policy {
	p := governance.Policy{}
	for _, k := range governance.Kinds {
		p[k] = governance.Rule{Threshold: governance.Majority, Quorum: governance.Fraction{Num: 1, Den: 3}, Discussion: time.Minute, Voting: 10 * time.Minute}
	}
	p[governance.KindRemoval] = governance.Rule{Threshold: governance.TwoThirds, Quorum: governance.Fraction{Num: 1, Den: 2}, Discussion: time.Minute, Voting: 10 * time.Minute}
	return p
}

// newGovGateway is a test gateway with governance.
func newGovGateway(t *testing.T) *testEnv {
	var gs *govern.Store
	_, e := newTestGateway(t, func(cfg *Config) {
		var err error
		gs, err = govern.New(cfg.Ledger, cfg.Members, govern.Options{CoopID: testCoop, Policy: govPolicy(), Clock: cfg.Clock, Logger: cfg.Logger})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Governance = gs
		cfg.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6}
	})
	return e
}

// signVote is the request body of k's vote.
func signVote(k *identity.Key, proposal, choice string, rev uint32) map[string]string {
	raw := governance.VoteBody{Coop: testCoop, Proposal: proposal, Voter: string(k.DID()), Choice: choice, Revision: rev,
		CreatedAt: time.Now().UTC().Format(time.RFC3339)}.Encode()
	return signedVote(k, raw)
}

func signedVote(k *identity.Key, raw []byte) map[string]string {
	return map[string]string{"vote": identity.B64(raw), "signature": identity.B64(k.Sign(identity.TagVote, raw))}
}

// want checks a response's status and, if code is set, its error code.
func wantResp(t *testing.T, what string, st int, body []byte, wantSt int, code string) {
	t.Helper()
	if st != wantSt || errCode(body) != code {
		t.Fatalf("%s: %d %s, want %d %q", what, st, body, wantSt, code)
	}
}

func feedTypes(t *testing.T, l *ledger.Store, did identity.DID) []string {
	t.Helper()
	evs, err := l.ReadFeed(string(did), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func limitOf(t *testing.T, e *testEnv, token string, did identity.DID) string {
	t.Helper()
	st, body := e.do("GET", "/ledger/"+testCoop+"/balance/"+string(did), token, nil)
	if st != 200 {
		t.Fatalf("balance: %d %s", st, body)
	}
	var b struct {
		CreditLimit string `json:"credit_limit"`
	}
	json.Unmarshal(body, &b)
	return b.CreditLimit
}

// TestGovernanceEndToEnd: a credit-limit proposal is opened, discussed,
// voted on (directly, through a delegate, with an override and a changed
// vote) and closed; the new limit holds for the next payment; a removal
// passes, the member's tokens stop working, an appeal passes and restores
// them. Refusals along the way are 4xx with their codes.
func TestGovernanceEndToEnd(t *testing.T) {
	e := newGovGateway(t)
	adminS := e.login(e.admin)
	admin := adminS.Token()
	keys := map[string]*identity.Key{}
	tok := map[string]string{}
	for _, n := range []string{"ann", "bob", "cid", "dan"} {
		keys[n] = newKey(t)
		e.join(adminS, keys[n], n)
		tok[n] = e.login(keys[n]).Token()
	}
	did := func(n string) identity.DID { return keys[n].DID() }
	gov := "/governance/" + testCoop

	// Before: bob cannot pay 150 (limit 100).
	st, body := e.do("POST", "/ledger/"+testCoop+"/payment", tok["bob"], intentBody(keys["bob"], intent("pay-1", did("bob"), did("ann"), "150")))
	if st != 200 || !jsonHas(body, `"status":"rejected"`) {
		t.Fatalf("payment before: %d %s", st, body)
	}

	// A treasurer sets a member's limit directly; a member may not.
	cl := "/ledger/" + testCoop + "/credit-limit/" + string(did("cid"))
	st, body = e.do("PUT", cl, tok["ann"], map[string]string{"limit": "120"})
	wantResp(t, "limit by a member", st, body, 403, "forbidden_role")
	st, body = e.do("PUT", cl, admin, map[string]string{"limit": "-1"})
	wantResp(t, "negative limit", st, body, 400, "invalid_amount")
	st, body = e.do("PUT", cl, admin, map[string]string{"limit": "120", "currency": "hours"})
	wantResp(t, "limit by the admin", st, body, 200, "")
	if got := limitOf(t, e, tok["cid"], did("cid")); got != "120.00" {
		t.Fatalf("cid's limit %s", got)
	}

	// Only a proposer opens.
	open := map[string]any{"id": "p-credit", "kind": "economic", "title": "Credit for bob",
		"change": map[string]any{"credit_limits": []map[string]any{{"member": did("bob"), "limit": map[string]string{"amount": "250", "currency": "hours"}}}}}
	st, body = e.do("POST", gov+"/proposals", tok["ann"], open)
	wantResp(t, "open by a plain member", st, body, 403, "forbidden")
	st, body = e.do("POST", gov+"/proposals", admin, open)
	wantResp(t, "open", st, body, 201, "")
	st, body = e.do("POST", gov+"/proposals", admin, open)
	wantResp(t, "open again", st, body, 409, "proposal_exists")

	// Discussion: votes are refused; delegations are made.
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["ann"], signVote(keys["ann"], "p-credit", "for", 1))
	wantResp(t, "vote in discussion", st, body, 409, "not_voting")
	for _, n := range []string{"cid", "dan"} {
		st, body = e.do("PUT", gov+"/delegation", tok[n], map[string]string{"to": string(did("ann"))})
		wantResp(t, "delegate", st, body, 200, "")
	}
	st, body = e.do("PUT", gov+"/delegation", tok["ann"], map[string]string{"to": string(did("cid"))})
	wantResp(t, "cycle", st, body, 400, "delegation_cycle")

	e.clock.Advance(time.Minute)
	votes := []struct {
		who, choice string
		rev         uint32
		st          int
		code        string
	}{
		{"ann", "for", 1, 200, ""},
		{"dan", "against", 1, 200, ""}, // overrides dan's delegation to ann
		{"bob", "against", 1, 200, ""},
		{"bob", "for", 2, 200, ""},                  // a changed vote
		{"bob", "abstain", 1, 409, "already_voted"}, // a lower revision
	}
	for _, v := range votes {
		st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok[v.who], signVote(keys[v.who], "p-credit", v.choice, v.rev))
		wantResp(t, fmt.Sprintf("vote %s %s %d", v.who, v.choice, v.rev), st, body, v.st, v.code)
	}
	// A replay of recorded bytes changes nothing; of an older revision is refused.
	rev1 := governance.VoteBody{Coop: testCoop, Proposal: "p-credit", Voter: string(did("ann")), Choice: "for", Revision: 1, CreatedAt: "2026-03-09T09:00:00Z"}.Encode()
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["ann"], signedVote(keys["ann"], rev1))
	wantResp(t, "ann's first vote", st, body, 409, "already_voted")
	bobFor := signVote(keys["bob"], "p-credit", "for", 3)
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["bob"], bobFor)
	wantResp(t, "bob rev 3", st, body, 200, "")
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["bob"], bobFor)
	if st != 200 || !jsonHas(body, `"recorded":false`) {
		t.Fatalf("resend: %d %s", st, body)
	}
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["ann"], bobFor)
	wantResp(t, "bob's vote sent by ann", st, body, 403, "wrong_signer")
	dup := []byte(`{"coop":"` + testCoop + `","proposal":"p-credit","voter":"` + string(did("cid")) + `","choice":"for","choice":"against","revision":1,"created_at":"2026-03-09T09:00:00Z"}`)
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["cid"], signedVote(keys["cid"], dup))
	wantResp(t, "duplicate key", st, body, 400, "invalid_vote")
	bad := signVote(keys["cid"], "p-credit", "for", 1)
	bad["signature"] = identity.B64(keys["cid"].Sign(identity.TagPaymentIntent, mustB64(t, bad["vote"])))
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["cid"], bad)
	wantResp(t, "payment signature", st, body, 401, "bad_signature")
	outsider := newKey(t)
	outTok := e.login(outsider).Token()
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", outTok, signVote(outsider, "p-credit", "for", 1))
	wantResp(t, "non-member", st, body, 403, "not_member")

	st, body = e.do("GET", gov+"/proposals/p-credit", tok["cid"], nil)
	if st != 200 || !jsonHas(body, `"for":3`) || !jsonHas(body, `"against":1`) || !jsonHas(body, `"phase":"voting"`) {
		t.Fatalf("get: %d %s", st, body)
	}
	st, body = e.do("POST", gov+"/proposals/p-credit/close", tok["ann"], nil)
	wantResp(t, "close by a member", st, body, 403, "forbidden")
	st, body = e.do("POST", gov+"/proposals/p-credit/close", admin, nil)
	wantResp(t, "close", st, body, 200, "")
	var closed govern.View
	json.Unmarshal(body, &closed)
	if closed.Outcome == nil || closed.Outcome.Status != "passed" || closed.Tally.For != 3 || closed.Tally.Against != 1 {
		t.Fatalf("closed: %s", body)
	}
	// The limit changed with the close, and the next payment uses it.
	if got := limitOf(t, e, tok["bob"], did("bob")); got != "250.00" {
		t.Fatalf("bob's limit %s", got)
	}
	st, body = e.do("POST", "/ledger/"+testCoop+"/payment", tok["bob"], intentBody(keys["bob"], intent("pay-2", did("bob"), did("ann"), "150")))
	if st != 200 || !jsonHas(body, `"status":"committed"`) {
		t.Fatalf("payment after: %d %s", st, body)
	}
	st, body = e.do("POST", gov+"/proposals/p-credit/votes", tok["ann"], signVote(keys["ann"], "p-credit", "against", 2))
	wantResp(t, "vote after close", st, body, 409, "not_voting")
	if ft := feedTypes(t, e.ledger, did("ann")); !hasAll(ft, "ProposalOpened", "VoteCast", "ProposalClosed") {
		t.Fatalf("ann's feed %v", ft)
	}
	if ft := feedTypes(t, e.ledger, did("cid")); !hasAll(ft, "ProposalOpened", "ProposalClosed") || slices.Contains(ft, "VoteCast") {
		t.Fatalf("cid's feed %v", ft)
	}

	// Removal of dan, then dan's appeal.
	st, body = e.do("POST", gov+"/proposals", admin, map[string]any{"id": "p-remove", "kind": "removal", "title": "Remove dan",
		"change": map[string]any{"remove": did("dan")}})
	wantResp(t, "open removal", st, body, 201, "")
	e.clock.Advance(time.Minute)
	for _, n := range []string{"ann", "bob", "cid"} {
		st, body = e.do("POST", gov+"/proposals/p-remove/votes", tok[n], signVote(keys[n], "p-remove", "for", 1))
		wantResp(t, "removal vote "+n, st, body, 200, "")
	}
	st, body = e.do("POST", gov+"/proposals/p-remove/votes", tok["dan"], signVote(keys["dan"], "p-remove", "against", 1))
	wantResp(t, "dan on his own removal", st, body, 403, "not_eligible")
	st, body = e.do("POST", gov+"/proposals/p-remove/close", admin, nil)
	wantResp(t, "close removal", st, body, 200, "")
	st, body = e.do("GET", "/ledger/"+testCoop+"/balance/"+string(did("dan")), tok["dan"], nil)
	if st != 401 {
		t.Fatalf("dan's token after removal: %d %s", st, body)
	}
	if got := limitOf(t, e, admin, did("dan")); got != "0.00" {
		t.Fatalf("dan's limit %s", got)
	}
	if ft := feedTypes(t, e.ledger, did("dan")); !hasAll(ft, "MemberRevoked", "MemberRemoved") {
		t.Fatalf("dan's feed %v", ft)
	}
	// The appeal is filed by the removed member (a token, no membership).
	st, body = e.do("POST", gov+"/appeals", tok["ann"], map[string]string{"title": "Not me"})
	wantResp(t, "appeal by another", st, body, 404, "no_removal")
	e.clock.Advance(24 * time.Hour)
	danTok := e.login(keys["dan"]).Token()
	st, body = e.do("POST", gov+"/appeals", danTok, map[string]string{"id": "p-appeal", "title": "Please reconsider"})
	wantResp(t, "appeal", st, body, 201, "")
	st, body = e.do("POST", gov+"/appeals", danTok, map[string]string{"id": "p-appeal-2", "title": "Again"})
	wantResp(t, "second appeal", st, body, 409, "appeal_filed")
	if ft := feedTypes(t, e.ledger, did("ann")); !slices.Contains(ft, "AppealFiled") {
		t.Fatalf("ann's feed %v", ft)
	}
	for _, n := range []string{"ann", "bob", "cid"} {
		tok[n] = e.login(keys[n]).Token()
	}
	e.clock.Advance(time.Minute)
	for _, n := range []string{"ann", "bob"} {
		st, body = e.do("POST", gov+"/proposals/p-appeal/votes", tok[n], signVote(keys[n], "p-appeal", "for", 1))
		wantResp(t, "appeal vote "+n, st, body, 200, "")
	}
	// Nobody closes it: the deadline does, at the next command.
	e.clock.Advance(10 * time.Minute)
	if err := e.g.cfg.Governance.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, body = e.do("GET", gov+"/proposals/p-appeal", tok["ann"], nil)
	if st != 200 || !jsonHas(body, `"status":"passed"`) {
		t.Fatalf("appeal: %d %s", st, body)
	}
	if got := limitOf(t, e, danTok, did("dan")); got != "100.00" {
		t.Fatalf("dan's limit after the appeal %s", got)
	}
}

func hasAll(list []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

func jsonHas(body []byte, s string) bool {
	return json.Valid(body) && strings.Contains(string(body), s)
}

func mustB64(t *testing.T, s string) []byte {
	b, err := identity.DecodeB64(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
