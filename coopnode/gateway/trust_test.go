package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/vouch"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// newTrustGateway is a test gateway with member trust; policy nil leaves
// credit ungated.
func newTrustGateway(t *testing.T, policy *governance.CreditPolicy) (*testEnv, *vouch.Store) {
	var vs *vouch.Store
	_, e := newTestGateway(t, func(cfg *Config) {
		var err error
		vs, err = vouch.New(cfg.Ledger, cfg.Members, vouch.Options{CoopID: testCoop, Policy: policy, Clock: cfg.Clock, Logger: cfg.Logger})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vs.RecordPolicy(context.Background()); err != nil {
			t.Fatal(err)
		}
		cfg.Vouch = vs
		cfg.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6}
	})
	return e, vs
}

func nowRFC() string { return time.Now().UTC().Format(time.RFC3339) }

func vouchDoc(k *identity.Key, vouchee identity.DID) map[string]string {
	raw := governance.VouchBody{Coop: testCoop, Voucher: string(k.DID()), Vouchee: string(vouchee), CreatedAt: nowRFC()}.Encode()
	return map[string]string{"vouch": identity.B64(raw), "signature": identity.B64(k.Sign(identity.TagVouch, raw))}
}

func docBody(k *identity.Key, tag identity.Tag, raw []byte) map[string]string {
	return map[string]string{"request": identity.B64(raw), "signature": identity.B64(k.Sign(tag, raw))}
}

func revokeDoc(k *identity.Key, member identity.DID) map[string]string {
	return docBody(k, identity.TagVoucherRevoke, governance.VoucherRevokeBody{Coop: testCoop, Voucher: string(k.DID()), Member: string(member), CreatedAt: nowRFC()}.Encode())
}

func recoveryDoc(k *identity.Key, id string, old, newDID identity.DID) map[string]string {
	return docBody(k, identity.TagRecovery, governance.RecoveryBody{Coop: testCoop, Recovery: id, Old: string(old), New: string(newDID), Steward: string(k.DID()), CreatedAt: nowRFC()}.Encode())
}

func getTrustOf(t *testing.T, e *testEnv, token string, did identity.DID) client.Trust {
	t.Helper()
	st, body := e.do("GET", "/membership/"+testCoop+"/trust/"+string(did), token, nil)
	if st != 200 {
		t.Fatalf("trust of %s: %d %s", did.Short(), st, body)
	}
	var tr client.Trust
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func payStatus(t *testing.T, e *testEnv, token string, k *identity.Key, id string, to identity.DID, amount string) (status, reason string) {
	t.Helper()
	st, body := e.do("POST", "/ledger/"+testCoop+"/payment", token, intentBody(k, intent(id, k.DID(), to, amount)))
	if st != 200 {
		t.Fatalf("payment %s: %d %s", id, st, body)
	}
	var p paymentResp
	json.Unmarshal(body, &p)
	return p.Status, p.Reason
}

// TestTrustEndToEnd: with [credit_policy] enabled, a member who joined by
// an admin's invite spends half its set limit; a vouch from another member
// raises its effective limit, and the next payment over the old limit
// succeeds. Signed vouches are verified before anything is recorded:
// self-vouches, vouches signed by someone else or under another tag, for
// another co-op or a non-member, stale or malformed ones are refused, and a
// repeat changes nothing.
func TestTrustEndToEnd(t *testing.T) {
	p := governance.DefaultCreditPolicy()
	e, _ := newTrustGateway(t, &p)
	adminS := e.login(e.admin)
	keys, tok := map[string]*identity.Key{}, map[string]string{}
	for _, n := range []string{"ann", "bob", "cid"} {
		keys[n] = newKey(t)
		e.join(adminS, keys[n], n)
		tok[n] = e.login(keys[n]).Token()
	}
	ann, bob, cid := keys["ann"].DID(), keys["bob"].DID(), keys["cid"].DID()

	// Sponsored by the admin's invite: 50 % of 100.
	tr := getTrustOf(t, e, tok["bob"], ann)
	if !tr.PolicyEnabled || tr.StandingPercent != 50 || tr.Sponsor != e.admin.DID() || len(tr.Limits) != 1 ||
		tr.Limits[0].Set != "100.00" || tr.Limits[0].Effective != "50.00" {
		t.Fatalf("ann's trust before: %+v", tr)
	}
	if got := limitOf(t, e, tok["ann"], ann); got != "50.00" {
		t.Fatalf("ann's balance credit_limit %s, want the effective 50.00", got)
	}
	if st, reason := payStatus(t, e, tok["ann"], keys["ann"], "pay-over-1", bob, "60"); st != "rejected" || reason != "insufficient_credit" {
		t.Fatalf("60 over an effective 50: %s %s", st, reason)
	}

	vouches := "/membership/" + testCoop + "/vouches"
	// Refusals, none of which records anything.
	stale := governance.VouchBody{Coop: testCoop, Voucher: string(bob), Vouchee: string(ann), CreatedAt: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}.Encode()
	other := governance.VouchBody{Coop: "coop-other", Voucher: string(bob), Vouchee: string(ann), CreatedAt: nowRFC()}.Encode()
	nonMember := newKey(t)
	good := governance.VouchBody{Coop: testCoop, Voucher: string(bob), Vouchee: string(ann), CreatedAt: nowRFC()}.Encode()
	for _, c := range []struct {
		name  string
		token string
		body  any
		st    int
		code  string
	}{
		{"self vouch", tok["ann"], vouchDoc(keys["ann"], ann), 400, "self_vouch"},
		{"voucher is not the caller", tok["cid"], vouchDoc(keys["bob"], ann), 403, "wrong_signer"},
		{"signed under the vote tag", tok["bob"], map[string]string{"vouch": identity.B64(good), "signature": identity.B64(keys["bob"].Sign(identity.TagVote, good))}, 401, "bad_signature"},
		{"signed by the vouchee", tok["bob"], map[string]string{"vouch": identity.B64(good), "signature": identity.B64(keys["ann"].Sign(identity.TagVouch, good))}, 401, "bad_signature"},
		{"another co-op", tok["bob"], map[string]string{"vouch": identity.B64(other), "signature": identity.B64(keys["bob"].Sign(identity.TagVouch, other))}, 400, "wrong_coop"},
		{"stale", tok["bob"], map[string]string{"vouch": identity.B64(stale), "signature": identity.B64(keys["bob"].Sign(identity.TagVouch, stale))}, 400, "request_expired"},
		{"for a non-member", tok["bob"], vouchDoc(keys["bob"], nonMember.DID()), 403, "not_member"},
		{"malformed", tok["bob"], map[string]string{"vouch": identity.B64([]byte(`{"coop":"x","coop":"y"}`)), "signature": identity.B64(make([]byte, 64))}, 400, "invalid_vouch"},
		{"not base64", tok["bob"], map[string]string{"vouch": "***", "signature": "AA"}, 400, "invalid_encoding"},
		{"unknown field", tok["bob"], map[string]any{"vouch": identity.B64(good), "signature": "AA", "extra": 1}, 400, "invalid_request"},
		{"no token", "", vouchDoc(keys["bob"], ann), 401, "missing_token"},
	} {
		st, body := e.do("POST", vouches, c.token, c.body)
		wantResp(t, c.name, st, body, c.st, c.code)
	}
	if tr := getTrustOf(t, e, tok["ann"], ann); len(tr.Vouches) != 0 || tr.StandingPercent != 50 {
		t.Fatalf("a refused vouch left a trace: %+v", tr)
	}

	// bob vouches: 75 %, so 60 goes through.
	st, body := e.do("POST", vouches, tok["bob"], map[string]string{"vouch": identity.B64(good), "signature": identity.B64(keys["bob"].Sign(identity.TagVouch, good))})
	wantResp(t, "bob vouches", st, body, 201, "")
	var vr client.VouchResult
	json.Unmarshal(body, &vr)
	if !vr.Recorded || vr.Vouch.Voucher != bob || vr.Vouch.Vouchee != ann || vr.Vouch.Vouch != identity.B64(good) {
		t.Fatalf("vouch answer %s", body)
	}
	st, body = e.do("POST", vouches, tok["bob"], vouchDoc(keys["bob"], ann)) // another signing, the same vouch
	wantResp(t, "bob vouches again", st, body, 200, "")
	if json.Unmarshal(body, &vr); vr.Recorded || vr.Vouch.Vouch != identity.B64(good) {
		t.Fatalf("repeat vouch: %s", body)
	}
	tr = getTrustOf(t, e, tok["cid"], ann)
	if tr.StandingPercent != 75 || len(tr.Vouches) != 1 || !tr.Vouches[0].Counts || tr.Limits[0].Effective != "75.00" {
		t.Fatalf("ann's trust after bob's vouch: %+v", tr)
	}
	if st, reason := payStatus(t, e, tok["ann"], keys["ann"], "pay-over-2", bob, "60"); st != "committed" {
		t.Fatalf("60 within an effective 75: %s %s", st, reason)
	}
	// cid's vouch: 100 %; a third would be capped.
	st, body = e.do("POST", vouches, tok["cid"], vouchDoc(keys["cid"], ann))
	wantResp(t, "cid vouches", st, body, 201, "")
	if tr := getTrustOf(t, e, tok["ann"], ann); tr.StandingPercent != 100 || tr.Limits[0].Effective != "100.00" {
		t.Fatalf("ann's trust after two vouches: %+v", tr)
	}
	if got := getTrustOf(t, e, tok["ann"], bob).Vouched; !slices.Equal(got, []identity.DID{ann}) {
		t.Fatalf("bob vouched for %v", got)
	}
	// A revoked voucher no longer counts.
	if err := e.members.Revoke(context.Background(), cid, e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	if tr := getTrustOf(t, e, tok["ann"], ann); tr.StandingPercent != 75 {
		t.Fatalf("a revoked voucher still counts: %+v", tr)
	}
	if evs := feedTypes(t, e.ledger, ann); !slices.Contains(evs, vouch.EventVouchRecorded) {
		t.Fatalf("ann's feed %v", evs)
	}
	// The admin is the root of the sponsorship tree.
	if tr := getTrustOf(t, e, tok["ann"], e.admin.DID()); tr.StandingPercent != 100 {
		t.Fatalf("admin's standing %+v", tr)
	}
}

// TestVoucherRevokeAndRecovery is the seed's stolen phone: bob, who vouched
// for ann, puts ann's DID in recovery mode: ann's sessions end, its login
// is 403 in_recovery, payments from it are rejected in_recovery and it may
// still be paid. Then a quorum of stewards recovers ann to a new DID: the
// balance, the roles, the own credit limit and the vouch move there, the
// old DID is revoked, and every balance sums as before. A recovery is
// refused while ann has an open two-phase transfer.
func TestVoucherRevokeAndRecovery(t *testing.T) {
	e, _ := newTrustGateway(t, nil)
	ctx := context.Background()
	adminS := e.login(e.admin)
	keys, tok := map[string]*identity.Key{}, map[string]string{}
	for _, n := range []string{"ann", "bob", "cid"} {
		keys[n] = newKey(t)
		e.join(adminS, keys[n], n)
	}
	for _, n := range []string{"s1", "s2"} {
		keys[n] = newKey(t)
		if _, err := e.members.AddMember(ctx, keys[n].DID(), n, []string{membership.RoleSteward}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.members.AddMember(ctx, keys["ann"].DID(), "ann", []string{membership.RoleTreasurer}); err != nil {
		t.Fatal(err)
	}
	for n, k := range keys {
		tok[n] = e.login(k).Token()
	}
	ann, bob, cid := keys["ann"].DID(), keys["bob"].DID(), keys["cid"].DID()
	if err := e.ledger.SetCreditLimit(ctx, ledger.Account(ann), money.FromUnits(4000, money.Hours)); err != nil {
		t.Fatal(err)
	}
	if st, _ := payStatus(t, e, tok["bob"], keys["bob"], "b-a-1", ann, "30"); st != "committed" {
		t.Fatal(st)
	}
	if st, _ := payStatus(t, e, tok["ann"], keys["ann"], "a-c-1", cid, "10"); st != "committed" {
		t.Fatal(st)
	}
	st, body := e.do("POST", "/membership/"+testCoop+"/vouches", tok["bob"], vouchDoc(keys["bob"], ann))
	wantResp(t, "bob vouches for ann", st, body, 201, "")

	er := "/membership/" + testCoop + "/emergency-revoke"
	st, body = e.do("POST", er, tok["cid"], revokeDoc(keys["cid"], ann))
	wantResp(t, "revoke by a non-voucher", st, body, 403, "not_voucher")
	st, body = e.do("POST", er, tok["cid"], revokeDoc(keys["bob"], ann))
	wantResp(t, "revoke signed by another", st, body, 403, "wrong_signer")
	bad := governance.VoucherRevokeBody{Coop: testCoop, Voucher: string(bob), Member: string(ann), CreatedAt: nowRFC()}.Encode()
	st, body = e.do("POST", er, tok["bob"], docBody(keys["bob"], identity.TagEmergencyRevoke, bad))
	wantResp(t, "revoke under the member's own tag", st, body, 401, "bad_signature")
	if st, _ := payStatus(t, e, tok["ann"], keys["ann"], "a-c-2", cid, "1"); st != "committed" {
		t.Fatalf("a refused revoke changed ann: %s", st)
	}
	st, body = e.do("POST", er, tok["bob"], revokeDoc(keys["bob"], ann))
	wantResp(t, "bob's emergency revoke", st, body, 200, "")
	var mode client.RecoveryMode
	if json.Unmarshal(body, &mode); mode.Status != "in_recovery" || mode.DID != ann || mode.By != bob {
		t.Fatalf("revoke answer %s", body)
	}
	st, body = e.do("POST", er, tok["bob"], revokeDoc(keys["bob"], ann))
	wantResp(t, "revoke again", st, body, 200, "")

	// ann's session ends, its login is refused, its payments rejected.
	st, body = e.do("GET", "/ledger/"+testCoop+"/balance/"+string(ann), tok["ann"], nil)
	wantResp(t, "ann's old token", st, body, 401, "session_revoked")
	if st, _, code := e.loginDevice(ann, keys["ann"]); st != 403 || code != "in_recovery" {
		t.Fatalf("ann's login: %d %s", st, code)
	}
	p, err := e.ledger.Pay(ctx, ledger.Transfer{ID: "a-b-thief", From: ledger.Account(ann), To: ledger.Account(bob),
		FromCoop: testCoop, ToCoop: testCoop, Amount: money.FromUnits(100, money.Hours), CreatedAt: time.Now()})
	if err != nil || p.Status != ledger.StatusRejected || p.Reason != vouch.ReasonInRecovery {
		t.Fatalf("a payment from ann in recovery: %+v %v", p, err)
	}
	if st, _ := payStatus(t, e, tok["bob"], keys["bob"], "b-a-2", ann, "5"); st != "committed" {
		t.Fatalf("ann may still be paid: %s", st)
	}
	if tr := getTrustOf(t, e, tok["bob"], ann); !tr.InRecovery || tr.Recovery == nil || tr.Recovery.By != bob {
		t.Fatalf("ann's trust in recovery: %+v", tr)
	}
	if evs := feedTypes(t, e.ledger, ann); !slices.Contains(evs, vouch.EventRecoveryStarted) {
		t.Fatalf("ann's feed %v", evs)
	}

	// Recovery to a new DID, sent from the new DID's own (member-less) session.
	neu := newKey(t)
	newS := e.login(neu)
	newTok := newS.Token()
	balances := func() map[identity.DID]int64 {
		out := map[identity.DID]int64{}
		all := []*identity.Key{e.admin, neu}
		for _, k := range keys {
			all = append(all, k)
		}
		for _, k := range all {
			b, err := e.ledger.Balance(ledger.Account(k.DID()), money.Hours)
			if err != nil {
				t.Fatal(err)
			}
			out[k.DID()] = b.Balance.Units()
		}
		return out
	}
	sum := func(m map[identity.DID]int64) (s int64) {
		for _, v := range m {
			s += v
		}
		return s
	}
	before := balances()
	if before[ann] != 2400 {
		t.Fatalf("ann's balance before recovery: %d", before[ann])
	}
	rec := "/membership/" + testCoop + "/recoveries"
	st, body = e.do("POST", rec, newTok, recoveryDoc(keys["bob"], "rec-ann", ann, neu.DID()))
	wantResp(t, "signed by a non-steward", st, body, 403, "not_steward")
	st, body = e.do("POST", rec, newTok, recoveryDoc(keys["s1"], "rec-ann", ann, neu.DID()))
	wantResp(t, "s1 signs", st, body, 200, "")
	var rc client.Recovery
	if json.Unmarshal(body, &rc); rc.Status != "pending" || rc.Stewards != 3 || rc.Quorum != 2 || len(rc.Signatures) != 1 {
		t.Fatalf("after one signature: %s", body)
	}
	st, body = e.do("POST", rec, newTok, recoveryDoc(keys["s1"], "rec-ann", ann, neu.DID()))
	wantResp(t, "s1 signs again", st, body, 200, "")
	if json.Unmarshal(body, &rc); len(rc.Signatures) != 1 {
		t.Fatalf("a repeated signature counted twice: %s", body)
	}
	st, body = e.do("POST", rec, newTok, recoveryDoc(keys["s2"], "rec-ann", ann, newKey(t).DID()))
	wantResp(t, "the same id for another DID", st, body, 409, "conflict")
	badRec := governance.RecoveryBody{Coop: testCoop, Recovery: "rec-ann", Old: string(ann), New: string(neu.DID()), Steward: string(keys["s2"].DID()), CreatedAt: nowRFC()}.Encode()
	st, body = e.do("POST", rec, newTok, docBody(keys["s2"], identity.TagVouch, badRec))
	wantResp(t, "signed under another tag", st, body, 401, "bad_signature")
	st, body = e.do("GET", rec+"/"+string(neu.DID()), newTok, nil)
	if st != 200 || !jsonHas(body, `"id":"rec-ann"`) {
		t.Fatalf("recoveries of the new DID: %d %s", st, body)
	}
	st, body = e.do("GET", rec+"/"+string(ann), newTok, nil)
	wantResp(t, "someone else's recoveries by a non-member", st, body, 403, "not_member")

	// An open two-phase transfer to ann holds the recovery back.
	if _, err := e.ledger.CreditPending(ctx, ledger.Transfer{ID: "x-in-1", From: ledger.ClearingAccount("hub"), To: ledger.Account(ann),
		FromCoop: "coop-x", ToCoop: testCoop, Amount: money.FromUnits(700, money.Hours), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s2 := recoveryDoc(keys["s2"], "rec-ann", ann, neu.DID())
	st, body = e.do("POST", rec, newTok, s2)
	wantResp(t, "quorum with an open transfer", st, body, 409, "conflict")
	if tr := getTrustOf(t, e, tok["bob"], ann); tr.Recovery == nil || tr.Recovery.Status != "in_recovery" {
		t.Fatalf("a refused recovery changed ann: %+v", tr)
	}
	if _, err := e.ledger.VoidCredit(ctx, "x-in-1", "test"); err != nil {
		t.Fatal(err)
	}
	st, body = e.do("POST", rec, newTok, s2) // the same bytes, once it settled
	wantResp(t, "s2 completes the quorum", st, body, 200, "")
	if json.Unmarshal(body, &rc); rc.Status != "completed" || len(rc.Signatures) != 2 || !slices.Equal(rc.Payments, []string{"rec-ann-hours"}) {
		t.Fatalf("completed recovery: %s", body)
	}

	after := balances()
	if sum(after) != sum(before) || after[neu.DID()] != before[ann] || after[ann] != 0 {
		t.Fatalf("balances before %v, after %v", before, after)
	}
	if r, err := e.ledger.Verify(); err != nil || len(r.Mismatches) != 0 {
		t.Fatalf("ledger verify: %+v %v", r, err)
	}
	// The new DID holds ann's roles and limit; the old one is revoked.
	s := e.login(neu)
	if !slices.Contains(s.Roles(), membership.RoleTreasurer) {
		t.Fatalf("new DID's roles %v", s.Roles())
	}
	if got := limitOf(t, e, s.Token(), neu.DID()); got != "40.00" {
		t.Fatalf("new DID's limit %s", got)
	}
	st, body = e.do("GET", "/membership/"+testCoop+"/members/"+string(ann), adminS.Token(), nil)
	if st != 200 || !jsonHas(body, `"status":"revoked"`) {
		t.Fatalf("old DID's membership: %d %s", st, body)
	}
	tr := getTrustOf(t, e, tok["bob"], neu.DID())
	if len(tr.Vouches) != 1 || tr.Vouches[0].Voucher != bob || !slices.Equal(tr.Vouches[0].MigratedFrom, []identity.DID{ann}) {
		t.Fatalf("new DID's vouches %+v", tr)
	}
	h, _, err := e.ledger.History(ledger.Account(neu.DID()), 10, 0)
	if err != nil || len(h) != 1 || h[0].ID != "rec-ann-hours" || h[0].From != ledger.Account(ann) || h[0].Amount.Units() != 2400 {
		t.Fatalf("new DID's history %+v %v", h, err)
	}
	if evs := feedTypes(t, e.ledger, bob); !slices.Contains(evs, vouch.EventMemberRecovered) {
		t.Fatalf("bob's feed %v: MemberRecovered is a co-op-wide notice", evs)
	}
	st, body = e.do("POST", rec, s.Token(), recoveryDoc(keys["s1"], "rec-ann", ann, neu.DID()))
	wantResp(t, "a signature after completion", st, body, 200, "")
	// The new DID pays.
	if st, reason := payStatus(t, e, s.Token(), neu, "n-c-1", cid, "5"); st != "committed" {
		t.Fatalf("the new DID pays: %s %s", st, reason)
	}
}

// FuzzTrustDocErrors: whatever the trust documents' checks refuse (the
// strict decoder, the fields, the signature), the gateway answers with a
// 4xx and a wire code, never a 500.
func FuzzTrustDocErrors(f *testing.F) {
	ann, bob := identity.DID("did:icn:FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF"), identity.DID("did:icn:2cBqMdXQc7qdnJCuvvFVxCZTbas6SRn818KZYGCe6Qjk")
	f.Add(governance.VouchBody{Coop: testCoop, Voucher: string(bob), Vouchee: string(ann), CreatedAt: "2026-11-25T10:00:00Z"}.Encode(), []byte("sig"))
	f.Add(governance.RecoveryBody{Coop: testCoop, Recovery: "r", Old: string(ann), New: string(bob), Steward: string(bob), CreatedAt: "x"}.Encode(), make([]byte, 64))
	f.Add([]byte(`{"coop":"a","coop":"b"}`), []byte{})
	f.Add([]byte(`{"coop":"coop-t","voucher":"did:icn:x","member":"did:icn:y","created_at":"2026-11-25T10:00:00Z"}`), make([]byte, 64))
	f.Fuzz(func(t *testing.T, raw, sig []byte) {
		for _, check := range []func(raw, sig []byte) (governance.TrustDoc, error){governance.CheckVouch, governance.CheckVoucherRevoke, governance.CheckRecovery} {
			if _, err := check(raw, sig); err != nil {
				if ae := toAPIError(err); ae.Status < 400 || ae.Status >= 500 || ae.Code == "" || ae.Code == "internal" {
					t.Fatalf("error %v maps to %d %q, want a 4xx with a code", err, ae.Status, ae.Code)
				}
			}
		}
	})
}
