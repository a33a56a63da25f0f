package ledger

import (
	"time"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/money"
)

// Gate adjusts what a member account may spend, from records the ledger
// does not keep (the co-op's trust in its members: coopnode/vouch). The
// ledger asks it for the payer of every payment and hold it decides, and
// for the limit it reports in a balance, and keeps no knowledge of
// membership itself. Its methods read only v and must be deterministic:
// inside a command now is the command's time.
type Gate interface {
	// Refusal is the reason a (a member account) may not spend at all at
	// now, or "": a payment or hold from it is recorded rejected with that
	// reason, whatever its balance. a may still receive.
	Refusal(v *store.View, now time.Time, a Account) (string, error)
	// Limit is the credit limit a spends against in c at now, given the
	// limit set for it (its own, or the default), in minor units of c.
	Limit(v *store.View, now time.Time, a Account, c money.Currency, set int64) (int64, error)
}

// SetGate has the ledger consult g for every payer (nil: none). Set it
// before the ledger applies commands, on every node alike, as the
// handlers' registration is.
func (s *Store) SetGate(g Gate) {
	if g == nil {
		s.gate.Store(nil)
		return
	}
	s.gate.Store(&g)
}

func (s *Store) getGate() Gate {
	if g := s.gate.Load(); g != nil {
		return *g
	}
	return nil
}

// spendable is the limit a member account a spends against in c in this
// transaction, and the gate's refusal, if any.
func (tx *Tx) spendable(a Account, c money.Currency) (int64, string, error) {
	set := tx.limit(a, c)
	g := tx.s.getGate()
	if g == nil {
		return set, "", nil
	}
	if r, err := g.Refusal(&tx.View, tx.Now(), a); err != nil || r != "" {
		return 0, r, err
	}
	limit, err := g.Limit(&tx.View, tx.Now(), a, c, set)
	return limit, "", err
}
