package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// TestEndToEnd drives the wallet API over real HTTP on a real ledger and
// membership store: bootstrap, login, invite, apply, approve, pay both ways,
// balances, history paging, payment status and the event feed (backlog then
// live), then the payment error cases.
func TestEndToEnd(t *testing.T) {
	_, e := newTestGateway(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The bootstrapped admin logs in with every role.
	adminS := e.login(e.admin)
	if got := adminS.Roles(); !slices.Contains(got, "moderator") || !slices.Contains(got, "member") {
		t.Fatalf("admin roles = %v", got)
	}
	code, err := adminS.CreateInvite(ctx, testCoop)
	if err != nil || code == "" {
		t.Fatalf("invite: %q %v", code, err)
	}

	// A new key logs in without roles, applies and is approved.
	bob := newKey(t)
	bobS := e.login(bob)
	if got := bobS.Roles(); len(got) != 0 {
		t.Fatalf("non-member roles = %v, want []", got)
	}
	app, err := bobS.Apply(ctx, testCoop, bob, client.Application{InviteCode: code, Name: "Bob", Email: "bob@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if app.ID == "" || app.Status != "pending" {
		t.Fatalf("application = %+v", app)
	}
	appr, err := adminS.Approve(ctx, testCoop, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	var cred struct {
		Subject identity.DID `json:"subject"`
		Proof   struct {
			Signature string `json:"signature"`
		} `json:"proof"`
	}
	if err := json.Unmarshal(appr.Credential, &cred); err != nil || len(appr.Credential) < 10 || string(appr.Credential) == "null" {
		t.Fatalf("approval credential = %s (%v)", appr.Credential, err)
	}
	bobS = e.login(bob)
	if got := bobS.Roles(); !slices.Equal(got, []string{"member"}) {
		t.Fatalf("member roles = %v, want [member]", got)
	}
	m, err := bobS.Member(ctx, testCoop, bob.DID())
	if err != nil || m.Status != "active" || !slices.Equal(m.Roles, []string{"member"}) || len(m.Credential) == 0 {
		t.Fatalf("member record = %+v, %v", m, err)
	}

	// Admin pays Bob 5.00; Bob pays back 2.50.
	pay1 := intent("e2e-1", e.admin.DID(), bob.DID(), "5.00")
	r1, err := adminS.Pay(ctx, pay1, e.admin)
	if err != nil || r1.Status != "committed" || r1.ID != "e2e-1" || r1.EntryHash == "" {
		t.Fatalf("pay 1 = %+v, %v", r1, err)
	}
	r2, err := bobS.Pay(ctx, intent("e2e-2", bob.DID(), e.admin.DID(), "2.50"), bob)
	if err != nil || r2.Status != "committed" {
		t.Fatalf("pay 2 = %+v, %v", r2, err)
	}
	checkBalance := func(s *client.Session, did identity.DID, want string) {
		t.Helper()
		b, err := s.Balance(ctx, testCoop, did, "hours")
		if err != nil {
			t.Fatal(err)
		}
		if b.Balance != want || b.Currency != "hours" || b.DID != did {
			t.Errorf("balance of %s = %+v, want %s", did.Short(), b, want)
		}
	}
	checkBalance(bobS, bob.DID(), "2.50")
	checkBalance(adminS, e.admin.DID(), "-2.50")
	checkBalance(adminS, bob.DID(), "2.50") // moderators read anyone's
	if b, _ := bobS.Balance(ctx, testCoop, bob.DID(), ""); b == nil || b.Available != "102.50" || b.CreditLimit != "100.00" {
		t.Errorf("bob available/credit limit = %+v, want 102.50/100.00", b)
	}

	// The same intent again: the first outcome, nothing moves.
	again, err := adminS.PayRaw(ctx, mustJSON(t, pay1), e.admin.Sign(identity.TagPaymentIntent, mustJSON(t, pay1)))
	if err != nil || *again != *r1 {
		t.Fatalf("repeat = %+v, %v; want %+v", again, err, r1)
	}
	checkBalance(bobS, bob.DID(), "2.50")

	// History, newest first, one entry per page.
	h, err := bobS.History(ctx, testCoop, bob.DID(), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) != 1 || h.Entries[0].ID != "e2e-2" || h.Next == "" {
		t.Fatalf("history page 1 = %+v", h)
	}
	if en := h.Entries[0]; en.Amount != "2.50" || en.From != bob.DID() || en.To != e.admin.DID() || en.Status != "committed" ||
		en.FromCoop != testCoop || en.ToCoop != testCoop || en.Currency != "hours" || en.EntryHash != r2.EntryHash || en.Memo != "test" {
		t.Errorf("history entry = %+v", en)
	} else if _, err := time.Parse(time.RFC3339, en.CreatedAt); err != nil {
		t.Errorf("created_at %q: %v", en.CreatedAt, err)
	}
	h2, err := bobS.History(ctx, testCoop, bob.DID(), 1, h.Next)
	if err != nil {
		t.Fatal(err)
	}
	if len(h2.Entries) != 1 || h2.Entries[0].ID != "e2e-1" || h2.Entries[0].Amount != "5.00" {
		t.Fatalf("history page 2 = %+v", h2)
	}
	if h2.Next != "" {
		if h3, err := bobS.History(ctx, testCoop, bob.DID(), 1, h2.Next); err != nil || len(h3.Entries) != 0 {
			t.Fatalf("history page 3 = %+v, %v", h3, err)
		}
	}
	if all, err := bobS.History(ctx, testCoop, bob.DID(), 0, ""); err != nil || len(all.Entries) != 2 || all.Next != "" {
		t.Fatalf("whole history = %+v, %v", all, err)
	}

	// Payment status, for payer and payee.
	for _, s := range []*client.Session{adminS, bobS} {
		st, err := s.PaymentStatus(ctx, testCoop, "e2e-1")
		if err != nil || st.ID != "e2e-1" || st.Status != "committed" {
			t.Errorf("payment status = %+v, %v", st, err)
		}
	}
	if _, err := bobS.PaymentStatus(ctx, testCoop, "no-such-id"); client.ErrorCode(err) != "not_found" {
		t.Errorf("unknown payment: %v", err)
	}

	// The event feed: backlog from since=0, then a live payment.
	backlog, err := e.ledger.ReadFeed(string(bob.DID()), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	events, errs := bobS.Watch(wctx, testCoop, 0, false)
	var got []client.Event
	next := func() client.Event {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("feed ended: %v", <-errs)
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		panic("unreachable")
	}
	for range backlog {
		got = append(got, next())
	}
	var types []string
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Errorf("backlog event %d has seq %d", i, ev.Seq)
		}
		if _, err := time.Parse(time.RFC3339, ev.At); err != nil {
			t.Errorf("event at %q: %v", ev.At, err)
		}
		types = append(types, ev.Type)
	}
	if !slices.Contains(types, "MemberJoined") || !slices.Contains(types, "Payment") {
		t.Errorf("backlog types = %v, want MemberJoined and Payment", types)
	}
	last := got[len(got)-1].Seq
	// A live payment made after the backlog was delivered.
	if r, err := adminS.Pay(ctx, intent("e2e-live", e.admin.DID(), bob.DID(), "1.25"), e.admin); err != nil || r.Status != "committed" {
		t.Fatalf("live pay = %+v, %v", r, err)
	}
	live := next()
	if live.Seq != last+1 || live.Type != "Payment" {
		t.Fatalf("live event = seq %d type %s, want seq %d Payment", live.Seq, live.Type, last+1)
	}
	var pe struct{ ID, Amount, Status, From, To string }
	if err := json.Unmarshal(live.Payload, &pe); err != nil || pe.ID != "e2e-live" || pe.Amount != "1.25" || pe.Status != "committed" ||
		pe.From != string(e.admin.DID()) || pe.To != string(bob.DID()) {
		t.Errorf("live payload = %s (%v)", live.Payload, err)
	}
	wcancel()
	for range events {
	}

	t.Run("errors", func(t *testing.T) { paymentErrors(t, e, adminS, bobS, bob) })
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func paymentErrors(t *testing.T, e *testEnv, adminS, bobS *client.Session, bob *identity.Key) {
	ctx := context.Background()
	post := func(s *client.Session, body any) (int, []byte) {
		t.Helper()
		return e.do("POST", "/ledger/"+testCoop+"/payment", s.Token(), body)
	}

	// Same id, different amount.
	in := intent("e2e-1", e.admin.DID(), bob.DID(), "6.00")
	if st, body := post(adminS, intentBody(e.admin, in)); st != http.StatusConflict || errCode(body) != "modified_request" {
		t.Errorf("modified repeat: %d %s, want 409 modified_request", st, body)
	}

	for _, amt := range []string{"2.505", "-1", "1e2", "0", "0.00", "abc", "", " 1", "1.", "+1", "99999999999999999999999"} {
		in := intent("bad-amt-"+strconv.Itoa(len(amt)), bob.DID(), e.admin.DID(), amt)
		if st, body := post(bobS, intentBody(bob, in)); st != http.StatusBadRequest || errCode(body) != "invalid_amount" {
			t.Errorf("amount %q: %d %s, want 400 invalid_amount", amt, st, body)
		}
	}

	// Another co-op: no route yet, recorded as rejected.
	in = intent("e2e-foreign", bob.DID(), e.admin.DID(), "1.00")
	in.ToCoop = "coop-elsewhere"
	if r, err := bobS.Pay(ctx, in, bob); err != nil || r.Status != "rejected" || r.Reason != "no_route" {
		t.Errorf("foreign payment = %+v, %v; want rejected no_route", r, err)
	}
	if st, err := bobS.PaymentStatus(ctx, testCoop, "e2e-foreign"); err != nil || st.Status != "rejected" || st.Reason != "no_route" {
		t.Errorf("foreign payment status = %+v, %v", st, err)
	}

	// An intent from someone else, even signed by them.
	in = intent("e2e-theft", e.admin.DID(), bob.DID(), "1.00")
	if st, body := post(bobS, intentBody(e.admin, in)); st != http.StatusForbidden || errCode(body) != "from_mismatch" {
		t.Errorf("from mismatch: %d %s, want 403 from_mismatch", st, body)
	}

	// A tampered signature; and a signature over other bytes.
	in = intent("e2e-tamper", bob.DID(), e.admin.DID(), "1.00")
	b := intentBody(bob, in)
	sig, _ := identity.DecodeB64(b["signature"])
	sig[0] ^= 1
	b["signature"] = identity.B64(sig)
	if st, body := post(bobS, b); st != http.StatusUnauthorized || errCode(body) != "invalid_signature" {
		t.Errorf("tampered signature: %d %s, want 401 invalid_signature", st, body)
	}
	raw := mustJSON(t, in)
	b = map[string]string{"intent": identity.B64(append(raw, ' ')), "signature": identity.B64(bob.Sign(identity.TagPaymentIntent, raw))}
	if st, body := post(bobS, b); st != http.StatusUnauthorized || errCode(body) != "invalid_signature" {
		t.Errorf("signature over other bytes: %d %s, want 401 invalid_signature", st, body)
	}
	if _, err := e.ledger.Payment("e2e-tamper"); err == nil {
		t.Error("a payment with a bad signature was recorded")
	}

	// A body over 16 KiB.
	big := []byte(`{"intent":"` + strings.Repeat("A", 17<<10) + `","signature":"AA"}`)
	if st, body := post(bobS, big); st != http.StatusRequestEntityTooLarge || errCode(body) != "body_too_large" {
		t.Errorf("big body: %d %.200s, want 413 body_too_large", st, body)
	}

	// Malformed JSON: a 400 with exactly {"error": {"code", "message"}}.
	for _, body := range [][]byte{[]byte(`{"intent":`), []byte(`not json`), []byte(`{"intent":"a","signature":"b","extra":1}`), []byte(`{} {}`)} {
		st, resp := post(bobS, body)
		if st != http.StatusBadRequest {
			t.Errorf("malformed %q: status %d", body, st)
		}
		checkErrorShape(t, resp)
	}

	// Balances are untouched by all of the above: 2.50 + 1.25 live.
	if b, err := bobS.Balance(ctx, testCoop, bob.DID(), "hours"); err != nil || b.Balance != "3.75" {
		t.Errorf("bob balance after errors = %+v, %v; want 3.75", b, err)
	}
}

// checkErrorShape checks body is {"error": {"code": snake_case, "message": non-empty}} and nothing else.
func checkErrorShape(t *testing.T, body []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Errorf("error body %s: want exactly {\"error\": ...}", body)
		return
	}
	var inner map[string]string
	if err := json.Unmarshal(top["error"], &inner); err != nil || len(inner) != 2 || inner["message"] == "" {
		t.Errorf("error object %s: want exactly code and message", top["error"])
		return
	}
	c := inner["code"]
	if c == "" || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz_") != "" {
		t.Errorf("error code %q is not snake_case", c)
	}
}

// TestRateLimit: a DID over its budget gets 429 with Retry-After.
func TestRateLimit(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerDID: 1, PerDIDBurst: 1} })
	s := e.login(e.admin)
	path := "/ledger/" + testCoop + "/balance/" + string(e.admin.DID())
	if st, body := e.do("GET", path, s.Token(), nil); st != http.StatusOK {
		t.Fatalf("first request: %d %s", st, body)
	}
	resp := e.doResp("GET", path, s.Token(), nil)
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || errCode(body.Bytes()) != "rate_limited" {
		t.Fatalf("second request: %d %s, want 429 rate_limited", resp.StatusCode, body.Bytes())
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 seconds", resp.Header.Get("Retry-After"))
	}
	// Another DID has its own budget.
	other := newKey(t)
	otherS := e.login(other)
	if st, body := e.do("GET", "/ledger/"+testCoop+"/balance/"+string(e.admin.DID()), otherS.Token(), nil); st == http.StatusTooManyRequests {
		t.Errorf("another DID was limited: %s", body)
	}
}
