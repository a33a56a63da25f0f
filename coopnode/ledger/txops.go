package ledger

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/icn-coop/icn/money"
)

// The typed operations below are for handlers of other packages (governance
// effects, dues) that change the ledger inside their own command's
// transaction, so that their change and the ledger's commit together.

// defaultAccount keys the stored default credit limit in bktLimits: no
// account has an empty name.
const defaultAccount Account = ""

// Currencies lists the ledger's currencies in code order (deterministic,
// unlike the map).
func (tx *Tx) Currencies() []money.Currency {
	cs := tx.s.table(&tx.View).byCode
	out := make([]money.Currency, 0, len(cs))
	for _, code := range slices.Sorted(maps.Keys(cs)) {
		out = append(out, cs[code])
	}
	return out
}

// Currency looks code up among the ledger's currencies.
func (tx *Tx) Currency(code string) (money.Currency, error) {
	c, err := tx.s.table(&tx.View).byCode.Lookup(code)
	if err != nil {
		return money.Currency{}, fmt.Errorf("%w: currency %q", ErrInvalid, code)
	}
	return c, nil
}

// CreditLimit is a's credit limit in c, and whether it is a's own (set by
// SetCreditLimit) rather than the default.
func (tx *Tx) CreditLimit(a Account, c money.Currency) (money.Amount, bool) {
	if v := tx.Bucket(bktLimits).Get(balanceKey(a, c.Code)); len(v) == 8 {
		return money.FromUnits(int64(binary.BigEndian.Uint64(v)), c), true
	}
	return money.FromUnits(tx.defaultLimit(&tx.View, c), c), false
}

// SetCreditLimit sets a's own credit limit in limit's currency.
func (tx *Tx) SetCreditLimit(a Account, limit money.Amount) error {
	if limit.Sign() < 0 {
		return fmt.Errorf("set credit limit of %s: %w: limit must not be negative", a, ErrInvalid)
	}
	if a == defaultAccount {
		return fmt.Errorf("set credit limit: %w: account is required", ErrInvalid)
	}
	return tx.Bucket(bktLimits).Put(balanceKey(a, limit.Currency().Code), u64(uint64(limit.Units())))
}

// SetDefaultCreditLimit sets the credit limit of member accounts without
// their own in limit's currency; it replaces the recorded default
// (RecordCurrencies) from then on.
func (tx *Tx) SetDefaultCreditLimit(limit money.Amount) error {
	if limit.Sign() < 0 {
		return fmt.Errorf("set default credit limit: %w: limit must not be negative", ErrInvalid)
	}
	return tx.Bucket(bktLimits).Put(balanceKey(defaultAccount, limit.Currency().Code), u64(uint64(limit.Units())))
}

// Balance is a's balance in c as this transaction sees it.
func (tx *Tx) Balance(a Account, c money.Currency) (Balance, error) {
	return tx.s.balanceView(&tx.View, tx.Now(), a, c)
}

// Pay records one-phase payment t in this transaction, as Store.Pay does:
// paid if the payer's credit allows, else rejected with
// insufficient_credit; a repeat of the id returns its first outcome.
func (tx *Tx) Pay(t Transfer) (Payment, error) {
	if err := t.validate(tx.s.table(&tx.View).byCode); err != nil {
		return Payment{}, fmt.Errorf("pay %s: %w", t.ID, err)
	}
	rec, err := tx.recordTx(t, kindPayment, "")
	if err != nil {
		return Payment{}, fmt.Errorf("pay %s: %w", t.ID, err)
	}
	return tx.s.toPayment(rec), nil
}

// Book records one-phase payment t in this transaction as committed,
// whatever the payer's credit limit and the gate (SetGate) say: for a
// movement the co-op itself orders, such as a recovery moving a member's
// balance from its old DID to its new one. A repeat of the id returns its
// first outcome, as Pay's does.
func (tx *Tx) Book(t Transfer) (Payment, error) {
	if err := t.validate(tx.s.table(&tx.View).byCode); err != nil {
		return Payment{}, fmt.Errorf("book %s: %w", t.ID, err)
	}
	rec, err := tx.recordTxExempt(t, kindPayment, "", true)
	if err != nil {
		return Payment{}, fmt.Errorf("book %s: %w", t.ID, err)
	}
	return tx.s.toPayment(rec), nil
}
