package peerbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// ICNLedger is the co-op node's own ledger (coopnode/ledger: bbolt, group
// commit, fsync'd) under the same workload as PGLedger, called directly:
// no gateway, no HTTP, no signatures. It is the like-for-like counterpart
// of the PostgreSQL build; `icn bench coop` measures the whole gateway path.
type ICNLedger struct {
	s       *ledger.Store
	members []ledger.Account
}

// OpenICNLedger opens a ledger file in dir with members member accounts
// (fresh DIDs) whose credit limit is limit minor units of hours.
func OpenICNLedger(dir string, members int, limit int64) (*ICNLedger, error) {
	if members < 2 {
		return nil, errors.New("icn ledger: need at least 2 members")
	}
	s, err := ledger.Open(ledger.Options{
		Path:          filepath.Join(dir, "ledger.db"),
		DefaultLimits: map[string]money.Amount{money.Hours.Code: money.FromUnits(limit, money.Hours)},
		Clock:         time.Now,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("icn ledger: %w", err)
	}
	l := &ICNLedger{s: s}
	for range members {
		k, err := identity.GenerateKey(rand.Reader)
		if err != nil {
			s.Close()
			return nil, err
		}
		l.members = append(l.members, ledger.Account(k.DID()))
	}
	return l, nil
}

// Close closes the ledger file.
func (l *ICNLedger) Close() error { return l.s.Close() }

// Pay is ledger.Store.Pay: one payment, one group-committed transaction.
func (l *ICNLedger) Pay(ctx context.Context, p Payment) error {
	if p.From < 0 || p.From >= len(l.members) || p.To < 0 || p.To >= len(l.members) || p.From == p.To || p.Amount <= 0 {
		return fmt.Errorf("invalid payment %+v", p)
	}
	res, err := l.s.Pay(ctx, ledger.Transfer{
		ID: p.ID, From: l.members[p.From], To: l.members[p.To],
		Amount: money.FromUnits(p.Amount, money.Hours), CreatedAt: time.Now(),
	})
	switch {
	case err != nil:
		return fmt.Errorf("icn ledger pay %s: %w", p.ID, err)
	case res.Status == ledger.StatusRejected && res.Reason == ledger.ReasonInsufficientCredit:
		return ErrInsufficientCredit
	case res.Status != ledger.StatusCommitted:
		return fmt.Errorf("icn ledger pay %s: status %s %s", p.ID, res.Status, res.Reason)
	}
	return nil
}

// State is the ledger's own verification (hash chain, every balance
// recomputed from the postings, postings summing to zero) and every
// member's balance. Each committed payment posts one entry.
func (l *ICNLedger) State(context.Context) (LedgerState, error) {
	rep, err := l.s.Verify()
	if err != nil {
		return LedgerState{}, fmt.Errorf("icn ledger: %w", err)
	}
	st := LedgerState{Committed: int(rep.Entries), Problems: rep.Mismatches}
	for _, m := range l.members {
		b, err := l.s.Balance(m, money.Hours)
		if err != nil {
			return LedgerState{}, fmt.Errorf("icn ledger: %w", err)
		}
		// Verify compared every stored balance with its postings.
		st.Accounts = append(st.Accounts, Account{Name: string(m), Balance: b.Balance.Units(),
			Limit: b.CreditLimit.Units(), FromEntries: b.Balance.Units()})
	}
	return st, nil
}
