package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/icn-coop/icn/money"
)

// model is the test's own account of what the ledger must hold, in plain maps.
type model struct {
	accounts []Account // members, then the clearing account
	clearing Account
	bal      map[Account]int64
	held     map[Account]int64
	pending  map[Account]int64 // PendingIn: open incoming credits
	limit    map[Account]int64
	// floor is how low balance - held may be: -limit, or lower where a limit
	// was lowered below what the member already used (spending then stops,
	// but the debt stays).
	floor    map[Account]int64
	payments map[string]*modelPayment
	ids      []string // in creation order
	twoPhase []string // holds and pending credits, in creation order
	open     []string // the two-phase payments still pending, oldest first
	entries  uint64
}

type modelPayment struct {
	t       Transfer
	hold    bool
	credit  bool
	status  Status
	reason  string
	initial Status // the first outcome, which decides whose history lists it
}

func newModel(members []Account, clearing Account) *model {
	m := &model{
		accounts: append(append([]Account(nil), members...), clearing), clearing: clearing,
		bal: map[Account]int64{}, held: map[Account]int64{}, pending: map[Account]int64{},
		limit: map[Account]int64{}, floor: map[Account]int64{},
		payments: map[string]*modelPayment{},
	}
	for _, a := range members {
		m.limit[a] = defaultLimit
		m.floor[a] = -defaultLimit
	}
	return m
}

func (m *model) available(a Account) int64 { return m.bal[a] - m.held[a] + m.limit[a] }

// start predicts Pay, Hold or CreditPending of a new id.
func (m *model) start(t Transfer, k kind) Status {
	hold := k == kindHold
	p := &modelPayment{t: t, hold: hold, credit: k == kindCredit}
	u := t.Amount.Units()
	switch {
	case p.credit:
		p.status = StatusPending
		m.pending[t.To] += u
	case !t.From.IsSystem() && u > m.available(t.From):
		p.status, p.reason = StatusRejected, ReasonInsufficientCredit
	case hold:
		p.status = StatusPending
		m.held[t.From] += u
	default:
		p.status = StatusCommitted
		m.bal[t.From] -= u
		m.bal[t.To] += u
		m.entries++
	}
	p.initial = p.status
	m.payments[t.ID] = p
	m.ids = append(m.ids, t.ID)
	if hold || p.credit {
		m.twoPhase = append(m.twoPhase, t.ID)
	}
	if p.status == StatusPending {
		m.open = append(m.open, t.ID)
	}
	return p.status
}

// close drops id from the open two-phase payments.
func (m *model) close(id string) {
	for i, o := range m.open {
		if o == id {
			m.open = append(m.open[:i], m.open[i+1:]...)
			return
		}
	}
	panic("model: closing " + id + ", which is not open")
}

// decide predicts CommitHold (commit) or ReleaseHold; it returns the expected error.
func (m *model) decide(id string, commit bool, counter Account, reason string) error {
	p := m.payments[id]
	if p == nil {
		return ErrNotFound
	}
	if p.credit {
		return ErrWrongKind
	}
	target := StatusRejected
	if commit {
		target = StatusCommitted
	}
	if p.status == target {
		return nil
	}
	if !p.hold || p.status != StatusPending {
		return ErrFinal
	}
	if commit && (counter == p.t.From || counter == "") {
		return ErrInvalid
	}
	u := p.t.Amount.Units()
	m.close(id)
	m.held[p.t.From] -= u
	if commit {
		m.bal[p.t.From] -= u
		m.bal[counter] += u
		m.entries++
		p.status = StatusCommitted
	} else {
		p.status, p.reason = StatusRejected, reason
	}
	return nil
}

// decideCredit predicts CommitCredit (commit) or VoidCredit; it returns the expected error.
func (m *model) decideCredit(id string, commit bool, reason string) error {
	p := m.payments[id]
	if p == nil {
		return ErrNotFound
	}
	if !p.credit {
		return ErrWrongKind
	}
	target := StatusRejected
	if commit {
		target = StatusCommitted
	}
	if p.status == target {
		return nil
	}
	if p.status != StatusPending {
		return ErrFinal
	}
	u := p.t.Amount.Units()
	m.close(id)
	m.pending[p.t.To] -= u
	if commit {
		m.bal[p.t.From] -= u
		m.bal[p.t.To] += u
		m.entries++
		p.status = StatusCommitted
	} else {
		p.status, p.reason = StatusRejected, reason
	}
	return nil
}

func (m *model) setLimit(a Account, l int64) {
	m.limit[a] = l
	m.floor[a] = min(-l, m.bal[a]-m.held[a])
}

// check compares the store with the model for accts, and the invariants.
func (m *model) check(t *testing.T, s *Store, op int, accts ...Account) {
	t.Helper()
	for _, a := range accts {
		b, err := s.Balance(a, money.Hours)
		if err != nil {
			t.Fatalf("op %d: balance of %s: %v", op, a, err)
		}
		wantLimit := m.limit[a]
		if a.IsSystem() {
			wantLimit = 0
		}
		if b.Balance.Units() != m.bal[a] || b.Held.Units() != m.held[a] || b.PendingIn.Units() != m.pending[a] ||
			b.CreditLimit.Units() != wantLimit || b.Available.Units() != m.bal[a]-m.held[a]+wantLimit {
			t.Fatalf("op %d: %s: store %+v; model balance %d held %d pending-in %d limit %d", op, a, b,
				m.bal[a], m.held[a], m.pending[a], wantLimit)
		}
		if b.Held.Units() < 0 || b.PendingIn.Units() < 0 {
			t.Fatalf("op %d: %s: negative held %d or pending-in %d", op, a, b.Held.Units(), b.PendingIn.Units())
		}
		if !a.IsSystem() {
			// No member's balance - held is below -limit, unless its limit
			// was lowered below what it had used: then it stays at or above
			// where it was (floor), until it climbs back.
			used := b.Balance.Units() - b.Held.Units()
			if used < m.floor[a] {
				t.Fatalf("op %d: %s: balance - held = %d is below -limit %d (floor %d)", op, a, used, m.limit[a], m.floor[a])
			}
			m.floor[a] = max(m.floor[a], min(-m.limit[a], used))
		}
	}
}

// checkAll compares every account and the zero sum.
func (m *model) checkAll(t *testing.T, s *Store, op int) {
	t.Helper()
	m.check(t, s, op, m.accounts...)
	var sum int64
	for _, a := range m.accounts {
		b, err := s.Balance(a, money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		sum += b.Balance.Units()
	}
	if sum != 0 {
		t.Fatalf("op %d: balances sum to %d, not zero", op, sum)
	}
	if seq := headSeq(t, s); seq != m.entries {
		t.Fatalf("op %d: head seq %d, model has %d entries", op, seq, m.entries)
	}
	m.checkOpen(t, s, op)
}

// checkOpen compares OpenTransfers with the model's undecided two-phase
// payments, and Held and PendingIn with the sums of the open holds and credits.
func (m *model) checkOpen(t *testing.T, s *Store, op int) {
	t.Helper()
	all, err := s.OpenTransfers(len(m.open) + 10)
	if err != nil {
		t.Fatalf("op %d: open transfers: %v", op, err)
	}
	got := make([]string, 0, len(all))
	held, pending := map[Account]int64{}, map[Account]int64{}
	for _, p := range all {
		got = append(got, p.ID)
		mp := m.payments[p.ID]
		if mp == nil || p.Status != StatusPending || p.Hold != mp.hold || p.PendingCredit != mp.credit {
			t.Fatalf("op %d: open transfer %+v; model %+v", op, p, mp)
		}
		if p.Hold {
			held[p.From] += p.Amount.Units()
		} else {
			pending[p.To] += p.Amount.Units()
		}
	}
	if !slices.Equal(got, m.open) {
		t.Fatalf("op %d: open transfers %v, model %v", op, got, m.open)
	}
	for _, a := range m.accounts {
		if held[a] != m.held[a] || pending[a] != m.pending[a] {
			t.Fatalf("op %d: %s: open holds sum to %d and credits to %d; model held %d pending-in %d",
				op, a, held[a], pending[a], m.held[a], m.pending[a])
		}
	}
	if n := len(m.open); n > 1 {
		limit := 1 + op%(n-1)
		page, err := s.OpenTransfers(limit)
		if err != nil || len(page) != limit || page[limit-1].ID != m.open[limit-1] {
			t.Fatalf("op %d: open transfers, limit %d: %d, %v", op, limit, len(page), err)
		}
	}
}

func (m *model) checkPayments(t *testing.T, s *Store) {
	t.Helper()
	for _, id := range m.ids {
		mp := m.payments[id]
		p, err := s.Payment(id)
		if err != nil {
			t.Fatalf("payment %s: %v", id, err)
		}
		if p.Status != mp.status || p.Reason != mp.reason || p.Hold != mp.hold || p.PendingCredit != mp.credit || p.Amount != mp.t.Amount ||
			p.From != mp.t.From || p.To != mp.t.To {
			t.Fatalf("payment %s: store %+v, model %+v", id, p, mp)
		}
		if (p.Status == StatusCommitted) != (p.EntrySeq > 0) || (p.EntrySeq > 0) != hex64.MatchString(p.EntryHash) {
			t.Fatalf("payment %s: status %s with entry %d %q", id, p.Status, p.EntrySeq, p.EntryHash)
		}
	}
	// History, newest first: the payer's always, the payee's unless the
	// payment was rejected at once or is a hold (whose payee is another
	// co-op's member). Paged, it lists each exactly once.
	for _, a := range m.accounts {
		var want []string
		for i := len(m.ids) - 1; i >= 0; i-- {
			mp := m.payments[m.ids[i]]
			if mp.t.From == a || mp.t.To == a && mp.initial != StatusRejected && !mp.hold {
				want = append(want, mp.t.ID)
			}
		}
		var got []string
		var before uint64
		for {
			page, next, err := s.History(a, 97, before)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				got = append(got, p.ID)
			}
			if next == 0 {
				break
			}
			before = next
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("history of %s: %d payments, model %d", a, len(got), len(want))
		}
	}
}

// TestLedgerProperties runs random operations against the store and the model.
func TestLedgerProperties(t *testing.T) {
	ops := 2500
	if testing.Short() {
		ops = 500
	}
	for _, def := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", def), func(t *testing.T) {
			t.Parallel()
			seed := testSeed(t, def)
			runProperties(t, seed, ops)
		})
	}
}

func runProperties(t *testing.T, seed uint64, ops int) {
	s, opts := openStore(t, nil)
	rng := rand.New(rand.NewPCG(seed, 0x1ed9e7))
	members := memberDIDs(t, seed, 8)
	clearing := ClearingAccount("hub")
	m := newModel(members, clearing)
	var counts [12]int

	member := func() Account { return members[rng.IntN(len(members))] }
	other := func(not Account) Account {
		for {
			a := m.accounts[rng.IntN(len(m.accounts))]
			if a != not {
				return a
			}
		}
	}
	// amount draws from a spread that crosses the payer's available credit
	// often, and sometimes lands exactly on it or one unit over.
	amount := func(from Account) int64 {
		avail := m.available(from)
		switch r := rng.IntN(10); {
		case r < 5:
			return 1 + rng.Int64N(1500)
		case r < 7:
			return 1 + rng.Int64N(defaultLimit)
		case r < 8:
			return defaultLimit + rng.Int64N(3*defaultLimit)
		case avail > 0 && r < 9:
			return avail
		case avail >= 0:
			return avail + 1
		default:
			return 1 + rng.Int64N(100)
		}
	}
	newTransfer := func() Transfer {
		from := member()
		if rng.IntN(4) == 0 {
			from = clearing // money flows in from the hub as well as out
		}
		tr := xfer(from, other(from), 0)
		tr.Amount = hours(amount(from))
		tr.Memo = fmt.Sprintf("memo %d", rng.IntN(3))
		return tr
	}
	// newCredit is an incoming cross-co-op transfer: from the hub to a member.
	newCredit := func() Transfer {
		tr := xfer(clearing, member(), 0)
		tr.Amount = hours(amount(clearing))
		tr.FromCoop, tr.ToCoop = fmt.Sprintf("coop-%d", rng.IntN(3)), "here"
		tr.Memo = fmt.Sprintf("memo %d", rng.IntN(3))
		return tr
	}
	// start calls the function that starts a payment of kind k.
	start := func(tr Transfer, k kind) (Payment, error) {
		switch k {
		case kindHold:
			return s.Hold(bg, tr)
		case kindCredit:
			return s.CreditPending(bg, tr)
		default:
			return s.Pay(bg, tr)
		}
	}
	kindOf := func(mp *modelPayment) kind {
		switch {
		case mp.credit:
			return kindCredit
		case mp.hold:
			return kindHold
		default:
			return kindPayment
		}
	}

	for op := 1; op <= ops; op++ {
		var touched []Account
		switch r := rng.IntN(100); {
		case r < 32: // Pay
			counts[0]++
			tr := newTransfer()
			want := m.start(tr, kindPayment)
			p, err := s.Pay(bg, tr)
			if err != nil || p.Status != want {
				t.Fatalf("op %d: pay %+v: %s %v, model says %s", op, tr, p.Status, err, want)
			}
			touched = []Account{tr.From, tr.To}
		case r < 46: // Hold
			counts[1]++
			tr := newTransfer()
			want := m.start(tr, kindHold)
			p, err := s.Hold(bg, tr)
			if err != nil || p.Status != want {
				t.Fatalf("op %d: hold %+v: %s %v, model says %s", op, tr, p.Status, err, want)
			}
			touched = []Account{tr.From, tr.To}
		case r < 56: // CreditPending
			counts[8]++
			tr := newCredit()
			want := m.start(tr, kindCredit)
			p, err := s.CreditPending(bg, tr)
			if err != nil || p.Status != want || !p.PendingCredit {
				t.Fatalf("op %d: credit %+v: %+v %v, model says %s", op, tr, p, err, want)
			}
			touched = []Account{tr.From, tr.To}
		case r < 80: // decide: CommitHold, ReleaseHold, CommitCredit or VoidCredit, mostly of the right kind
			call := rng.IntN(4) // 0 CommitHold, 1 ReleaseHold, 2 CommitCredit, 3 VoidCredit
			var id string
			switch k := rng.IntN(20); {
			case k == 0:
				id = fmt.Sprintf("unknown-%d", op)
			case k == 1 && len(m.ids) > 0:
				id = m.ids[rng.IntN(len(m.ids))]
			case len(m.twoPhase) > 0:
				// Prefer recent ones: they are more often still pending.
				n := len(m.twoPhase)
				id = m.twoPhase[max(0, n-1-rng.IntN(min(n, 12)))]
			default:
				id = fmt.Sprintf("unknown-%d", op)
			}
			if mp := m.payments[id]; mp != nil && rng.IntN(5) != 0 {
				// Mostly the call that fits; sometimes the other side's, which must be refused.
				if mp.credit && call < 2 {
					call += 2
				} else if !mp.credit && call >= 2 {
					call -= 2
				}
			}
			counts[[]int{2, 3, 9, 10}[call]]++
			counter := clearing
			if mp := m.payments[id]; mp != nil && rng.IntN(4) == 0 {
				counter = other(mp.t.From) // an internal hold, committed to another account
			}
			reason := fmt.Sprintf("reason-%d", rng.IntN(3))
			var wantErr error
			var p Payment
			var err error
			switch call {
			case 0:
				wantErr = m.decide(id, true, counter, reason)
				p, err = s.CommitHold(bg, id, counter)
			case 1:
				wantErr = m.decide(id, false, counter, reason)
				p, err = s.ReleaseHold(bg, id, reason)
			case 2:
				wantErr = m.decideCredit(id, true, reason)
				p, err = s.CommitCredit(bg, id)
			case 3:
				wantErr = m.decideCredit(id, false, reason)
				p, err = s.VoidCredit(bg, id, reason)
			}
			if errors.Is(err, ErrWrongKind) {
				counts[11]++
			}
			if !errors.Is(err, wantErr) || (wantErr != nil) != (err != nil) {
				t.Fatalf("op %d: decide %s (call %d): %v, model says %v", op, id, call, err, wantErr)
			}
			if err == nil && p.Status != m.payments[id].status {
				t.Fatalf("op %d: decide %s: status %s, model %s", op, id, p.Status, m.payments[id].status)
			}
			if mp := m.payments[id]; mp != nil {
				touched = []Account{mp.t.From, mp.t.To, counter}
			}
		case r < 85: // SetCreditLimit
			counts[4]++
			a := member()
			l := rng.Int64N(2 * defaultLimit)
			if err := s.SetCreditLimit(bg, a, hours(l)); err != nil {
				t.Fatalf("op %d: set limit: %v", op, err)
			}
			m.setLimit(a, l)
			touched = []Account{a}
		case r < 93: // repeat an earlier payment: same outcome, nothing moves
			counts[5]++
			if len(m.ids) == 0 {
				continue
			}
			id := m.ids[rng.IntN(len(m.ids))]
			mp := m.payments[id]
			before, err := s.Payment(id)
			if err != nil {
				t.Fatal(err)
			}
			p, err := start(mp.t, kindOf(mp))
			if err != nil || !reflect.DeepEqual(p, before) {
				t.Fatalf("op %d: repeat of %s: %+v %v, want %+v", op, id, p, err, before)
			}
			touched = []Account{mp.t.From, mp.t.To}
		case r < 97: // modified repeat, or the same intent started as another kind
			counts[6]++
			if len(m.ids) == 0 {
				continue
			}
			mp := m.payments[m.ids[rng.IntN(len(m.ids))]]
			tr := mp.t
			k := kindOf(mp)
			switch rng.IntN(4) {
			case 3:
				k = kind((int(k) + 1 + rng.IntN(2)) % 3)
			case 0:
				tr.Amount = hours(tr.Amount.Units() + 1 + rng.Int64N(10))
			case 1:
				tr.To = other(tr.From)
				if tr.To == mp.t.To {
					tr.Memo += "!"
				}
			case 2:
				tr.Memo += "?"
			}
			want := ErrModifiedRequest
			if k == kindCredit && (!tr.From.IsSystem() || tr.To.IsSystem()) {
				want = ErrInvalid // not a valid credit at all, whatever the id
			}
			if _, err := start(tr, k); !errors.Is(err, want) {
				t.Fatalf("op %d: modified repeat of %s as %s: %v, want %v", op, tr.ID, k, err, want)
			}
		default: // invalid transfers
			counts[7]++
			k := kind(rng.IntN(3))
			tr := newTransfer()
			if k == kindCredit {
				tr = newCredit()
			}
			switch rng.IntN(4) {
			case 0:
				tr.Amount = hours(-rng.Int64N(100))
			case 1:
				tr.To = tr.From
			case 2:
				tr.Amount = money.FromUnits(100, money.Currency{Code: "eur", Scale: 2})
			case 3:
				if k != kindCredit {
					tr.To = tr.From
					break
				}
				// A credit from a member, or to the clearing account.
				if rng.IntN(2) == 0 {
					tr.From = member()
					tr.To = other(tr.From)
				} else {
					tr.From, tr.To = member(), clearing
				}
			}
			if _, err := start(tr, k); !errors.Is(err, ErrInvalid) {
				t.Fatalf("op %d: invalid %s %+v: %v", op, k, tr, err)
			}
		}
		m.check(t, s, op, touched...)
		if op%25 == 0 {
			m.checkAll(t, s, op)
		}
		if op%1000 == 0 {
			mustVerify(t, s)
		}
	}
	m.checkAll(t, s, ops)
	m.checkPayments(t, s)
	r := mustVerify(t, s)
	if r.Entries != m.entries || r.Payments != len(m.ids) || r.Open != len(m.open) {
		t.Fatalf("verify walked %d entries, %d payments, %d open; model has %d, %d, %d",
			r.Entries, r.Payments, r.Open, m.entries, len(m.ids), len(m.open))
	}
	rejected := 0
	for _, p := range m.payments {
		if p.reason == ReasonInsufficientCredit {
			rejected++
		}
	}
	t.Logf("ops: pay %d hold %d commit %d release %d credit %d commit-credit %d void %d (wrong kind %d) limit %d repeat %d modified %d invalid %d; "+
		"%d entries, %d rejected for credit, %d still open",
		counts[0], counts[1], counts[2], counts[3], counts[8], counts[9], counts[10], counts[11], counts[4], counts[5], counts[6], counts[7],
		m.entries, rejected, len(m.open))

	// Close and reopen: balances, head and verification unchanged.
	seq, hash, err := s.Head()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	seq2, hash2, err := s.Head()
	if err != nil || seq2 != seq || string(hash2) != string(hash) {
		t.Fatalf("head after reopen %d %x %v, before %d %x", seq2, hash2, err, seq, hash)
	}
	m.checkAll(t, s, ops)
	m.checkPayments(t, s)
	if r2 := mustVerify(t, s); r2.HeadHash != r.HeadHash {
		t.Fatalf("verify head %s after reopen, %s before", r2.HeadHash, r.HeadHash)
	}
}
