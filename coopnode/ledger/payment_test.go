package ledger

import (
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

func TestPayInternalMovesBothBalances(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 1, 2)
	a, b := m[0], m[1]

	tr := xfer(a, b, 1250)
	p := mustPay(t, s, tr)
	if p.Status != StatusCommitted || p.Reason != "" {
		t.Fatalf("status %s reason %q, want committed", p.Status, p.Reason)
	}
	if !hex64.MatchString(p.EntryHash) {
		t.Fatalf("entry hash %q is not 64 hex digits", p.EntryHash)
	}
	if p.EntrySeq != 1 || p.ID != tr.ID || p.From != a || p.To != b || p.Amount != tr.Amount || p.Memo != tr.Memo || p.Hold {
		t.Fatalf("payment %+v does not reflect transfer %+v", p, tr)
	}
	if !p.CreatedAt.Equal(tr.CreatedAt) {
		t.Fatalf("created at %v, want %v", p.CreatedAt, tr.CreatedAt)
	}
	wantBalance(t, s, a, -1250, 0)
	wantBalance(t, s, b, 1250, 0)
	if got := mustBalance(t, s, a).Available.Units(); got != defaultLimit-1250 {
		t.Fatalf("available %d, want %d", got, defaultLimit-1250)
	}

	// The entry hash is the hash of the stored entry, and the chain's head.
	raw, e := entryAt(t, s, p.EntrySeq)
	if got := hex.EncodeToString(hashEntry(raw)); got != p.EntryHash {
		t.Fatalf("entry hash %s, stored entry hashes to %s", p.EntryHash, got)
	}
	if e.PaymentId != tr.ID || e.Kind != icnv1.EntryKind_ENTRY_KIND_PAYMENT || len(e.Postings) != 2 ||
		e.Postings[0].Units != -1250 || e.Postings[1].Units != 1250 {
		t.Fatalf("entry %+v", e)
	}
	seq, head, err := s.Head()
	if err != nil || seq != 1 || hex.EncodeToString(head) != p.EntryHash {
		t.Fatalf("head %d %x %v, want 1 %s", seq, head, err, p.EntryHash)
	}
	got, err := s.Payment(tr.ID)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("Payment(%s) = %+v, %v; want %+v", tr.ID, got, err, p)
	}
	mustVerify(t, s)
}

func TestCreditLimit(t *testing.T) {
	m := memberDIDs(t, 2, 3)
	a, b, c := m[0], m[1], m[2]
	type step struct {
		hold  bool
		from  Account
		to    Account
		units int64
		want  Status
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"exactly the limit", []step{{false, a, b, defaultLimit, StatusCommitted}}},
		{"one unit over the limit", []step{{false, a, b, defaultLimit + 1, StatusRejected}}},
		{"down to the limit in two steps", []step{
			{false, a, b, 4000, StatusCommitted}, {false, a, c, defaultLimit - 4000, StatusCommitted},
			{false, a, c, 1, StatusRejected},
		}},
		{"one over after a prior payment", []step{
			{false, a, b, 4000, StatusCommitted}, {false, a, c, defaultLimit - 4000 + 1, StatusRejected},
			{false, a, c, defaultLimit - 4000, StatusCommitted},
		}},
		{"a hold uses up credit", []step{
			{true, a, c, 3000, StatusPending}, {false, a, b, defaultLimit - 3000 + 1, StatusRejected},
			{false, a, b, defaultLimit - 3000, StatusCommitted}, {true, a, c, 1, StatusRejected},
		}},
		{"income raises what can be spent", []step{
			{false, b, a, 500, StatusCommitted}, {false, a, c, defaultLimit + 501, StatusRejected},
			{false, a, c, defaultLimit + 500, StatusCommitted},
		}},
		{"a rejected payer can still receive", []step{
			{false, a, b, defaultLimit + 1, StatusRejected}, {false, c, a, 1, StatusCommitted},
			{false, a, b, defaultLimit + 1, StatusCommitted},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openStore(t, nil)
			bal := map[Account]int64{}
			held := map[Account]int64{}
			for i, st := range tc.steps {
				tr := xfer(st.from, st.to, st.units)
				var p Payment
				if st.hold {
					p = mustHold(t, s, tr)
				} else {
					p = mustPay(t, s, tr)
				}
				if p.Status != st.want {
					t.Fatalf("step %d: status %s, want %s", i, p.Status, st.want)
				}
				switch p.Status {
				case StatusRejected:
					if p.Reason != ReasonInsufficientCredit || p.EntrySeq != 0 || p.EntryHash != "" {
						t.Fatalf("step %d: rejected payment %+v", i, p)
					}
				case StatusCommitted:
					bal[st.from] -= st.units
					bal[st.to] += st.units
				case StatusPending:
					held[st.from] += st.units
				}
				for _, acc := range []Account{a, b, c} {
					wantBalance(t, s, acc, bal[acc], held[acc])
					if av := mustBalance(t, s, acc).Available.Units(); av != bal[acc]-held[acc]+defaultLimit {
						t.Fatalf("step %d: %s available %d", i, acc, av)
					}
				}
			}
			mustVerify(t, s)
		})
	}
}

func TestIdempotentPayment(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 3, 3)
	a, b, c := m[0], m[1], m[2]

	tr := xfer(a, b, 700)
	first := mustPay(t, s, tr)
	head1 := headSeq(t, s)
	for i := 0; i < 3; i++ {
		again := mustPay(t, s, tr)
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("repeat %d: %+v, want %+v", i, again, first)
		}
	}
	if again := mustPay(t, s, tr); again.EntryHash != first.EntryHash || !hex64.MatchString(again.EntryHash) {
		t.Fatalf("entry hash %s, want %s", again.EntryHash, first.EntryHash)
	}
	wantBalance(t, s, a, -700, 0)
	wantBalance(t, s, b, 700, 0)
	if got := headSeq(t, s); got != head1 {
		t.Fatalf("head moved from %d to %d on repeats", head1, got)
	}
	if ev := readAll(t, s, CoopFeed, 0); len(ev) != 1 {
		t.Fatalf("%d events after repeats, want 1", len(ev))
	}

	modified := []struct {
		name string
		mod  func(*Transfer)
	}{
		{"amount", func(t *Transfer) { t.Amount = hours(701) }},
		{"to", func(t *Transfer) { t.To = c }},
		{"from", func(t *Transfer) { t.From = c }},
		{"memo", func(t *Transfer) { t.Memo = "other" }},
		{"created at", func(t *Transfer) { t.CreatedAt = t.CreatedAt.Add(time.Second) }},
		{"to coop", func(t *Transfer) { t.ToCoop = "elsewhere" }},
	}
	for _, mc := range modified {
		t.Run(mc.name, func(t *testing.T) {
			t2 := tr
			mc.mod(&t2)
			_, err := s.Pay(bg, t2)
			wantErr(t, err, ErrModifiedRequest)
		})
	}
	t.Run("hold with a payment's id", func(t *testing.T) {
		_, err := s.Hold(bg, tr)
		wantErr(t, err, ErrModifiedRequest)
	})
	t.Run("rejected stays rejected", func(t *testing.T) {
		r := xfer(c, a, defaultLimit+1)
		p := mustPay(t, s, r)
		if p.Status != StatusRejected {
			t.Fatalf("status %s", p.Status)
		}
		mustPay(t, s, xfer(b, c, 5000)) // now c could afford it
		if again := mustPay(t, s, r); !reflect.DeepEqual(again, p) {
			t.Fatalf("repeat of a rejected payment: %+v, want %+v", again, p)
		}
	})
	wantBalance(t, s, a, -700, 0)
	wantBalance(t, s, b, 700-5000, 0)
	wantBalance(t, s, c, 5000, 0)
	mustVerify(t, s)
}

func TestHolds(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 4, 3)
	a, remote := m[0], m[1]
	hub := ClearingAccount("hub")

	// Hold reduces Available, not Balance.
	h1 := xfer(a, remote, 3000)
	h1.ToCoop = "coop-b"
	p := mustHold(t, s, h1)
	if p.Status != StatusPending || !p.Hold || p.EntrySeq != 0 || p.EntryHash != "" {
		t.Fatalf("hold %+v", p)
	}
	bal := mustBalance(t, s, a)
	if bal.Balance.Units() != 0 || bal.Held.Units() != 3000 || bal.Available.Units() != defaultLimit-3000 {
		t.Fatalf("after hold: %+v", bal)
	}
	if headSeq(t, s) != 0 {
		t.Fatal("a hold posted an entry")
	}

	// CommitHold moves the balance to the counter account.
	c1, err := s.CommitHold(bg, h1.ID, hub)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Status != StatusCommitted || !hex64.MatchString(c1.EntryHash) || c1.EntrySeq != 1 {
		t.Fatalf("committed hold %+v", c1)
	}
	wantBalance(t, s, a, -3000, 0)
	wantBalance(t, s, hub, 3000, 0)
	wantBalance(t, s, remote, 0, 0)
	_, e := entryAt(t, s, c1.EntrySeq)
	if e.Kind != icnv1.EntryKind_ENTRY_KIND_HOLD_COMMIT || e.PaymentId != h1.ID {
		t.Fatalf("entry %+v", e)
	}
	// Repeated CommitHold is a no-op.
	for i := 0; i < 2; i++ {
		again, err := s.CommitHold(bg, h1.ID, hub)
		if err != nil || !reflect.DeepEqual(again, c1) {
			t.Fatalf("repeat commit: %+v, %v; want %+v", again, err, c1)
		}
	}
	wantBalance(t, s, a, -3000, 0)
	wantBalance(t, s, hub, 3000, 0)
	if headSeq(t, s) != 1 {
		t.Fatal("repeated commit posted an entry")
	}
	// ReleaseHold after CommitHold is ErrFinal.
	_, err = s.ReleaseHold(bg, h1.ID, "expired")
	wantErr(t, err, ErrFinal)

	// ReleaseHold restores Available.
	h2 := xfer(a, remote, 2000)
	mustHold(t, s, h2)
	if av := mustBalance(t, s, a).Available.Units(); av != defaultLimit-3000-2000 {
		t.Fatalf("available %d with a hold", av)
	}
	r2, err := s.ReleaseHold(bg, h2.ID, "expired")
	if err != nil || r2.Status != StatusRejected || r2.Reason != "expired" || r2.EntrySeq != 0 {
		t.Fatalf("released hold %+v, %v", r2, err)
	}
	wantBalance(t, s, a, -3000, 0)
	if av := mustBalance(t, s, a).Available.Units(); av != defaultLimit-3000 {
		t.Fatalf("available %d after release", av)
	}
	if again, err := s.ReleaseHold(bg, h2.ID, "other"); err != nil || !reflect.DeepEqual(again, r2) {
		t.Fatalf("repeat release: %+v, %v; want %+v", again, err, r2)
	}
	wantBalance(t, s, a, -3000, 0)
	// CommitHold after ReleaseHold is ErrFinal.
	_, err = s.CommitHold(bg, h2.ID, hub)
	wantErr(t, err, ErrFinal)

	// A hold beyond the limit is rejected at once and holds nothing.
	h3 := xfer(a, remote, defaultLimit)
	p3 := mustHold(t, s, h3)
	if p3.Status != StatusRejected || p3.Reason != ReasonInsufficientCredit {
		t.Fatalf("oversized hold %+v", p3)
	}
	wantBalance(t, s, a, -3000, 0)
	_, err = s.CommitHold(bg, h3.ID, hub)
	wantErr(t, err, ErrFinal)
	if again, err := s.ReleaseHold(bg, h3.ID, "x"); err != nil || again.Status != StatusRejected || again.Reason != ReasonInsufficientCredit {
		t.Fatalf("release of a rejected hold: %+v, %v", again, err)
	}
	wantBalance(t, s, a, -3000, 0) // held must not go negative

	// A plain payment is not a hold.
	pp := mustPay(t, s, xfer(a, remote, 1))
	_, err = s.ReleaseHold(bg, pp.ID, "x")
	wantErr(t, err, ErrFinal)

	// Unknown ids.
	_, err = s.CommitHold(bg, "nope", hub)
	wantErr(t, err, ErrNotFound)
	_, err = s.ReleaseHold(bg, "nope", "x")
	wantErr(t, err, ErrNotFound)
	_, err = s.Payment("nope")
	wantErr(t, err, ErrNotFound)

	mustVerify(t, s)
}

// TestCommitHoldCounterAccount: the counter account must be a real, other
// account. Crediting the payer itself used to overwrite the payer's debit with
// the credit (both read before either was written), creating money out of
// nothing and breaking the zero sum.
func TestCommitHoldCounterAccount(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 5, 2)
	a := m[0]
	h := xfer(a, m[1], 1500)
	mustHold(t, s, h)
	for _, counter := range []Account{a, ""} {
		_, err := s.CommitHold(bg, h.ID, counter)
		wantErr(t, err, ErrInvalid)
		wantBalance(t, s, a, 0, 1500)
	}
	if p, err := s.CommitHold(bg, h.ID, ClearingAccount("hub")); err != nil || p.Status != StatusCommitted {
		t.Fatalf("commit %+v, %v", p, err)
	}
	wantBalance(t, s, a, -1500, 0)
	wantBalance(t, s, ClearingAccount("hub"), 1500, 0)
	mustVerify(t, s)
}

func TestValidation(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 6, 2)
	a, b := m[0], m[1]
	eur := money.Currency{Code: "eur", Scale: 2}
	cases := []struct {
		name string
		mod  func(*Transfer)
	}{
		{"zero amount", func(t *Transfer) { t.Amount = hours(0) }},
		{"negative amount", func(t *Transfer) { t.Amount = hours(-100) }},
		{"same from and to", func(t *Transfer) { t.To = t.From }},
		{"unknown currency", func(t *Transfer) { t.Amount = money.FromUnits(100, eur) }},
		{"known code with another scale", func(t *Transfer) { t.Amount = money.FromUnits(100, money.Currency{Code: "hours", Scale: 3}) }},
		{"zero currency", func(t *Transfer) { t.Amount = money.Amount{} }},
		{"empty id", func(t *Transfer) { t.ID = "" }},
		{"id too long", func(t *Transfer) { t.ID = strings.Repeat("x", 129) }},
		{"empty from", func(t *Transfer) { t.From = "" }},
		{"empty to", func(t *Transfer) { t.To = "" }},
	}
	for _, tc := range cases {
		for _, hold := range []bool{false, true} {
			name := tc.name
			if hold {
				name += "/hold"
			}
			t.Run(name, func(t *testing.T) {
				tr := xfer(a, b, 100)
				tc.mod(&tr)
				var err error
				if hold {
					_, err = s.Hold(bg, tr)
				} else {
					_, err = s.Pay(bg, tr)
				}
				wantErr(t, err, ErrInvalid)
				if tr.ID != "" {
					_, err := s.Payment(tr.ID)
					wantErr(t, err, ErrNotFound)
				}
			})
		}
	}
	// An id of exactly 128 characters is fine.
	tr := xfer(a, b, 100)
	tr.ID = strings.Repeat("y", 128)
	mustPay(t, s, tr)
	if headSeq(t, s) != 1 {
		t.Fatal("invalid transfers posted entries")
	}
	wantBalance(t, s, a, -100, 0)
	wantErr(t, s.SetCreditLimit(bg, a, hours(-1)), ErrInvalid)
	mustVerify(t, s)
}

func TestSetCreditLimit(t *testing.T) {
	s, opts := openStore(t, func(o *Options) { o.NoSync = false })
	m := memberDIDs(t, 7, 3)
	a, b, c := m[0], m[1], m[2]

	if got := mustBalance(t, s, a).CreditLimit.Units(); got != defaultLimit {
		t.Fatalf("default limit %d", got)
	}
	if err := s.SetCreditLimit(bg, a, hours(5000)); err != nil {
		t.Fatal(err)
	}
	if got := mustBalance(t, s, a); got.CreditLimit.Units() != 5000 || got.Available.Units() != 5000 {
		t.Fatalf("after set: %+v", got)
	}
	if got := mustBalance(t, s, b).CreditLimit.Units(); got != defaultLimit {
		t.Fatalf("b's limit changed to %d", got)
	}
	if p := mustPay(t, s, xfer(a, c, 5001)); p.Status != StatusRejected {
		t.Fatalf("over own limit: %s", p.Status)
	}
	if p := mustPay(t, s, xfer(a, c, 5000)); p.Status != StatusCommitted {
		t.Fatalf("at own limit: %s", p.Status)
	}
	// b keeps the default.
	if p := mustPay(t, s, xfer(b, c, defaultLimit)); p.Status != StatusCommitted {
		t.Fatalf("b at default limit: %s", p.Status)
	}
	// Limit zero: nothing below zero.
	if err := s.SetCreditLimit(bg, c, hours(0)); err != nil {
		t.Fatal(err)
	}
	if p := mustPay(t, s, xfer(c, a, 5000+defaultLimit+1)); p.Status != StatusRejected {
		t.Fatalf("c beyond its balance with limit 0: %s", p.Status)
	}
	if p := mustPay(t, s, xfer(c, a, 5000+defaultLimit)); p.Status != StatusCommitted {
		t.Fatalf("c spending exactly its balance: %s", p.Status)
	}
	// Lowering a limit below what is already used stops spending, moves nothing.
	if err := s.SetCreditLimit(bg, b, hours(10)); err != nil {
		t.Fatal(err)
	}
	if p := mustPay(t, s, xfer(b, a, 1)); p.Status != StatusRejected {
		t.Fatalf("b over its lowered limit: %s", p.Status)
	}
	if got := mustBalance(t, s, b); got.Available.Units() != -defaultLimit+10 {
		t.Fatalf("b's available %d", got.Available.Units())
	}

	// The limits survive a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	for acc, want := range map[Account]int64{a: 5000, b: 10, c: 0} {
		if got := mustBalance(t, s, acc).CreditLimit.Units(); got != want {
			t.Fatalf("%s: limit %d after reopen, want %d", acc, got, want)
		}
	}
	mustVerify(t, s)
}

// TestHugeCreditLimit: a limit near the int64 range ("practically unlimited")
// must not overflow the available-credit arithmetic into a rejection.
func TestHugeCreditLimit(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 8, 2)
	a, b := m[0], m[1]
	mustPay(t, s, xfer(b, a, 100)) // a has a positive balance
	if err := s.SetCreditLimit(bg, a, hours(math.MaxInt64)); err != nil {
		t.Fatal(err)
	}
	if p := mustPay(t, s, xfer(a, b, 1_000_000)); p.Status != StatusCommitted {
		t.Fatalf("payment with an unlimited limit: %s %s", p.Status, p.Reason)
	}
	if p := mustHold(t, s, xfer(a, b, 5)); p.Status != StatusPending {
		t.Fatalf("hold with an unlimited limit: %s %s", p.Status, p.Reason)
	}
	bal := mustBalance(t, s, a)
	if bal.Available.Sign() <= 0 {
		t.Fatalf("available %s with an unlimited limit", bal.Available)
	}

	// Holds may not wrap the held amount around.
	c := memberDIDs(t, 80, 1)[0]
	mustPay(t, s, xfer(b, c, 100))
	if err := s.SetCreditLimit(bg, c, hours(math.MaxInt64)); err != nil {
		t.Fatal(err)
	}
	if p := mustHold(t, s, xfer(c, b, math.MaxInt64)); p.Status != StatusPending {
		t.Fatalf("maximal hold: %s %s", p.Status, p.Reason)
	}
	if p, err := s.Hold(bg, xfer(c, b, 1)); err == nil && p.Status == StatusPending {
		t.Fatal("a second hold overflowed the held amount")
	}
	wantBalance(t, s, c, 100, math.MaxInt64)
	mustVerify(t, s)
}

func TestSystemAccountHasNoLimit(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 9, 1)
	hub := ClearingAccount("hub")
	if !hub.IsSystem() || m[0].IsSystem() || hub != "clearing:hub" {
		t.Fatalf("IsSystem: %s %v, %s %v", hub, hub.IsSystem(), m[0], m[0].IsSystem())
	}
	big := int64(1_000_000_00)
	if p := mustPay(t, s, xfer(hub, m[0], big)); p.Status != StatusCommitted {
		t.Fatalf("system payment %s %s", p.Status, p.Reason)
	}
	if p := mustHold(t, s, xfer(hub, m[0], big)); p.Status != StatusPending {
		t.Fatalf("system hold %s %s", p.Status, p.Reason)
	}
	bal := mustBalance(t, s, hub)
	if bal.Balance.Units() != -big || bal.Held.Units() != big || bal.CreditLimit.Units() != 0 {
		t.Fatalf("clearing %+v", bal)
	}
	wantBalance(t, s, m[0], big, 0)
	mustVerify(t, s)
}

func TestHistoryPaging(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 10, 3)
	a, b, c := m[0], m[1], m[2]
	// 23 payments touch a (as payer or payee, committed, rejected, held),
	// interleaved with payments that do not.
	var want []string
	for i := 0; i < 23; i++ {
		var tr Transfer
		switch i % 4 {
		case 0:
			tr = xfer(a, b, int64(10+i))
		case 1:
			tr = xfer(c, a, int64(10+i))
		case 2:
			tr = xfer(a, c, defaultLimit*3) // rejected
		case 3:
			tr = xfer(a, b, 5)
			mustHold(t, s, tr)
		}
		if i%4 != 3 {
			mustPay(t, s, tr)
		}
		want = append(want, tr.ID)
		mustPay(t, s, xfer(b, c, 1))
	}
	// newest first
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	for _, limit := range []int{1, 2, 5, 7, 22, 23, 24, 100} {
		t.Run("limit="+strconv.Itoa(limit), func(t *testing.T) {
			var got []string
			var before uint64
			pages := 0
			for {
				page, next, err := s.History(a, limit, before)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page) > limit {
					t.Fatalf("page of %d, limit %d", len(page), limit)
				}
				for _, p := range page {
					got = append(got, p.ID)
				}
				if next == 0 {
					break
				}
				if len(page) != limit {
					t.Fatalf("short page of %d before the last", len(page))
				}
				if pages > 100 {
					t.Fatal("history does not end")
				}
				before = next
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("history\n got %v\nwant %v", got, want)
			}
			if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
				t.Fatalf("%d pages, want %d", pages, wantPages)
			}
		})
	}
	// Payments rejected at once stay out of the payee's history.
	hc, _, err := s.History(c, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range hc {
		if p.Status == StatusRejected {
			t.Fatalf("payee's history lists rejected payment %s", p.ID)
		}
	}
	if len(hc) != 23+6 { // b→c each round, c→a in rounds 1, 5, …, 21
		t.Fatalf("c's history has %d payments", len(hc))
	}
	if page, next, err := s.History("did:icn:nobody", 10, 0); err != nil || len(page) != 0 || next != 0 {
		t.Fatalf("history of an unknown account: %v %d %v", page, next, err)
	}
}

func TestReject(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 12, 2)
	a, b := m[0], m[1]
	tr := xfer(a, b, 300)
	tr.ToCoop = "coop-x"
	p, err := s.Reject(bg, tr, "no_route")
	if err != nil || p.Status != StatusRejected || p.Reason != "no_route" || p.EntrySeq != 0 || p.EntryHash != "" || p.Hold {
		t.Fatalf("reject: %+v %v", p, err)
	}
	wantBalance(t, s, a, 0, 0)
	wantBalance(t, s, b, 0, 0)
	// Idempotent: Reject again, or a retry as Pay, gets the first answer.
	for _, retry := range []func() (Payment, error){
		func() (Payment, error) { return s.Reject(bg, tr, "no_route") },
		func() (Payment, error) { return s.Reject(bg, tr, "other") },
		func() (Payment, error) { return s.Pay(bg, tr) },
	} {
		again, err := retry()
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("retry: %+v %v, want %+v", again, err, p)
		}
	}
	_, err = s.Hold(bg, tr)
	wantErr(t, err, ErrModifiedRequest)
	tr2 := tr
	tr2.Amount = hours(301)
	_, err = s.Reject(bg, tr2, "no_route")
	wantErr(t, err, ErrModifiedRequest)
	// An empty reason must not fall through to a payment.
	_, err = s.Reject(bg, xfer(a, b, 300), "")
	wantErr(t, err, ErrInvalid)
	_, err = s.Reject(bg, xfer(a, a, 300), "no_route")
	wantErr(t, err, ErrInvalid)
	wantBalance(t, s, a, 0, 0)
	wantBalance(t, s, b, 0, 0)
	// It concerns only the payer: history and feed.
	if h, _, _ := s.History(a, 10, 0); len(h) != 1 || h[0].ID != tr.ID {
		t.Fatalf("payer's history %v", h)
	}
	if h, _, _ := s.History(b, 10, 0); len(h) != 0 {
		t.Fatalf("payee's history %v", h)
	}
	if ev := readAll(t, s, string(a), 0); len(ev) != 1 || ev[0].Type != EventPaymentRejected {
		t.Fatalf("payer's feed %v", ev)
	}
	if ev := readAll(t, s, string(b), 0); len(ev) != 0 {
		t.Fatalf("payee's feed %v", ev)
	}
	_, err = s.CommitHold(bg, tr.ID, ClearingAccount("hub"))
	wantErr(t, err, ErrFinal)
	if headSeq(t, s) != 0 {
		t.Fatal("a rejection posted an entry")
	}
	mustVerify(t, s)
}

// TestConcurrentSameID: racing requests with one id share one outcome; with
// different intents exactly one wins and the rest are modified requests.
func TestConcurrentSameID(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 13, 3)
	const n = 24
	tr := xfer(m[0], m[1], 250)
	got := make([]Payment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); got[i], errs[i] = s.Pay(bg, tr) }(i)
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || !reflect.DeepEqual(got[i], got[0]) {
			t.Fatalf("request %d: %+v %v, want %+v", i, got[i], errs[i], got[0])
		}
	}
	wantBalance(t, s, m[0], -250, 0)
	wantBalance(t, s, m[1], 250, 0)

	tr2 := xfer(m[0], m[2], 1)
	var wins, modified int
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t2 := tr2
			t2.Amount = hours(int64(i + 1))
			_, err := s.Hold(bg, t2)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrModifiedRequest):
				modified++
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	p, err := s.Payment(tr2.ID)
	if err != nil || wins != 1 || modified != n-1 {
		t.Fatalf("%d won, %d modified, %v", wins, modified, err)
	}
	wantBalance(t, s, m[0], -250, p.Amount.Units())
	if headSeq(t, s) != 1 {
		t.Fatalf("head %d, want 1", headSeq(t, s))
	}
	mustVerify(t, s)
}

func TestEmptyLedger(t *testing.T) {
	s, _ := openStore(t, nil)
	seq, hash, err := s.Head()
	if err != nil || seq != 0 || len(hash) != 32 || string(hash) != string(make([]byte, 32)) {
		t.Fatalf("head of an empty ledger: %d %x %v", seq, hash, err)
	}
	r := mustVerify(t, s)
	if r.Entries != 0 || r.HeadHash != strings.Repeat("0", 64) {
		t.Fatalf("verify of an empty ledger: %+v", r)
	}
	if ev, err := s.ReadFeed(CoopFeed, 0, 10); err != nil || len(ev) != 0 {
		t.Fatalf("feed of an empty ledger: %v %v", ev, err)
	}
	if got := s.Currencies(); !reflect.DeepEqual(got, money.DefaultCurrencies()) {
		t.Fatalf("currencies %v", got)
	}
}
