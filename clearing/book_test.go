package clearing_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

const at0 = int64(1_000)

// TestPrepareRules: each rule, alone and in precedence order, with the
// rejection recorded so that a repeat returns it unchanged.
func TestPrepareRules(t *testing.T) {
	long := strings.Repeat("x", clearing.MaxIDLen+1)
	maxID := strings.Repeat("x", clearing.MaxIDLen)
	tests := []struct {
		name string
		env  func(*fakeEnv)
		req  clearing.PrepareRequest
		want clearing.Reason // ReasonNone = prepared
	}{
		{"ok", nil, req("t1", A, B, h(500), at0+10), ""},
		{"id of MaxIDLen bytes ok", nil, req(maxID, A, B, h(500), at0+10), ""},
		{"empty id", nil, req("", A, B, h(500), at0+10), clearing.ReasonInvalidRequest},
		{"id too long", nil, req(long, A, B, h(500), at0+10), clearing.ReasonInvalidRequest},
		{"zero amount", nil, req("t1", A, B, h(0), at0+10), clearing.ReasonInvalidRequest},
		{"negative amount", nil, req("t1", A, B, h(-5), at0+10), clearing.ReasonInvalidRequest},
		{"from == to", nil, req("t1", A, A, h(5), at0+10), clearing.ReasonInvalidRequest},
		{"invalid currency", nil, req("t1", A, B, money.FromUnits(5, money.Currency{Code: "Hours!", Scale: 2}), at0+10), clearing.ReasonInvalidRequest},
		{"currency scale differs from the cap's", nil, req("t1", A, B, money.FromUnits(5, money.Currency{Code: "hours", Scale: 3}), at0+10), clearing.ReasonInvalidRequest},
		{"invalid before unknown", nil, req("t1", Ghost, Ghost, h(5), at0+10), clearing.ReasonInvalidRequest},
		{"unknown sender", nil, req("t1", Ghost, B, h(5), at0+10), clearing.ReasonUnknownParticipant},
		{"unknown receiver", nil, req("t1", A, Ghost, h(5), at0+10), clearing.ReasonUnknownParticipant},
		{"unknown before suspended", func(e *fakeEnv) { e.active[A] = false }, req("t1", A, Ghost, h(5), at0+10), clearing.ReasonUnknownParticipant},
		{"suspended sender", func(e *fakeEnv) { e.active[A] = false }, req("t1", A, B, h(5), at0+10), clearing.ReasonParticipantSuspended},
		{"suspended receiver", func(e *fakeEnv) { e.active[B] = false }, req("t1", A, B, h(5), at0+10), clearing.ReasonParticipantSuspended},
		{"suspended before expired", func(e *fakeEnv) { e.active[B] = false }, req("t1", A, B, h(5), at0), clearing.ReasonParticipantSuspended},
		{"expires now", nil, req("t1", A, B, h(5), at0), clearing.ReasonExpired},
		{"expired before", nil, req("t1", A, B, h(5), at0-1), clearing.ReasonExpired},
		{"expires one ns later ok", nil, req("t1", A, B, h(5), at0+1), ""},
		{"expired before trust", func(e *fakeEnv) { e.trust[[2]identity.DID{B, A}] = 0 }, req("t1", A, B, h(5), at0), clearing.ReasonExpired},
		{"receiver does not trust sender", func(e *fakeEnv) { e.trust[[2]identity.DID{B, A}] = 99_999 }, req("t1", A, B, h(5), at0+10), clearing.ReasonInsufficientTrust},
		{"trust exactly min ok", func(e *fakeEnv) { e.trust[[2]identity.DID{B, A}] = 100_000 }, req("t1", A, B, h(5), at0+10), ""},
		{"sender's trust in receiver does not matter", func(e *fakeEnv) { e.trust[[2]identity.DID{A, B}] = 0 }, req("t1", A, B, h(5), at0+10), ""},
		{"trust before cap", func(e *fakeEnv) { e.trust[[2]identity.DID{B, A}] = 0 }, req("t1", A, B, h(5000), at0+10), clearing.ReasonInsufficientTrust},
		{"amount == cap ok", nil, req("t1", A, B, h(1000), at0+10), ""},
		{"amount > cap", nil, req("t1", A, B, h(1001), at0+10), clearing.ReasonDebitCapExceeded},
		{"no cap set = zero cap", func(e *fakeEnv) { delete(e.caps, capKey{A, "hours"}) }, req("t1", A, B, h(1), at0+10), clearing.ReasonDebitCapExceeded},
		{"receiver's cap does not matter", func(e *fakeEnv) { delete(e.caps, capKey{B, "hours"}) }, req("t1", A, B, h(1), at0+10), ""},
		{"caps are per currency", func(e *fakeEnv) { delete(e.caps, capKey{A, "hours"}) }, req("t1", A, B, money.FromUnits(7, kwh), at0+10), ""},
		{"huge cap, huge amount ok", func(e *fakeEnv) { e.caps[capKey{A, "hours"}] = h(math.MaxInt64) }, req("t1", A, B, h(math.MaxInt64), at0+10), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv()
			if tc.env != nil {
				tc.env(env)
			}
			rec := clearing.NewMemRecords()
			b := clearing.NewBook(rec)
			o := must(t)(b.Prepare(env, tc.req, at0))
			want := clearing.Transfer{
				ID: tc.req.ID, From: tc.req.From, To: tc.req.To, Amount: tc.req.Amount, IntentHash: tc.req.IntentHash,
				State: clearing.StatePrepared, PreparedAt: at0, ExpiresAt: tc.req.ExpiresAt,
			}
			if tc.want != "" {
				want.State, want.Reason, want.DecidedAt = clearing.StateRejected, tc.want, at0
			}
			if o != (clearing.Outcome{Transfer: want}) {
				t.Fatalf("outcome %+v\nwant transfer %+v", o, want)
			}
			cur := tc.req.Amount.Currency().Code
			if tc.want == "" {
				if got := b.Position(A, cur).Reserved; got != tc.req.Amount.Units() {
					t.Fatalf("reserved %d, want %d", got, tc.req.Amount.Units())
				}
				if len(b.Pending()) != 1 {
					t.Fatalf("pending %v", b.Pending())
				}
				return
			}
			if len(b.Positions()) != 0 || len(b.Pending()) != 0 {
				t.Fatalf("a rejection changed the book: %+v %+v", b.Positions(), b.Pending())
			}
			// The rejection is recorded (unless the id cannot be stored); a
			// repeat returns it even after the cause is gone.
			storable := tc.req.ID != "" && len(tc.req.ID) <= clearing.MaxIDLen
			if got := rec.Len(); got != map[bool]int{true: 1, false: 0}[storable] {
				t.Fatalf("%d records", got)
			}
			*env = *newEnv()
			o2 := must(t)(b.Prepare(env, tc.req, at0+5))
			if storable {
				if o2 != (clearing.Outcome{Transfer: want, Repeat: true}) {
					t.Fatalf("repeat: %+v", o2)
				}
			} else if o2.Repeat || o2.Transfer.Reason != clearing.ReasonInvalidRequest {
				t.Fatalf("repeat of unstorable id: %+v", o2)
			}
		})
	}
}

// TestCapCountsPending: Mojaloop's rule: position + reserved + amount ≤ cap.
func TestCapCountsPending(t *testing.T) {
	env, b := newEnv(), clearing.NewBook(clearing.NewMemRecords())
	steps := []struct {
		id   string
		amt  int64
		want clearing.Reason
	}{
		{"a", 600, ""},
		{"b", 500, clearing.ReasonDebitCapExceeded}, // 600 pending + 500 > 1000, though 500 alone fits
		{"c", 400, ""}, // exactly 1000
		{"d", 1, clearing.ReasonDebitCapExceeded},
	}
	for _, s := range steps {
		o := must(t)(b.Prepare(env, req(s.id, A, B, h(s.amt), at0+100), at0))
		if o.Transfer.Reason != s.want {
			t.Fatalf("%s: %+v, want %q", s.id, o.Transfer, s.want)
		}
	}
	if p := b.Position(A, "hours"); p.Reserved != 1000 || p.Sent != 0 {
		t.Fatalf("position %+v", p)
	}
	// Committing keeps position + reserved; aborting frees room.
	must(t)(b.Commit("a", at0+1))
	if p := b.Position(A, "hours"); p.Reserved != 400 || p.Sent != 600 || p.DebitPosition() != 600 {
		t.Fatalf("after commit %+v", p)
	}
	if o := must(t)(b.Prepare(env, req("e", A, C, h(1), at0+100), at0+2)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("e: %+v", o)
	}
	must(t)(b.Abort("c", "", at0+3))
	if o := must(t)(b.Prepare(env, req("f", A, C, h(400), at0+100), at0+4)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("f: %+v", o)
	}
	// Caps are per currency.
	if o := must(t)(b.Prepare(env, req("g", A, C, money.FromUnits(1000, kwh), at0+100), at0+4)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("g: %+v", o)
	}
}

// TestCreditorSendsBeyondCap: a net creditor may send its credit plus its cap.
func TestCreditorSendsBeyondCap(t *testing.T) {
	env, b := newEnv(), clearing.NewBook(clearing.NewMemRecords())
	must(t)(b.Prepare(env, req("in", B, A, h(700), at0+100), at0))
	// Pending incoming credit does not count.
	if o := must(t)(b.Prepare(env, req("x", A, C, h(1001), at0+100), at0)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("x: %+v", o)
	}
	must(t)(b.Commit("in", at0+1))
	if p := b.Position(A, "hours"); p.Net() != 700 || p.DebitPosition() != -700 {
		t.Fatalf("A %+v", p)
	}
	if o := must(t)(b.Prepare(env, req("y", A, C, h(1701), at0+100), at0+2)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("y: %+v", o)
	}
	if o := must(t)(b.Prepare(env, req("z", A, C, h(1700), at0+100), at0+2)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("z: %+v", o)
	}
	// With no cap at all, a creditor can still spend its credit.
	delete(env.caps, capKey{B, "hours"})
	must(t)(b.Prepare(env, req("in2", C, B, h(50), at0+100), at0+3))
	must(t)(b.Commit("in2", at0+4))
	if o := must(t)(b.Prepare(env, req("w", B, C, h(51), at0+100), at0+5)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("w: %+v", o)
	}
}

// TestCapOverflow: overflow in the cap arithmetic counts as exceeding it, and a
// receiver whose received + pending incoming would overflow is refused too, so
// that a commit never overflows.
func TestCapOverflow(t *testing.T) {
	env, b := newEnv(), clearing.NewBook(clearing.NewMemRecords())
	for _, d := range []identity.DID{A, B, C} {
		env.caps[capKey{d, "hours"}] = h(math.MaxInt64)
	}
	must(t)(b.Prepare(env, req("big", A, B, h(math.MaxInt64-10), at0+100), at0))
	if o := must(t)(b.Prepare(env, req("more", A, C, h(11), at0+100), at0)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("reserved overflow: %+v", o)
	}
	if o := must(t)(b.Prepare(env, req("ok", A, C, h(10), at0+100), at0)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("ok: %+v", o)
	}
	// B already has MaxInt64-10 incoming: C may not add 11 more.
	if o := must(t)(b.Prepare(env, req("toB", C, B, h(11), at0+100), at0)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("incoming overflow: %+v", o)
	}
	must(t)(b.Commit("big", at0+1))
	must(t)(b.Commit("ok", at0+1))
	if p := b.Position(A, "hours"); p.Sent != math.MaxInt64 || p.Reserved != 0 {
		t.Fatalf("A %+v", p)
	}
	// B is a huge creditor; spending it back is fine, but A can no longer send
	// (sent would overflow), even with a debit position that allows it.
	must(t)(b.Prepare(env, req("back", B, A, h(math.MaxInt64-10), at0+100), at0+2))
	must(t)(b.Commit("back", at0+3))
	if o := must(t)(b.Prepare(env, req("again", A, C, h(1), at0+100), at0+4)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("sent overflow: %+v", o)
	}
	if _, err := clearing.Restore(b.State(), clearing.NewMemRecords()); err != nil {
		t.Fatal(err)
	}
}

// TestRepeatsAndModifiedRequests: a repeat returns the stored record; any
// change of content is modified_request and changes nothing.
func TestRepeatsAndModifiedRequests(t *testing.T) {
	env, rec := newEnv(), clearing.NewMemRecords()
	b := clearing.NewBook(rec)
	r := req("t1", A, B, h(300), at0+100)
	first := must(t)(b.Prepare(env, r, at0))
	if o := must(t)(b.Prepare(env, r, at0+1)); o != (clearing.Outcome{Transfer: first.Transfer, Repeat: true}) {
		t.Fatalf("repeat while pending: %+v", o)
	}
	mods := map[string]func(*clearing.PrepareRequest){
		"from":     func(r *clearing.PrepareRequest) { r.From = C },
		"to":       func(r *clearing.PrepareRequest) { r.To = C },
		"amount":   func(r *clearing.PrepareRequest) { r.Amount = h(301) },
		"currency": func(r *clearing.PrepareRequest) { r.Amount = money.FromUnits(300, kwh) },
		"hash":     func(r *clearing.PrepareRequest) { r.IntentHash[31] ^= 1 },
		"expiry":   func(r *clearing.PrepareRequest) { r.ExpiresAt++ },
	}
	check := func(stage string, stored clearing.Transfer) {
		t.Helper()
		for _, name := range []string{"from", "to", "amount", "currency", "hash", "expiry"} {
			m := r
			mods[name](&m)
			before, n := b.State(), rec.Len()
			o := must(t)(b.Prepare(env, m, at0+2))
			if o != (clearing.Outcome{Transfer: stored, Conflict: clearing.ReasonModifiedRequest}) {
				t.Fatalf("%s, modified %s: %+v", stage, name, o)
			}
			if !reflect.DeepEqual(before, b.State()) || rec.Len() != n {
				t.Fatalf("%s, modified %s changed the book", stage, name)
			}
		}
		if o := must(t)(b.Prepare(env, r, at0+3)); o != (clearing.Outcome{Transfer: stored, Repeat: true}) {
			t.Fatalf("%s: repeat %+v", stage, o)
		}
	}
	check("pending", first.Transfer)
	c := must(t)(b.Commit("t1", at0+4))
	check("committed", c.Transfer)

	// A rejection repeats as a rejection, even once the cause is gone.
	env.active[C] = false
	r2 := req("t2", A, C, h(1), at0+100)
	rej := must(t)(b.Prepare(env, r2, at0+5))
	env.active[C] = true
	if o := must(t)(b.Prepare(env, r2, at0+6)); o != (clearing.Outcome{Transfer: rej.Transfer, Repeat: true}) || o.Transfer.Reason != clearing.ReasonParticipantSuspended {
		t.Fatalf("repeat of rejection: %+v", o)
	}
	// Commit and Abort of a rejected transfer: decided already.
	if o := must(t)(b.Commit("t2", at0+7)); o != (clearing.Outcome{Transfer: rej.Transfer, Repeat: true, Conflict: clearing.ReasonDuplicate}) {
		t.Fatalf("commit of rejection: %+v", o)
	}
	if o := must(t)(b.Abort("t2", clearing.ReasonCanceled, at0+7)); o != (clearing.Outcome{Transfer: rej.Transfer, Repeat: true}) {
		t.Fatalf("abort of rejection: %+v", o)
	}
}

// TestCommitAndAbort covers every (command, state) pair.
func TestCommitAndAbort(t *testing.T) {
	env := newEnv()
	setup := func(t *testing.T) (*clearing.Book, clearing.Transfer) {
		b := clearing.NewBook(clearing.NewMemRecords())
		o := must(t)(b.Prepare(env, req("t1", A, B, h(250), at0+100), at0))
		return b, o.Transfer
	}
	t.Run("commit", func(t *testing.T) {
		b, p := setup(t)
		o := must(t)(b.Commit("t1", at0+99))
		want := p
		want.State, want.Period, want.DecidedAt = clearing.StateCommitted, 1, at0+99
		if o != (clearing.Outcome{Transfer: want}) {
			t.Fatalf("%+v", o)
		}
		wantPos := []clearing.Position{{DID: A, Currency: "hours", Sent: 250}, {DID: B, Currency: "hours", Received: 250}}
		if got := b.Positions(); !reflect.DeepEqual(got, wantPos) {
			t.Fatalf("positions %+v", got)
		}
		if got := b.Bilateral(); !reflect.DeepEqual(got, []clearing.Bilateral{{Currency: "hours", From: A, To: B, Amount: 250, Count: 1}}) {
			t.Fatalf("bilateral %+v", got)
		}
		if o := must(t)(b.Commit("t1", at0+200)); o != (clearing.Outcome{Transfer: want, Repeat: true}) {
			t.Fatalf("repeat commit %+v", o)
		}
		if o := must(t)(b.Abort("t1", clearing.ReasonCanceled, at0+200)); o != (clearing.Outcome{Transfer: want, Repeat: true, Conflict: clearing.ReasonDuplicate}) {
			t.Fatalf("abort after commit %+v", o)
		}
		if got := b.Positions(); !reflect.DeepEqual(got, wantPos) {
			t.Fatalf("positions moved: %+v", got)
		}
		if st := b.State(); st.Committed != 1 || len(st.Pending) != 0 {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("commit after expiry aborts", func(t *testing.T) {
		b, p := setup(t)
		o := must(t)(b.Commit("t1", at0+100))
		want := p
		want.State, want.Reason, want.DecidedAt = clearing.StateAborted, clearing.ReasonExpired, at0+100
		if o != (clearing.Outcome{Transfer: want}) {
			t.Fatalf("%+v", o)
		}
		if len(b.Positions()) != 0 || len(b.Bilateral()) != 0 || len(b.Pending()) != 0 {
			t.Fatalf("book not clean: %+v", b.State())
		}
		if o := must(t)(b.Commit("t1", at0+101)); o != (clearing.Outcome{Transfer: want, Repeat: true, Conflict: clearing.ReasonDuplicate}) {
			t.Fatalf("repeat %+v", o)
		}
		if o := must(t)(b.Abort("t1", clearing.ReasonCanceled, at0+101)); o != (clearing.Outcome{Transfer: want, Repeat: true}) {
			t.Fatalf("abort %+v", o)
		}
	})
	for _, tc := range []struct {
		give, want clearing.Reason
	}{
		{clearing.ReasonReceiverRejected, clearing.ReasonReceiverRejected},
		{clearing.ReasonParticipantSuspended, clearing.ReasonParticipantSuspended},
		{clearing.ReasonExpired, clearing.ReasonExpired},
		{"", clearing.ReasonCanceled},
		{"bogus", clearing.ReasonCanceled},
		{clearing.ReasonDuplicate, clearing.ReasonCanceled},
		{clearing.ReasonUnknownTransfer, clearing.ReasonCanceled},
	} {
		t.Run("abort "+string(tc.give), func(t *testing.T) {
			b := clearing.NewBook(clearing.NewMemRecords())
			before := b.State()
			o := must(t)(b.Prepare(env, req("t1", A, B, h(250), at0+100), at0))
			o = must(t)(b.Abort("t1", tc.give, at0+5))
			want := o.Transfer
			if want.State != clearing.StateAborted || want.Reason != tc.want || want.DecidedAt != at0+5 || o.Repeat || o.Conflict != "" {
				t.Fatalf("%+v", o)
			}
			// An abort restores positions and reservations exactly.
			if !reflect.DeepEqual(before, b.State()) {
				t.Fatalf("state after abort %+v, before prepare %+v", b.State(), before)
			}
			if o := must(t)(b.Abort("t1", clearing.ReasonCanceled, at0+6)); o != (clearing.Outcome{Transfer: want, Repeat: true}) {
				t.Fatalf("repeat abort %+v", o)
			}
			if o := must(t)(b.Commit("t1", at0+6)); o != (clearing.Outcome{Transfer: want, Repeat: true, Conflict: clearing.ReasonDuplicate}) {
				t.Fatalf("commit after abort %+v", o)
			}
		})
	}
	t.Run("abort restores a busy book exactly", func(t *testing.T) {
		b := clearing.NewBook(clearing.NewMemRecords())
		must(t)(b.Prepare(env, req("x", B, A, h(40), at0+100), at0))
		must(t)(b.Prepare(env, req("y", A, C, h(30), at0+100), at0))
		must(t)(b.Commit("y", at0))
		must(t)(b.Prepare(env, req("z", A, C, h(20), at0+100), at0))
		before := b.State()
		must(t)(b.Prepare(env, req("t1", A, B, h(250), at0+100), at0))
		must(t)(b.Abort("t1", "", at0))
		if !reflect.DeepEqual(before, b.State()) {
			t.Fatalf("state after abort %+v, before prepare %+v", b.State(), before)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		b := clearing.NewBook(clearing.NewMemRecords())
		want := clearing.Outcome{Transfer: clearing.Transfer{ID: "nope"}, Conflict: clearing.ReasonUnknownTransfer}
		if o := must(t)(b.Commit("nope", at0)); o != want {
			t.Fatalf("commit %+v", o)
		}
		if o := must(t)(b.Abort("nope", "", at0)); o != want {
			t.Fatalf("abort %+v", o)
		}
		// An id that could not be stored is unknown, too.
		must(t)(b.Prepare(env, req("", A, B, h(1), at0+100), at0))
		if o := must(t)(b.Commit("", at0)); o.Conflict != clearing.ReasonUnknownTransfer {
			t.Fatalf("commit of empty id %+v", o)
		}
	})
}

// TestExpireDue: expiry in (ExpiresAt, ID) order, only what is due.
func TestExpireDue(t *testing.T) {
	env, b := newEnv(), clearing.NewBook(clearing.NewMemRecords())
	if _, ok := b.NextExpiry(); ok {
		t.Fatal("NextExpiry on an empty book")
	}
	for _, p := range []struct {
		id  string
		exp int64
	}{{"d", 30}, {"b", 20}, {"c", 20}, {"a", 40}, {"e", 10}, {"f", 25}} {
		must(t)(b.Prepare(env, req(p.id, A, B, h(10), at0+p.exp), at0))
	}
	if n, ok := b.NextExpiry(); !ok || n != at0+10 {
		t.Fatalf("NextExpiry %d %v", n, ok)
	}
	must(t)(b.Commit("f", at0+5)) // decided before its expiry: never expires
	got, err := b.ExpireDue(at0 + 9)
	if err != nil || len(got) != 0 {
		t.Fatalf("ExpireDue(+9) = %v, %v", got, err)
	}
	got, err = b.ExpireDue(at0 + 30)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range got {
		if x.State != clearing.StateAborted || x.Reason != clearing.ReasonExpired || x.DecidedAt != at0+30 {
			t.Fatalf("expired record %+v", x)
		}
		ids = append(ids, x.ID)
	}
	if !reflect.DeepEqual(ids, []string{"e", "b", "c", "d"}) {
		t.Fatalf("expired %v", ids)
	}
	if n, ok := b.NextExpiry(); !ok || n != at0+40 {
		t.Fatalf("NextExpiry %d %v", n, ok)
	}
	if p := b.Position(A, "hours"); p.Reserved != 10 || p.Sent != 10 {
		t.Fatalf("A %+v", p)
	}
	if o := must(t)(b.Commit("b", at0+31)); o.Conflict != clearing.ReasonDuplicate || o.Transfer.Reason != clearing.ReasonExpired {
		t.Fatalf("commit of expired %+v", o)
	}
	got, _ = b.ExpireDue(math.MaxInt64)
	if len(got) != 1 || got[0].ID != "a" || len(b.Pending()) != 0 {
		t.Fatalf("%v %v", got, b.Pending())
	}
	if _, ok := b.NextExpiry(); ok {
		t.Fatal("NextExpiry with nothing pending")
	}
}

// TestOpenPeriod: summaries, resets, carried positions, and pending transfers
// committing into the period current at their commit.
func TestOpenPeriod(t *testing.T) {
	env, b := newEnv(), clearing.NewBook(clearing.NewMemRecords())
	if n, at := b.Period(); n != 1 || at != 0 {
		t.Fatalf("Period() = %d, %d", n, at)
	}
	for _, n := range []uint64{0, 1, 3} {
		if _, err := b.OpenPeriod(n, at0); !errors.Is(err, clearing.ErrPeriod) {
			t.Fatalf("OpenPeriod(%d): %v", n, err)
		}
	}
	must(t)(b.Prepare(env, req("c1", A, B, h(100), at0+1000), at0))
	must(t)(b.Prepare(env, req("c2", B, A, h(30), at0+1000), at0))
	must(t)(b.Prepare(env, req("c3", A, B, h(5), at0+1000), at0))
	must(t)(b.Prepare(env, req("p1", A, C, h(70), at0+1000), at0))
	for _, id := range []string{"c1", "c2", "c3"} {
		must(t)(b.Commit(id, at0+1))
	}
	sum, err := b.OpenPeriod(2, at0+10)
	if err != nil {
		t.Fatal(err)
	}
	want := clearing.PeriodSummary{
		Number: 1, OpenedAt: 0, ClosedAt: at0 + 10,
		Positions: []clearing.Position{
			{DID: A, Currency: "hours", Sent: 105, Received: 30, Reserved: 70},
			{DID: B, Currency: "hours", Sent: 30, Received: 105},
		},
		Bilateral: []clearing.Bilateral{
			{Currency: "hours", From: A, To: B, Amount: 105, Count: 2},
			{Currency: "hours", From: B, To: A, Amount: 30, Count: 1},
		},
		Transfers: 3,
	}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary\n%+v\nwant\n%+v", sum, want)
	}
	if n, at := b.Period(); n != 2 || at != at0+10 {
		t.Fatalf("Period() = %d, %d", n, at)
	}
	wantState := clearing.Snapshot{
		Period: 2, PeriodOpenedAt: at0 + 10,
		Positions: []clearing.Position{
			{DID: A, Currency: "hours", Reserved: 70, Carried: 75},
			{DID: B, Currency: "hours", Carried: -75},
		},
		Bilateral: []clearing.Bilateral{},
		Pending:   b.Pending(),
	}
	if st := b.State(); !reflect.DeepEqual(st, wantState) || len(st.Pending) != 1 {
		t.Fatalf("state after open %+v", st)
	}
	o := must(t)(b.Commit("p1", at0+11))
	if o.Transfer.Period != 2 {
		t.Fatalf("p1 committed into period %d", o.Transfer.Period)
	}
	wantPos := []clearing.Position{
		{DID: A, Currency: "hours", Sent: 70, Carried: 75},
		{DID: B, Currency: "hours", Carried: -75},
		{DID: C, Currency: "hours", Received: 70},
	}
	if got := b.Positions(); !reflect.DeepEqual(got, wantPos) {
		t.Fatalf("positions %+v", got)
	}
	// Committed transfers keep the period they committed in.
	if o := must(t)(b.Commit("c1", at0+12)); o.Transfer.Period != 1 || !o.Repeat {
		t.Fatalf("c1 %+v", o)
	}
	sum, err = b.OpenPeriod(3, at0+20)
	if err != nil || sum.Transfers != 1 || sum.Number != 2 || sum.OpenedAt != at0+10 {
		t.Fatalf("%+v %v", sum, err)
	}
	// The summary has the period's own figures and the carried debit of the
	// earlier periods as it was during the period.
	if !reflect.DeepEqual(sum.Positions, wantPos) {
		t.Fatalf("period 2 positions %+v", sum.Positions)
	}
	wantPos = []clearing.Position{
		{DID: A, Currency: "hours", Carried: 145},
		{DID: B, Currency: "hours", Carried: -75},
		{DID: C, Currency: "hours", Carried: -70},
	}
	if st := b.State(); !reflect.DeepEqual(st.Positions, wantPos) || st.Committed != 0 || len(st.Bilateral) != 0 {
		t.Fatalf("state after second open %+v", st)
	}
	for _, p := range wantPos {
		if got := b.Position(p.DID, p.Currency); got != p || got.CapDebit() != p.Carried || got.DebitPosition() != 0 {
			t.Fatalf("Position(%s) = %+v", p.DID, got)
		}
	}
}

// TestCapAcrossPeriods: closing a period settles nothing, so the debit cap
// keeps counting the closed periods' net debit.
func TestCapAcrossPeriods(t *testing.T) {
	env := newEnv()
	env.caps[capKey{A, "hours"}] = h(500)
	env.caps[capKey{B, "hours"}] = h(500)
	env.caps[capKey{C, "hours"}] = h(5000)
	b := clearing.NewBook(clearing.NewMemRecords())

	// A is a net creditor (received 1000, cap 500): it may reserve 1200.
	must(t)(b.Prepare(env, req("c->a", C, A, h(1000), at0+1000), at0))
	must(t)(b.Commit("c->a", at0))
	if o := must(t)(b.Prepare(env, req("a-over", A, C, h(1501), at0+1000), at0)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("a-over: %+v", o.Transfer)
	}
	if o := must(t)(b.Prepare(env, req("a->c", A, C, h(1200), at0+1000), at0)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("a->c: %+v", o.Transfer)
	}
	// B has debit 400 under cap 500.
	must(t)(b.Prepare(env, req("b->c", B, C, h(400), at0+1000), at0))
	must(t)(b.Commit("b->c", at0))

	if _, err := b.OpenPeriod(2, at0+1); err != nil {
		t.Fatal(err)
	}
	if p := b.Position(A, "hours"); p != (clearing.Position{DID: A, Currency: "hours", Reserved: 1200, Carried: -1000}) || p.CapDebit() != -1000 {
		t.Fatalf("A after close: %+v", p)
	}
	// The pending send commits into period 2: A's unsettled debit is 200
	// (carried −1000 + sent 1200), within its cap.
	must(t)(b.Commit("a->c", at0+2))
	p := b.Position(A, "hours")
	if p.Sent != 1200 || p.Carried != -1000 || p.Reserved != 0 || p.CapDebit() != 200 || p.DebitPosition() != 1200 {
		t.Fatalf("A after commit: %+v, cap debit %d", p, p.CapDebit())
	}
	// So A has exactly 300 left.
	if o := must(t)(b.Prepare(env, req("a-301", A, C, h(301), at0+1000), at0+2)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("a-301: %+v", o.Transfer)
	}
	if o := must(t)(b.Prepare(env, req("a-300", A, C, h(300), at0+1000), at0+2)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("a-300: %+v", o.Transfer)
	}

	// B carries 400 into period 2 and can send only 100 more.
	if p := b.Position(B, "hours"); p.Carried != 400 || p.CapDebit() != 400 || p.Sent != 0 {
		t.Fatalf("B in period 2: %+v", p)
	}
	if o := must(t)(b.Prepare(env, req("b-101", B, C, h(101), at0+1000), at0+2)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("b-101: %+v", o.Transfer)
	}
	if o := must(t)(b.Prepare(env, req("b-100", B, C, h(100), at0+1000), at0+2)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("b-100: %+v", o.Transfer)
	}
	must(t)(b.Commit("b-100", at0+3))
	// Still full in period 3.
	if _, err := b.OpenPeriod(3, at0+4); err != nil {
		t.Fatal(err)
	}
	if p := b.Position(B, "hours"); p != (clearing.Position{DID: B, Currency: "hours", Carried: 500}) {
		t.Fatalf("B in period 3: %+v", p)
	}
	if o := must(t)(b.Prepare(env, req("b-1", B, C, h(1), at0+1000), at0+4)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("b-1: %+v", o.Transfer)
	}
	// Receiving makes room again.
	must(t)(b.Prepare(env, req("c->b", C, B, h(50), at0+1000), at0+4))
	must(t)(b.Commit("c->b", at0+4))
	if o := must(t)(b.Prepare(env, req("b-50", B, C, h(50), at0+1000), at0+4)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("b-50: %+v", o.Transfer)
	}
}

// TestCarriedSaturates: a carried position that would leave int64 stops at
// the bound, and a saturated debit makes every send exceed the cap.
func TestCarriedSaturates(t *testing.T) {
	env := newEnv()
	env.caps[capKey{B, "hours"}] = h(math.MaxInt64)
	b := clearing.NewBook(clearing.NewMemRecords())
	// A receives MaxInt64 in period 1 and 5 more in period 2.
	must(t)(b.Prepare(env, req("b->a", B, A, h(math.MaxInt64), at0+1000), at0))
	must(t)(b.Commit("b->a", at0))
	if _, err := b.OpenPeriod(2, at0+1); err != nil {
		t.Fatal(err)
	}
	if p := b.Position(A, "hours"); p.Carried != -math.MaxInt64 {
		t.Fatalf("A: %+v", p)
	}
	if p := b.Position(B, "hours"); p.Carried != math.MaxInt64 || p.CapDebit() != math.MaxInt64 {
		t.Fatalf("B: %+v", p)
	}
	must(t)(b.Prepare(env, req("c->a", C, A, h(5), at0+1000), at0+1))
	must(t)(b.Commit("c->a", at0+1))
	if p := b.Position(A, "hours"); p.CapDebit() != math.MinInt64 || p.Carried != -math.MaxInt64 {
		t.Fatalf("A's cap debit: %+v %d", p, p.CapDebit())
	}
	// B's debit is at the bound: nothing more, whatever its cap.
	if o := must(t)(b.Prepare(env, req("b-1", B, C, h(1), at0+1000), at0+1)); o.Transfer.Reason != clearing.ReasonDebitCapExceeded {
		t.Fatalf("b-1: %+v", o.Transfer)
	}
	if _, err := b.OpenPeriod(3, at0+2); err != nil {
		t.Fatal(err)
	}
	if p := b.Position(A, "hours"); p.Carried != math.MinInt64 {
		t.Fatalf("A not saturated: %+v", p)
	}
	// A, a huge creditor, may still send.
	if o := must(t)(b.Prepare(env, req("a-1000", A, C, h(1000), at0+1000), at0+2)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("a-1000: %+v", o.Transfer)
	}
	must(t)(b.Commit("a-1000", at0+2))
	if p := b.Position(A, "hours"); p.CapDebit() != math.MinInt64+1000 {
		t.Fatalf("A: %+v %d", p, p.CapDebit())
	}
	if o := must(t)(b.Prepare(env, req("a-more", A, C, h(1), at0+1000), at0+2)); o.Transfer.State != clearing.StatePrepared {
		t.Fatalf("a-more: %+v", o.Transfer)
	}

	// Saturation at the top, through a restored book (a book under its caps
	// cannot get there by itself): carried near MaxInt64 and a pending send.
	st := clearing.Snapshot{
		Period: 7, PeriodOpenedAt: at0,
		Positions: []clearing.Position{{DID: A, Currency: "hours", Reserved: 100, Carried: math.MaxInt64 - 50}},
		Bilateral: []clearing.Bilateral{},
		Pending: []clearing.Transfer{{ID: "p", From: A, To: B, Amount: h(100), IntentHash: hash("p"),
			State: clearing.StatePrepared, PreparedAt: at0, ExpiresAt: at0 + 100}},
	}
	r, err := clearing.Restore(st, clearing.NewMemRecords())
	if err != nil {
		t.Fatal(err)
	}
	must(t)(r.Commit("p", at0+1))
	if p := r.Position(A, "hours"); p.CapDebit() != math.MaxInt64 {
		t.Fatalf("A: %+v %d", p, p.CapDebit())
	}
	if _, err := r.OpenPeriod(8, at0+2); err != nil {
		t.Fatal(err)
	}
	want := []clearing.Position{{DID: A, Currency: "hours", Carried: math.MaxInt64}, {DID: B, Currency: "hours", Carried: -100}}
	if got := r.Positions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("positions %+v", got)
	}
	// CapDebit saturates on its own.
	for _, c := range []struct {
		p    clearing.Position
		want int64
	}{
		{clearing.Position{Carried: math.MaxInt64, Sent: 1}, math.MaxInt64},
		{clearing.Position{Carried: math.MinInt64, Received: 1}, math.MinInt64},
		{clearing.Position{Carried: math.MinInt64, Sent: math.MaxInt64}, -1},
		{clearing.Position{Carried: -3, Sent: 10, Received: 2}, 5},
	} {
		if got := c.p.CapDebit(); got != c.want {
			t.Errorf("%+v.CapDebit() = %d, want %d", c.p, got, c.want)
		}
	}
}

// TestRecordsFailures: a Records error is returned and the book does not change.
func TestRecordsFailures(t *testing.T) {
	env := newEnv()
	rec := newRecStore()
	b := clearing.NewBook(rec)
	must(t)(b.Prepare(env, req("p", A, B, h(10), at0+100), at0))
	must(t)(b.Prepare(env, req("q", A, B, h(10), at0+100), at0))
	before := b.State()
	rec.failAfter = len(rec.puts)
	cmds := map[string]func() error{
		"prepare":  func() error { _, err := b.Prepare(env, req("n", A, B, h(10), at0+100), at0); return err },
		"reject":   func() error { _, err := b.Prepare(env, req("n", A, A, h(10), at0+100), at0); return err },
		"commit":   func() error { _, err := b.Commit("p", at0+1); return err },
		"expiring": func() error { _, err := b.Commit("p", at0+100); return err },
		"abort":    func() error { _, err := b.Abort("p", "", at0+1); return err },
		"expire":   func() error { _, err := b.ExpireDue(at0 + 100); return err },
	}
	for name, f := range cmds {
		if err := f(); !errors.Is(err, errDisk) {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(before, b.State()) {
			t.Fatalf("%s changed the book", name)
		}
	}
	rec.failAfter = -1
	rec.failGet = true
	if _, err := b.Commit("other", at0); !errors.Is(err, errDisk) {
		t.Fatalf("get: %v", err)
	}
	// ExpireDue keeps what it did before a failure.
	rec.failGet = false
	rec.failAfter = len(rec.puts) + 1
	got, err := b.ExpireDue(at0 + 100)
	if !errors.Is(err, errDisk) || len(got) != 1 || got[0].ID != "p" || len(b.Pending()) != 1 {
		t.Fatalf("partial expiry %v %v %v", got, err, b.Pending())
	}
}

// TestRecordsDisagree: a record that says prepared for an id that is not
// pending is a broken invariant.
func TestRecordsDisagree(t *testing.T) {
	rec := clearing.NewMemRecords()
	b := clearing.NewBook(rec)
	must(t)(b.Prepare(newEnv(), req("p", A, B, h(10), at0+100), at0))
	b2 := clearing.NewBook(rec) // fresh memory, same records
	for name, f := range map[string]func() error{
		"prepare": func() error { _, err := b2.Prepare(newEnv(), req("p", A, B, h(10), at0+100), at0); return err },
		"commit":  func() error { _, err := b2.Commit("p", at0); return err },
		"abort":   func() error { _, err := b2.Abort("p", "", at0); return err },
	} {
		if err := f(); !errors.Is(err, clearing.ErrCorrupt) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestStateNames(t *testing.T) {
	for s, name := range map[clearing.State]string{
		clearing.StatePrepared: "prepared", clearing.StateCommitted: "committed",
		clearing.StateAborted: "aborted", clearing.StateRejected: "rejected", 0: "state(0)", 9: "state(9)",
	} {
		if s.String() != name {
			t.Errorf("%d.String() = %q", int(s), s.String())
		}
		b, err := s.MarshalText()
		if s == 9 {
			if err == nil {
				t.Error("MarshalText(9) succeeded")
			}
			continue
		}
		var back clearing.State
		if err != nil || back.UnmarshalText(b) != nil || back != s {
			t.Errorf("%v: text %q, %v, back %v", s, b, err, back)
		}
	}
	var s clearing.State
	if s.UnmarshalText([]byte("Prepared")) == nil {
		t.Error("UnmarshalText accepted Prepared")
	}
	if !clearing.ReasonExpired.Known() || clearing.Reason("bogus").Known() || clearing.ReasonNone.Known() {
		t.Error("Reason.Known")
	}
}
