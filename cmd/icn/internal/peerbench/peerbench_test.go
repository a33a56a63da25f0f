package peerbench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// memTransfers is an in-memory Transfers store; its flaws break it on
// purpose, to prove that CheckBook catches a broken store.
type memTransfers struct {
	mu    sync.Mutex
	pos   []Position
	xfers map[string]byte
	amts  map[string]Transfer
	flaw  string // "" | "no-cap-check" | "drop-credit" | "keep-reservation"
}

func newMemTransfers(n int, cap int64, flaw string) *memTransfers {
	m := &memTransfers{pos: make([]Position, n), xfers: map[string]byte{}, amts: map[string]Transfer{}, flaw: flaw}
	for i := range m.pos {
		m.pos[i].Cap = cap
	}
	return m
}

func (m *memTransfers) Prepare(_ context.Context, t Transfer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.xfers[t.ID]; ok {
		return fmt.Errorf("duplicate id %s", t.ID)
	}
	p := &m.pos[t.From]
	if m.flaw != "no-cap-check" && p.Sent-p.Received+p.Reserved+t.Amount > p.Cap {
		m.xfers[t.ID] = xferRejected
		return ErrCapExceeded
	}
	p.Reserved += t.Amount
	m.xfers[t.ID], m.amts[t.ID] = xferPrepared, t
	return nil
}

func (m *memTransfers) Commit(_ context.Context, t Transfer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.xfers[t.ID] != xferPrepared {
		return fmt.Errorf("transfer %s not prepared", t.ID)
	}
	if m.flaw != "keep-reservation" {
		m.pos[t.From].Reserved -= t.Amount
	}
	m.pos[t.From].Sent += t.Amount
	if m.flaw != "drop-credit" {
		m.pos[t.To].Received += t.Amount
	}
	m.xfers[t.ID] = xferCommitted
	return nil
}

func (m *memTransfers) Book(context.Context) (Book, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := Book{Positions: append([]Position(nil), m.pos...), Prepared: map[int]int64{}}
	for id, st := range m.xfers {
		switch st {
		case xferPrepared:
			b.Prepared[m.amts[id].From] += m.amts[id].Amount
		case xferCommitted:
			b.Committed++
			b.CommittedUnits += m.amts[id].Amount
		}
	}
	return b, nil
}

// memLedger is an in-memory Ledger with purposeful flaws like memTransfers'.
type memLedger struct {
	mu        sync.Mutex
	bal       []int64
	entries   []int64
	limit     int64
	committed int
	flaw      string // "" | "no-limit-check" | "one-leg"
}

func newMemLedger(n int, limit int64, flaw string) *memLedger {
	return &memLedger{bal: make([]int64, n), entries: make([]int64, n), limit: limit, flaw: flaw}
}

func (m *memLedger) Pay(_ context.Context, p Payment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.flaw != "no-limit-check" && m.bal[p.From]-p.Amount < -m.limit {
		return ErrInsufficientCredit
	}
	m.bal[p.From] -= p.Amount
	m.entries[p.From] -= p.Amount
	if m.flaw != "one-leg" {
		m.bal[p.To] += p.Amount
		m.entries[p.To] += p.Amount
	}
	m.committed++
	return nil
}

func (m *memLedger) State(context.Context) (LedgerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := LedgerState{Committed: m.committed}
	for i, b := range m.bal {
		s.Accounts = append(s.Accounts, Account{Name: fmt.Sprint(i), Balance: b, Limit: m.limit, FromEntries: m.entries[i]})
	}
	return s, nil
}

// short is a load short enough for unit tests.
const short = 300 * time.Millisecond

func TestTransfersCheckCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, flaw string
		cap        int64
		oneWay     bool
		want       string // "" for a passing check
	}{
		{"sound, directions alternate", "", 1 << 40, false, ""},
		{"sound, caps bind", "", 20, true, ""},
		{"no cap check", "no-cap-check", 20, true, "exceeds its cap"},
		{"credit dropped", "drop-credit", 1 << 40, false, "do not sum to zero"},
		{"reservation kept", "keep-reservation", 1 << 40, false, "prepared transfers sum to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newMemTransfers(4, tc.cap, tc.flaw)
			r := RunTransfers(context.Background(), s, TransferOptions{Clients: 8, Participants: 4, Amount: 1, Duration: short, OneWay: tc.oneWay})
			if r.Errors != 0 || r.Ops == 0 || r.Committed == 0 {
				t.Fatalf("run: %d ops, %d committed, errors %v", r.Ops, r.Committed, r.ErrorSample)
			}
			if tc.oneWay && tc.flaw == "" && r.Rejected == 0 {
				t.Errorf("one-way transfers under a cap of %d: none rejected", tc.cap)
			}
			b, err := s.Book(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			assertCheck(t, CheckBook(b, r.Committed), tc.want)
		})
	}
}

func TestLedgerCheckCatchesBrokenLedgers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, flaw string
		limit      int64
		oneWay     bool
		want       string
	}{
		{"sound, directions alternate", "", 1 << 40, false, ""},
		{"sound, limits bind", "", 20, true, ""},
		{"no limit check", "no-limit-check", 20, true, "below minus its limit"},
		{"one leg", "one-leg", 1 << 40, false, "sum to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newMemLedger(4, tc.limit, tc.flaw)
			r := RunPayments(context.Background(), l, PaymentOptions{Clients: 8, Members: 4, Amount: 1, Duration: short, OneWay: tc.oneWay})
			if r.Errors != 0 || r.Committed == 0 {
				t.Fatalf("run: %d ops, %d committed, errors %v", r.Ops, r.Committed, r.ErrorSample)
			}
			if tc.oneWay && tc.flaw == "" && r.Rejected == 0 {
				t.Errorf("one-way payments under a limit of %d: none rejected", tc.limit)
			}
			s, err := l.State(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			assertCheck(t, CheckLedger(s, r.Committed), tc.want)
		})
	}
}

func TestChecksCountCommits(t *testing.T) {
	t.Parallel()
	b := Book{Positions: []Position{{Sent: 2, Cap: 5}, {Received: 2, Cap: 5}}, Committed: 2, CommittedUnits: 2}
	assertCheck(t, CheckBook(b, 2), "")
	assertCheck(t, CheckBook(b, 3), "the clients saw 3 commit")
	b.CommittedUnits = 3
	assertCheck(t, CheckBook(b, 2), "positions moved 2 units")
	s := LedgerState{Accounts: []Account{{Balance: -1, FromEntries: -1, Limit: 5}, {Balance: 1, FromEntries: 1}}, Committed: 1}
	assertCheck(t, CheckLedger(s, 1), "")
	assertCheck(t, CheckLedger(s, 2), "the clients saw 2 commit")
	s.Accounts[1].FromEntries = 2
	assertCheck(t, CheckLedger(s, 1), "its entries give 2")
	s.Accounts[1].FromEntries, s.Problems = 1, []string{"chain broken"}
	assertCheck(t, CheckLedger(s, 1), "chain broken")
}

func assertCheck(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("check failed on a sound store: %v", err)
	case want != "" && err == nil:
		t.Errorf("check passed, want it to fail with %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("check: %v, want %q", err, want)
	}
}

func TestICNLedgerWorkload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limit  int64
		oneWay bool
	}{{"directions alternate", 100000, false}, {"limits bind", 20, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := OpenICNLedger(t.TempDir(), 4, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			r := RunPayments(context.Background(), l, PaymentOptions{Clients: 8, Members: 4, Amount: 1, Duration: short, OneWay: tc.oneWay})
			if r.Errors != 0 || r.Ops == 0 {
				t.Fatalf("run: %d ops, errors %v", r.Ops, r.ErrorSample)
			}
			if tc.oneWay && r.Rejected == 0 {
				t.Errorf("no payment rejected under a limit of %d", tc.limit)
			}
			s, err := l.State(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			assertCheck(t, CheckLedger(s, r.Committed), "")
		})
	}
}

func TestMeasureEd25519(t *testing.T) {
	t.Parallel()
	r, err := MeasureEd25519(context.Background(), 30*time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.VerifyPerS <= 0 || r.SignPerS <= 0 || r.VerifyPerS1 <= 0 || r.SignPerS1 <= 0 || r.VerifyUs1 <= 0 {
		t.Fatalf("rates: %+v", r)
	}
	// 4 verifications at 40k/s and 2 signatures at 100k/s: 100 µs + 20 µs.
	got := CryptoLimit(Ed25519Rates{VerifyPerS: 40000, SignPerS: 100000}, 4, 2)
	if want := 1 / 120e-6; math.Abs(got-want) > 1e-6*want {
		t.Errorf("CryptoLimit = %v, want %v", got, want)
	}
	if CryptoLimit(Ed25519Rates{}, 4, 2) != 0 {
		t.Error("CryptoLimit without rates should be 0")
	}
}
