package ledger

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// incoming builds an incoming cross-co-op transfer: from the hub's clearing
// account to member to, as co-op B records it.
func incoming(to Account, units int64) Transfer {
	tr := xfer(ClearingAccount("hub"), to, units)
	tr.FromCoop, tr.ToCoop = "coop-a", "coop-b"
	return tr
}

func mustCredit(t testing.TB, s *Store, tr Transfer) Payment {
	t.Helper()
	p, err := s.CreditPending(bg, tr)
	if err != nil {
		t.Fatalf("credit %s: %v", tr.ID, err)
	}
	return p
}

// wantPendingIn checks an account's balance, held and pending-in amounts.
func wantPendingIn(t testing.TB, s *Store, a Account, balance, held, pendingIn int64) {
	t.Helper()
	b := mustBalance(t, s, a)
	if b.Balance.Units() != balance || b.Held.Units() != held || b.PendingIn.Units() != pendingIn {
		t.Fatalf("%s: balance %d held %d pending-in %d, want %d %d %d", a, b.Balance.Units(), b.Held.Units(),
			b.PendingIn.Units(), balance, held, pendingIn)
	}
}

func openIDs(t testing.TB, s *Store) []string {
	t.Helper()
	ps, err := s.OpenTransfers(1 << 20)
	if err != nil {
		t.Fatalf("open transfers: %v", err)
	}
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.Status != StatusPending || p.Hold == p.PendingCredit {
			t.Fatalf("open transfer %+v is not a pending hold or credit", p)
		}
		ids = append(ids, p.ID)
	}
	return ids
}

func TestCreditPending(t *testing.T) {
	s, _ := openStore(t, nil)
	b := memberDIDs(t, 21, 1)[0]
	hub := ClearingAccount("hub")

	tr := incoming(b, 2500)
	p := mustCredit(t, s, tr)
	if p.Status != StatusPending || !p.PendingCredit || p.Hold || p.EntrySeq != 0 || p.EntryHash != "" ||
		p.From != hub || p.To != b || p.Amount != tr.Amount || p.FromCoop != "coop-a" || p.ToCoop != "coop-b" {
		t.Fatalf("pending credit %+v", p)
	}
	// Visible, not spendable; nothing posted.
	bal := mustBalance(t, s, b)
	if bal.Balance.Units() != 0 || bal.PendingIn.Units() != 2500 || bal.Held.Units() != 0 || bal.Available.Units() != defaultLimit {
		t.Fatalf("after a pending credit: %+v", bal)
	}
	wantPendingIn(t, s, hub, 0, 0, 0)
	if headSeq(t, s) != 0 {
		t.Fatal("a pending credit posted an entry")
	}
	if got, err := s.Payment(tr.ID); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("Payment(%s) = %+v, %v; want %+v", tr.ID, got, err, p)
	}
	// The payee's history and feed show it.
	if h, _, err := s.History(b, 10, 0); err != nil || len(h) != 1 || !reflect.DeepEqual(h[0], p) {
		t.Fatalf("payee's history %+v %v", h, err)
	}
	evs := readAll(t, s, string(b), 0)
	if len(evs) != 1 || evs[0].Type != EventPaymentPending {
		t.Fatalf("payee's feed %+v", evs)
	}
	var pe PaymentEvent
	if err := json.Unmarshal(evs[0].Payload, &pe); err != nil || pe.ID != tr.ID || pe.Status != StatusPending ||
		pe.Amount != "25.00" || pe.From != string(hub) || pe.To != string(b) {
		t.Fatalf("event payload %+v %v", pe, err)
	}
	if got := openIDs(t, s); !reflect.DeepEqual(got, []string{tr.ID}) {
		t.Fatalf("open transfers %v", got)
	}

	// Repeats return the first outcome and change nothing.
	for i := 0; i < 3; i++ {
		if again := mustCredit(t, s, tr); !reflect.DeepEqual(again, p) {
			t.Fatalf("repeat %d: %+v, want %+v", i, again, p)
		}
	}
	wantPendingIn(t, s, b, 0, 0, 2500)
	if n := len(readAll(t, s, CoopFeed, 0)); n != 1 {
		t.Fatalf("%d events after repeats, want 1", n)
	}

	// The same id with another intent.
	c := memberDIDs(t, 22, 1)[0]
	for _, mc := range []struct {
		name string
		mod  func(*Transfer)
	}{
		{"amount", func(t *Transfer) { t.Amount = hours(2501) }},
		{"to", func(t *Transfer) { t.To = c }},
		{"from", func(t *Transfer) { t.From = ClearingAccount("other-hub") }},
		{"memo", func(t *Transfer) { t.Memo = "other" }},
		{"created at", func(t *Transfer) { t.CreatedAt = t.CreatedAt.Add(time.Second) }},
		{"from coop", func(t *Transfer) { t.FromCoop = "elsewhere" }},
	} {
		t.Run(mc.name, func(t *testing.T) {
			t2 := tr
			mc.mod(&t2)
			_, err := s.CreditPending(bg, t2)
			wantErr(t, err, ErrModifiedRequest)
		})
	}
	wantPendingIn(t, s, b, 0, 0, 2500)
	mustVerify(t, s)
}

func TestCreditPendingValidation(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 23, 2)
	hub := ClearingAccount("hub")
	for _, c := range []struct {
		name string
		tr   Transfer
	}{
		{"from a member", xfer(m[0], m[1], 100)},
		{"to a system account", xfer(hub, ClearingAccount("other"), 100)},
		{"to the hub itself", xfer(hub, hub, 100)},
		{"zero amount", xfer(hub, m[0], 0)},
		{"negative amount", xfer(hub, m[0], -5)},
		{"no id", func() Transfer { tr := xfer(hub, m[0], 100); tr.ID = ""; return tr }()},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreditPending(bg, c.tr)
			wantErr(t, err, ErrInvalid)
			if !strings.Contains(err.Error(), "credit ") {
				t.Fatalf("error %q does not name the call", err)
			}
		})
	}
	wantPendingIn(t, s, m[0], 0, 0, 0)
	wantPendingIn(t, s, m[1], 0, 0, 0)
	if got := openIDs(t, s); len(got) != 0 {
		t.Fatalf("open transfers %v", got)
	}
}

func TestCommitCredit(t *testing.T) {
	s, _ := openStore(t, nil)
	b := memberDIDs(t, 24, 1)[0]
	hub := ClearingAccount("hub")
	tr := incoming(b, 1800)
	mustCredit(t, s, tr)
	other := mustCredit(t, s, incoming(b, 700)) // stays pending throughout

	c, err := s.CommitCredit(bg, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != StatusCommitted || !c.PendingCredit || c.EntrySeq != 1 || !hex64.MatchString(c.EntryHash) || c.Reason != "" {
		t.Fatalf("committed credit %+v", c)
	}
	wantPendingIn(t, s, b, 1800, 0, 700)
	wantPendingIn(t, s, hub, -1800, 0, 0)
	if av := mustBalance(t, s, b).Available.Units(); av != defaultLimit+1800 {
		t.Fatalf("available %d after commit", av)
	}
	_, e := entryAt(t, s, c.EntrySeq)
	if e.Kind != icnv1.EntryKind_ENTRY_KIND_CREDIT_COMMIT || e.PaymentId != tr.ID || len(e.Postings) != 2 ||
		e.Postings[0].Account != string(hub) || e.Postings[0].Units != -1800 ||
		e.Postings[1].Account != string(b) || e.Postings[1].Units != 1800 {
		t.Fatalf("entry %+v", e)
	}
	evs := readAll(t, s, string(b), 0)
	if last := evs[len(evs)-1]; len(evs) != 3 || last.Type != EventPayment {
		t.Fatalf("payee's feed %+v", evs)
	}
	if got := openIDs(t, s); !reflect.DeepEqual(got, []string{other.ID}) {
		t.Fatalf("open transfers %v", got)
	}

	// Repeats change nothing; so does a repeat of CreditPending.
	for i := 0; i < 2; i++ {
		again, err := s.CommitCredit(bg, tr.ID)
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("repeat commit: %+v %v, want %+v", again, err, c)
		}
	}
	if again := mustCredit(t, s, tr); !reflect.DeepEqual(again, c) {
		t.Fatalf("CreditPending after commit: %+v, want %+v", again, c)
	}
	if headSeq(t, s) != 1 || len(readAll(t, s, CoopFeed, 0)) != 3 {
		t.Fatal("a repeat posted an entry or emitted an event")
	}
	wantPendingIn(t, s, b, 1800, 0, 700)

	// Voiding a committed credit is ErrFinal; unknown ids are ErrNotFound.
	_, err = s.VoidCredit(bg, tr.ID, "expired")
	wantErr(t, err, ErrFinal)
	_, err = s.CommitCredit(bg, "nope")
	wantErr(t, err, ErrNotFound)
	_, err = s.VoidCredit(bg, "nope", "x")
	wantErr(t, err, ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), "credit nope") {
		t.Fatalf("error %q does not name the credit", err)
	}
	wantPendingIn(t, s, b, 1800, 0, 700)
	mustVerify(t, s)
}

func TestVoidCredit(t *testing.T) {
	s, _ := openStore(t, nil)
	b := memberDIDs(t, 25, 1)[0]
	hub := ClearingAccount("hub")
	tr := incoming(b, 900)
	mustCredit(t, s, tr)

	v, err := s.VoidCredit(bg, tr.ID, "expired")
	if err != nil || v.Status != StatusRejected || v.Reason != "expired" || !v.PendingCredit || v.EntrySeq != 0 || v.EntryHash != "" {
		t.Fatalf("voided credit %+v %v", v, err)
	}
	wantPendingIn(t, s, b, 0, 0, 0)
	wantPendingIn(t, s, hub, 0, 0, 0)
	if headSeq(t, s) != 0 {
		t.Fatal("voiding posted an entry")
	}
	// The payee saw it pending, so it is told of the void; it stays in its history.
	evs := readAll(t, s, string(b), 0)
	if len(evs) != 2 || evs[0].Type != EventPaymentPending || evs[1].Type != EventPaymentRejected {
		t.Fatalf("payee's feed %+v", evs)
	}
	if h, _, _ := s.History(b, 10, 0); len(h) != 1 || !reflect.DeepEqual(h[0], v) {
		t.Fatalf("payee's history %+v", h)
	}
	if got := openIDs(t, s); len(got) != 0 {
		t.Fatalf("open transfers %v", got)
	}

	// Repeats, even with another reason, return the first outcome.
	for _, reason := range []string{"expired", "other"} {
		again, err := s.VoidCredit(bg, tr.ID, reason)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("repeat void: %+v %v, want %+v", again, err, v)
		}
	}
	if again := mustCredit(t, s, tr); !reflect.DeepEqual(again, v) {
		t.Fatalf("CreditPending after void: %+v, want %+v", again, v)
	}
	// Committing a voided credit is ErrFinal.
	_, err = s.CommitCredit(bg, tr.ID)
	wantErr(t, err, ErrFinal)
	wantPendingIn(t, s, b, 0, 0, 0)
	if len(readAll(t, s, CoopFeed, 0)) != 2 {
		t.Fatal("a repeat emitted an event")
	}
	mustVerify(t, s)
}

// TestHoldsAndCreditsDoNotMix: the payer-side and payee-side calls refuse each
// other's ids, and an id keeps the kind it was first recorded with.
func TestHoldsAndCreditsDoNotMix(t *testing.T) {
	m := memberDIDs(t, 26, 2)
	a, b := m[0], m[1]
	hub := ClearingAccount("hub")

	type setup struct {
		name string
		make func(t *testing.T, s *Store) Payment
	}
	pendingCredit := setup{"pending credit", func(t *testing.T, s *Store) Payment { return mustCredit(t, s, incoming(b, 400)) }}
	committedCredit := setup{"committed credit", func(t *testing.T, s *Store) Payment {
		p := mustCredit(t, s, incoming(b, 400))
		p, err := s.CommitCredit(bg, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}}
	voidedCredit := setup{"voided credit", func(t *testing.T, s *Store) Payment {
		p := mustCredit(t, s, incoming(b, 400))
		p, err := s.VoidCredit(bg, p.ID, "expired")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}}
	pendingHold := setup{"pending hold", func(t *testing.T, s *Store) Payment { return mustHold(t, s, xfer(a, b, 400)) }}
	committedHold := setup{"committed hold", func(t *testing.T, s *Store) Payment {
		p := mustHold(t, s, xfer(a, b, 400))
		p, err := s.CommitHold(bg, p.ID, hub)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}}
	payment := setup{"payment", func(t *testing.T, s *Store) Payment { return mustPay(t, s, xfer(a, b, 400)) }}
	rejection := setup{"rejection", func(t *testing.T, s *Store) Payment {
		p, err := s.Reject(bg, xfer(hub, b, 400), "no_route")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}}

	calls := map[string]func(s *Store, id string) (Payment, error){
		"CommitHold":   func(s *Store, id string) (Payment, error) { return s.CommitHold(bg, id, hub) },
		"ReleaseHold":  func(s *Store, id string) (Payment, error) { return s.ReleaseHold(bg, id, "x") },
		"CommitCredit": func(s *Store, id string) (Payment, error) { return s.CommitCredit(bg, id) },
		"VoidCredit":   func(s *Store, id string) (Payment, error) { return s.VoidCredit(bg, id, "x") },
	}
	cases := []struct {
		setup setup
		call  string
	}{
		{pendingCredit, "CommitHold"}, {pendingCredit, "ReleaseHold"},
		{committedCredit, "CommitHold"}, {committedCredit, "ReleaseHold"},
		{voidedCredit, "CommitHold"}, {voidedCredit, "ReleaseHold"},
		{pendingHold, "CommitCredit"}, {pendingHold, "VoidCredit"},
		{committedHold, "CommitCredit"}, {committedHold, "VoidCredit"},
		{payment, "CommitCredit"}, {payment, "VoidCredit"},
		{rejection, "CommitCredit"}, {rejection, "VoidCredit"},
	}
	for _, c := range cases {
		t.Run(c.setup.name+"/"+c.call, func(t *testing.T) {
			s, _ := openStore(t, nil)
			p := c.setup.make(t, s)
			balA, balB, balHub, head := mustBalance(t, s, a), mustBalance(t, s, b), mustBalance(t, s, hub), headSeq(t, s)
			_, err := calls[c.call](s, p.ID)
			wantErr(t, err, ErrWrongKind)
			if errors.Is(err, ErrFinal) || errors.Is(err, ErrNotFound) {
				t.Fatalf("error %v is also another sentinel", err)
			}
			if got, _ := s.Payment(p.ID); !reflect.DeepEqual(got, p) {
				t.Fatalf("payment changed: %+v, was %+v", got, p)
			}
			if mustBalance(t, s, a) != balA || mustBalance(t, s, b) != balB || mustBalance(t, s, hub) != balHub || headSeq(t, s) != head {
				t.Fatal("a refused call moved money")
			}
			mustVerify(t, s)
		})
	}

	// An id keeps its kind: starting it again as another kind is a modified request.
	t.Run("start as another kind", func(t *testing.T) {
		s, _ := openStore(t, nil)
		credit := incoming(b, 300)
		mustCredit(t, s, credit)
		_, err := s.Hold(bg, credit)
		wantErr(t, err, ErrModifiedRequest)
		_, err = s.Pay(bg, credit)
		wantErr(t, err, ErrModifiedRequest)
		_, err = s.Reject(bg, credit, "no_route")
		wantErr(t, err, ErrModifiedRequest)

		for _, start := range []func(Transfer) (Payment, error){
			func(tr Transfer) (Payment, error) { return s.Hold(bg, tr) },
			func(tr Transfer) (Payment, error) { return s.Pay(bg, tr) },
			func(tr Transfer) (Payment, error) { return s.Reject(bg, tr, "no_route") },
		} {
			tr := incoming(b, 300) // valid as a credit and as a payment from the hub
			if _, err := start(tr); err != nil {
				t.Fatal(err)
			}
			_, err := s.CreditPending(bg, tr)
			wantErr(t, err, ErrModifiedRequest)
		}
		wantPendingIn(t, s, b, 300, 0, 300)
		mustVerify(t, s)
	})
}

func TestOpenTransfers(t *testing.T) {
	s, opts := openStore(t, func(o *Options) { o.NoSync = false })
	m := memberDIDs(t, 27, 3)
	a, b, c := m[0], m[1], m[2]
	hub := ClearingAccount("hub")

	if _, err := s.OpenTransfers(0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("limit 0: %v", err)
	}
	if got := openIDs(t, s); len(got) != 0 {
		t.Fatalf("open transfers of an empty ledger %v", got)
	}
	h1 := mustHold(t, s, xfer(a, b, 100))
	c1 := mustCredit(t, s, incoming(b, 200))
	mustPay(t, s, xfer(a, c, 50))              // one phase: never open
	mustHold(t, s, xfer(a, b, 2*defaultLimit)) // rejected at once: never open
	h2 := mustHold(t, s, xfer(c, b, 300))
	c2 := mustCredit(t, s, incoming(c, 400))
	c3 := mustCredit(t, s, incoming(a, 500))
	h3 := mustHold(t, s, xfer(b, a, 600))
	if _, err := s.Reject(bg, xfer(a, b, 1), "no_route"); err != nil {
		t.Fatal(err)
	}
	want := []string{h1.ID, c1.ID, h2.ID, c2.ID, c3.ID, h3.ID}
	if got := openIDs(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("open transfers %v, want %v", got, want)
	}
	// The limit takes the oldest.
	for limit := 1; limit <= len(want)+1; limit++ {
		page, err := s.OpenTransfers(limit)
		if err != nil || len(page) != min(limit, len(want)) {
			t.Fatalf("limit %d: %d payments, %v", limit, len(page), err)
		}
		for i, p := range page {
			if p.ID != want[i] {
				t.Fatalf("limit %d: [%d] is %s, want %s", limit, i, p.ID, want[i])
			}
		}
	}
	page, _ := s.OpenTransfers(2)
	if !page[0].Hold || page[0].PendingCredit || !page[1].PendingCredit || page[1].Hold {
		t.Fatalf("kinds of %+v", page)
	}

	// Deciding drops them, whichever way; failed calls keep them.
	if _, err := s.CommitHold(bg, h2.ID, c); !errors.Is(err, ErrInvalid) { // counter is the payer
		t.Fatalf("commit to the payer itself: %v", err)
	}
	if _, err := s.CommitHold(bg, c2.ID, hub); !errors.Is(err, ErrWrongKind) {
		t.Fatalf("commit hold of a credit: %v", err)
	}
	if got := openIDs(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("open transfers after failed calls %v, want %v", got, want)
	}
	if _, err := s.ReleaseHold(bg, h2.ID, "expired"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitCredit(bg, c2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VoidCredit(bg, c3.ID, "aborted"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitHold(bg, h1.ID, hub); err != nil {
		t.Fatal(err)
	}
	want = []string{c1.ID, h3.ID}
	if got := openIDs(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("open transfers %v, want %v", got, want)
	}
	// New ones go last, and everything survives a reopen.
	c4 := mustCredit(t, s, incoming(a, 700))
	want = append(want, c4.ID)
	if r := mustVerify(t, s); r.Open != 3 {
		t.Fatalf("verify counted %d open, want 3", r.Open)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	if got := openIDs(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("open transfers after reopen %v, want %v", got, want)
	}
	wantPendingIn(t, s, a, -150, 0, 700)
	wantPendingIn(t, s, b, 0, 600, 200)
	wantPendingIn(t, s, c, 450, 0, 0)
	mustVerify(t, s)
}

// TestOpenIndexBuiltOnOpen: a file without the open-transfer index (written
// before it existed) gets one on open, built from the pending payments.
func TestOpenIndexBuiltOnOpen(t *testing.T) {
	s, opts := openStore(t, nil)
	m := memberDIDs(t, 28, 2)
	a, b := m[0], m[1]
	var want []string
	for i := 0; i < 6; i++ {
		var p Payment
		if i%2 == 0 {
			p = mustHold(t, s, xfer(a, b, int64(10+i)))
		} else {
			p = mustCredit(t, s, incoming(b, int64(10+i)))
		}
		want = append(want, p.ID)
	}
	if _, err := s.ReleaseHold(bg, want[2], "expired"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitCredit(bg, want[3]); err != nil {
		t.Fatal(err)
	}
	want = append(want[:2:2], want[4:]...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(opts.Path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bktOpen); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bktOpenIDs); err != nil {
			return err
		}
		if err := tx.Bucket(bktMeta).Delete(keyOpenIndexed); err != nil {
			return err
		}
		return tx.Bucket(bktMeta).Delete(keyOpenSeq)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = mustOpen(t, opts)
	if got := openIDs(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("rebuilt open transfers %v, want %v", got, want)
	}
	mustVerify(t, s)
	// And it is maintained from there on.
	if _, err := s.VoidCredit(bg, want[1], "aborted"); err != nil {
		t.Fatal(err)
	}
	p := mustCredit(t, s, incoming(b, 99))
	if got, w := openIDs(t, s), []string{want[0], want[2], want[3], p.ID}; !reflect.DeepEqual(got, w) {
		t.Fatalf("open transfers %v, want %v", got, w)
	}
	mustVerify(t, s)
}

// TestVerifyFindsPendingMismatches: Verify recomputes held and pending-in
// amounts and checks the open-transfer index.
func TestVerifyFindsPendingMismatches(t *testing.T) {
	m := memberDIDs(t, 29, 2)
	a, b := m[0], m[1]
	cases := []struct {
		name   string
		tamper func(tx *bolt.Tx, credit, hold string) error
		want   string
	}{
		{"pending-in", func(tx *bolt.Tx, _, _ string) error {
			bal, _ := decodeBalance(tx.Bucket(bktBalances).Get(balanceKey(b, "hours")))
			bal.PendingIn++
			return tx.Bucket(bktBalances).Put(balanceKey(b, "hours"), bal.encode())
		}, "stored pending-in 501, pending credits give 500"},
		{"held", func(tx *bolt.Tx, _, _ string) error {
			bal, _ := decodeBalance(tx.Bucket(bktBalances).Get(balanceKey(a, "hours")))
			bal.Held = 0
			return tx.Bucket(bktBalances).Put(balanceKey(a, "hours"), bal.encode())
		}, "stored held 0, pending holds give 300"},
		{"credit missing from the index", func(tx *bolt.Tx, credit, _ string) error {
			return tx.Bucket(bktOpenIDs).Delete([]byte(credit))
		}, "not in the open-transfer index"},
		{"index lists a decided payment", func(tx *bolt.Tx, _, _ string) error {
			return tx.Bucket(bktOpen).Put(u64(1000), []byte("decided"))
		}, "which is not a pending payment"},
		{"credit turned into a hold", func(tx *bolt.Tx, credit, _ string) error {
			rec, err := decodeRecord(tx.Bucket(bktPayments).Get([]byte(credit)))
			if err != nil {
				return err
			}
			rec.Hold = true
			v, err := proto.Marshal(rec)
			if err != nil {
				return err
			}
			return tx.Bucket(bktPayments).Put([]byte(credit), v)
		}, "both a hold and a pending credit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, opts := openStore(t, nil)
			credit := mustCredit(t, s, incoming(b, 500))
			hold := mustHold(t, s, xfer(a, b, 300))
			d := incoming(b, 1)
			d.ID = "decided"
			mustCredit(t, s, d)
			if _, err := s.CommitCredit(bg, d.ID); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(opts.Path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return c.tamper(tx, credit.ID, hold.ID) }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s = mustOpen(t, opts)
			r, err := s.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || !strings.Contains(strings.Join(r.Mismatches, "\n"), c.want) {
				t.Fatalf("mismatches %q, want one containing %q", r.Mismatches, c.want)
			}
		})
	}
}

// TestConcurrentCredits: racing CreditPending calls with one id share one
// outcome; racing commits and voids of one credit decide it exactly once.
func TestConcurrentCredits(t *testing.T) {
	s, _ := openStore(t, nil)
	b := memberDIDs(t, 30, 1)[0]
	const n = 16
	tr := incoming(b, 250)
	got := make([]Payment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); got[i], errs[i] = s.CreditPending(bg, tr) }(i)
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || !reflect.DeepEqual(got[i], got[0]) {
			t.Fatalf("request %d: %+v %v, want %+v", i, got[i], errs[i], got[0])
		}
	}
	wantPendingIn(t, s, b, 0, 0, 250)

	var commits, voids, final int
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = s.CommitCredit(bg, tr.ID)
			} else {
				_, err = s.VoidCredit(bg, tr.ID, "aborted")
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && i%2 == 0:
				commits++
			case err == nil:
				voids++
			case errors.Is(err, ErrFinal):
				final++
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	p, err := s.Payment(tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	switch p.Status {
	case StatusCommitted:
		if commits != n/2 || final != n/2 {
			t.Fatalf("committed, with %d commits %d voids %d final", commits, voids, final)
		}
		wantPendingIn(t, s, b, 250, 0, 0)
	case StatusRejected:
		if voids != n/2 || final != n/2 {
			t.Fatalf("voided, with %d commits %d voids %d final", commits, voids, final)
		}
		wantPendingIn(t, s, b, 0, 0, 0)
	default:
		t.Fatalf("status %s", p.Status)
	}
	if got := openIDs(t, s); len(got) != 0 {
		t.Fatalf("open transfers %v", got)
	}
	mustVerify(t, s)
}

// TestCreditNamesPayer: a pending credit that names its payer (the paying
// member of another co-op) shows that member and co-op in the payee's
// history and events, while the postings stay against the clearing
// account. Before Transfer.Payer the payee saw from "clearing:…" and the
// routing node as from_coop.
func TestCreditNamesPayer(t *testing.T) {
	s, _ := openStore(t, nil)
	ms := memberDIDs(t, 23, 2)
	b, payer := ms[0], ms[1]
	hub := ClearingAccount("hub")
	tr := incoming(b, 700)
	tr.FromCoop = "did:icn:node-of-coop-a"
	tr.Payer, tr.PayerCoop = identity.DID(payer), "coop-a"
	mustCredit(t, s, tr)
	if _, err := s.CommitCredit(bg, tr.ID); err != nil {
		t.Fatal(err)
	}
	wantPendingIn(t, s, hub, -700, 0, 0)
	wantPendingIn(t, s, b, 700, 0, 0)
	mustVerify(t, s)

	page, _, err := s.History(b, 10, 0)
	if err != nil || len(page) != 1 {
		t.Fatalf("history %+v %v", page, err)
	}
	p := page[0]
	if p.From != hub || p.FromCoop != tr.FromCoop {
		t.Errorf("the record's from/from_coop changed: %s %s", p.From, p.FromCoop)
	}
	if from, coop := p.Sender(); from != string(payer) || coop != "coop-a" {
		t.Errorf("sender %s @ %s, want %s @ coop-a", from, coop, payer)
	}
	evs := readAll(t, s, string(b), 0)
	if len(evs) != 2 {
		t.Fatalf("payee feed: %d events, want pending then committed", len(evs))
	}
	for _, ev := range evs {
		var pe PaymentEvent
		if err := json.Unmarshal(ev.Payload, &pe); err != nil {
			t.Fatal(err)
		}
		if pe.From != string(payer) || pe.FromCoop != "coop-a" || pe.To != string(b) {
			t.Errorf("%s event from %s @ %s, want %s @ coop-a", ev.Type, pe.From, pe.FromCoop, payer)
		}
	}

	// Without a payer (an older hub peer), the record speaks for itself.
	old := incoming(b, 100)
	old.ID = "old"
	if from, coop := mustCredit(t, s, old).Sender(); from != string(hub) || coop != "coop-a" {
		t.Errorf("sender without payer %s @ %s", from, coop)
	}
}
