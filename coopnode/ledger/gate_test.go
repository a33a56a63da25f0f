package ledger

import (
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/money"
)

// halfGate refuses one account and halves every other member's limit.
type halfGate struct{ refused Account }

func (g halfGate) Refusal(_ *store.View, _ time.Time, a Account) (string, error) {
	if a == g.refused {
		return "in_recovery", nil
	}
	return "", nil
}

func (g halfGate) Limit(_ *store.View, _ time.Time, _ Account, _ money.Currency, set int64) (int64, error) {
	return set / 2, nil
}

// TestGate: with a gate set, a payer spends against the gate's limit, a
// refused payer's payments and holds are rejected with the gate's reason
// (and it may still be paid), balances report the gate's limit, and a
// booking (Tx.Book) is exempt from both.
func TestGate(t *testing.T) {
	s, _ := openStore(t, nil)
	ds := memberDIDs(t, 7, 3)
	a, b, frozen := ds[0], ds[1], ds[2]
	s.SetGate(halfGate{refused: frozen})
	half := int64(defaultLimit / 2)
	if bal := mustBalance(t, s, a); bal.CreditLimit.Units() != half || bal.SetLimit.Units() != defaultLimit || bal.Available.Units() != half {
		t.Fatalf("gated balance %+v", bal)
	}
	if p := mustPay(t, s, xfer(a, b, half+1)); p.Status != StatusRejected || p.Reason != ReasonInsufficientCredit {
		t.Fatalf("over the gated limit: %+v", p)
	}
	if p := mustPay(t, s, xfer(a, b, half)); p.Status != StatusCommitted {
		t.Fatalf("within the gated limit: %+v", p)
	}
	if p := mustPay(t, s, xfer(frozen, b, 1)); p.Status != StatusRejected || p.Reason != "in_recovery" {
		t.Fatalf("refused payer: %+v", p)
	}
	if p := mustHold(t, s, xfer(frozen, b, 1)); p.Status != StatusRejected || p.Reason != "in_recovery" {
		t.Fatalf("refused hold: %+v", p)
	}
	if p := mustPay(t, s, xfer(b, frozen, 5)); p.Status != StatusCommitted {
		t.Fatalf("a refused account is still paid: %+v", p)
	}
	if bal := mustBalance(t, s, frozen); bal.Refusal != "in_recovery" || bal.CreditLimit.Units() != 0 || bal.Available.Units() != 0 {
		t.Fatalf("refused balance %+v", bal)
	}
	// A booking moves the whole balance whatever the gate and limit say.
	big := xfer(frozen, a, defaultLimit*3)
	if err := s.Update(bg, func(tx *Tx) error {
		p, err := tx.Book(big)
		if err == nil && p.Status != StatusCommitted {
			t.Errorf("booking %+v", p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	wantBalance(t, s, frozen, 5-defaultLimit*3, 0)
	s.SetGate(nil)
	if bal := mustBalance(t, s, a); bal.CreditLimit.Units() != defaultLimit {
		t.Fatalf("without a gate: %+v", bal)
	}
	mustVerify(t, s)
}
