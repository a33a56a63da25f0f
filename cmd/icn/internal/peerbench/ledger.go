package peerbench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Payment is one internal payment between two members (indexes into the
// ledger's members), in minor units.
type Payment struct {
	ID       string
	From, To int
	Amount   int64
}

// ErrInsufficientCredit is what Pay returns for a payment the payer's
// credit limit refuses (its balance minus the amount below −limit).
var ErrInsufficientCredit = errors.New("insufficient credit")

// Ledger is a co-op ledger for the internal-payment workload: member
// accounts with balances and credit limits, double entry.
type Ledger interface {
	// Pay moves p.Amount from p.From to p.To in one atomic double-entry
	// transaction if p.From's balance minus the amount stays at or above
	// minus its credit limit; otherwise it returns ErrInsufficientCredit
	// and moves nothing.
	Pay(ctx context.Context, p Payment) error
	// State reads every account and what the entries say, for CheckLedger.
	State(ctx context.Context) (LedgerState, error)
}

// Account is one account in a LedgerState. System accounts have no limit.
type Account struct {
	Name    string
	Balance int64 // as stored
	Limit   int64
	System  bool
	// FromEntries is the balance the account's entries add up to.
	FromEntries int64
}

// LedgerState is the state of a Ledger, read after a run.
type LedgerState struct {
	Accounts  []Account
	Committed int // payments recorded as committed
	// Problems are inconsistencies the ledger's own verification found
	// (for ICN's ledger, its hash chain and indexes; empty for others).
	Problems []string
}

// CheckLedger checks a Ledger's invariants after a run in which the clients
// saw committed payments commit: the balances sum to zero, each stored
// balance is what its entries add up to, no member is below minus its
// limit, and the ledger recorded at least the payments the clients saw
// commit.
func CheckLedger(s LedgerState, committed int) error {
	var errs []error
	var sum int64
	for _, a := range s.Accounts {
		sum += a.Balance
		if a.Balance != a.FromEntries {
			errs = append(errs, fmt.Errorf("account %s: balance %d, its entries give %d", a.Name, a.Balance, a.FromEntries))
		}
		if !a.System && a.Balance < -a.Limit {
			errs = append(errs, fmt.Errorf("account %s: balance %d is below minus its limit %d", a.Name, a.Balance, a.Limit))
		}
	}
	if sum != 0 {
		errs = append(errs, fmt.Errorf("balances sum to %d, not zero", sum))
	}
	if s.Committed < committed {
		errs = append(errs, fmt.Errorf("the ledger recorded %d committed payments, the clients saw %d commit", s.Committed, committed))
	}
	for _, p := range s.Problems {
		errs = append(errs, errors.New(p))
	}
	return errors.Join(errs...)
}

// PaymentOptions shape a RunPayments load: what `icn bench coop` does.
type PaymentOptions struct {
	Clients  int // each with one payment in flight
	Members  int // client i pays between members i and i+1 (mod Members)
	Amount   int64
	Warmup   time.Duration
	Duration time.Duration
	// OneWay makes every client pay from member 0 to member 1 + i mod
	// (Members−1), so member 0's limit binds (tests); by default directions
	// alternate and balances stay near zero.
	OneWay bool
}

// RunPayments loads l as `icn bench coop` loads a co-op node: each client
// pays, waits for the answer, and pays again, alternating direction
// between its two members. A payment counts when it commits within the
// window; its latency runs from the call to its answer. A payment in
// flight at the end of the window runs to its end (not counted), as in the
// coop bench.
func RunPayments(ctx context.Context, l Ledger, o PaymentOptions) Run {
	return inWindow(ctx, o.Clients, o.Warmup, o.Duration, func(runCtx context.Context, i int, w *worker, measureStart, measureEnd time.Time) {
		a, b := pair(i, o.Members, o.OneWay)
		for turn := 0; runCtx.Err() == nil; turn = 1 - turn {
			p := Payment{ID: uuid.Must(uuid.NewV7()).String(), From: a, To: b, Amount: o.Amount}
			if turn == 1 && !o.OneWay {
				p.From, p.To = b, a
			}
			start := time.Now()
			err := l.Pay(ctx, p)
			end := time.Now()
			if err != nil && ctx.Err() != nil {
				return // interrupted
			}
			if err == nil {
				w.committed++
			}
			if start.Before(measureStart) || end.After(measureEnd) {
				continue
			}
			switch {
			case err == nil:
				w.lats = append(w.lats, end.Sub(start))
			case errors.Is(err, ErrInsufficientCredit):
				w.rejected++
			default:
				w.fail(err)
			}
		}
	})
}
