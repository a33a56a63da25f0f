package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Account names a ledger account: a member's DID, or a system account such as
// a hub's clearing account ("clearing:<hub>").
type Account string

// ClearingAccount is the mirror account of the hub a co-op peers with.
func ClearingAccount(hub string) Account { return Account("clearing:" + hub) }

// IsSystem reports whether a has no credit limit (clearing and other co-op accounts).
func (a Account) IsSystem() bool { return !strings.HasPrefix(string(a), identity.DIDPrefix) }

// Status of a payment.
type Status string

// Payment statuses, as on the wire.
const (
	StatusPending   Status = "pending"
	StatusCommitted Status = "committed"
	StatusRejected  Status = "rejected"
)

// Reason codes the ledger itself gives.
const ReasonInsufficientCredit = "insufficient_credit"

// Errors callers branch on.
var (
	ErrModifiedRequest = errors.New("payment id reused with a different intent")
	ErrNotFound        = errors.New("payment not found")
	ErrFinal           = errors.New("payment already decided otherwise")
	ErrInvalid         = errors.New("invalid transfer")
	// ErrWrongKind: the id names a payment of another kind than the call
	// handles: CommitHold or ReleaseHold given a pending credit, or
	// CommitCredit or VoidCredit given a hold or a one-phase payment. It is a
	// caller's mistake (the payer and payee sides of a transfer are never
	// interchangeable); retrying cannot help.
	ErrWrongKind = errors.New("payment is of another kind")
)

// Transfer is what a payment asks the ledger to move.
type Transfer struct {
	ID        string
	From, To  Account
	FromCoop  string
	ToCoop    string
	Amount    money.Amount
	Memo      string
	CreatedAt time.Time
	// Intent and Signature are the signed intent as received, kept for audit.
	Intent, Signature []byte
	// Payer and PayerCoop name who paid an incoming credit (CreditPending),
	// whose From is the clearing account and FromCoop the node that routed
	// it: the paying member's DID and its co-op's id, shown in the payee's
	// history and events instead (see Payment.Sender). They are not part of
	// the idempotency check: a repeat keeps the first record's.
	Payer     identity.DID
	PayerCoop string
}

// Payment is the ledger's view of one payment id.
type Payment struct {
	ID        string
	Status    Status
	Reason    string
	From, To  Account
	FromCoop  string
	ToCoop    string
	Amount    money.Amount
	Memo      string
	CreatedAt time.Time
	UpdatedAt time.Time
	EntrySeq  uint64
	EntryHash string // hex SHA-256 of the entry that moved the money; "" if none
	// Hold marks a payer-side two-phase payment (Hold, CommitHold, ReleaseHold).
	Hold bool
	// PendingCredit marks a payee-side two-phase payment (CreditPending,
	// CommitCredit, VoidCredit).
	PendingCredit bool
	// Intent and Signature are the signed intent as received (for a
	// two-phase payment, what the hub is sent again after a crash).
	Intent, Signature []byte
	// Payer and PayerCoop: who paid an incoming credit (Transfer.Payer).
	Payer     identity.DID
	PayerCoop string
}

// Sender is whom the payment's history rows and events name as the payer
// and the payer's co-op: Payer and PayerCoop where set (a credit from a
// member of another co-op), else From and FromCoop. From and FromCoop stay
// what the ledger posts against (the clearing account, for a credit).
func (p Payment) Sender() (from, fromCoop string) {
	from, fromCoop = string(p.From), p.FromCoop
	if p.Payer != "" {
		from = string(p.Payer)
	}
	if p.PayerCoop != "" {
		fromCoop = p.PayerCoop
	}
	return from, fromCoop
}

// kind of a payment record: how it was started, and so which calls may decide it.
type kind int

const (
	kindPayment kind = iota // one phase: Pay or Reject
	kindHold                // payer side of a two-phase transfer
	kindCredit              // payee side of a two-phase transfer
)

func (k kind) String() string {
	switch k {
	case kindHold:
		return "hold"
	case kindCredit:
		return "pending credit"
	default:
		return "one-phase payment"
	}
}

func recKind(rec *icnv1.PaymentRecord) kind {
	switch {
	case rec.PendingCredit:
		return kindCredit
	case rec.Hold:
		return kindHold
	default:
		return kindPayment
	}
}

func (t *Transfer) validate(cs money.Currencies) error {
	switch {
	case t.ID == "" || len(t.ID) > 128:
		return fmt.Errorf("%w: id must be 1-128 characters", ErrInvalid)
	case t.From == "" || t.To == "":
		return fmt.Errorf("%w: from and to are required", ErrInvalid)
	case t.From == t.To:
		return fmt.Errorf("%w: from and to are the same account", ErrInvalid)
	case t.Amount.Sign() <= 0:
		return fmt.Errorf("%w: amount must be positive", ErrInvalid)
	}
	c, err := cs.Lookup(t.Amount.Currency().Code)
	if err != nil || c != t.Amount.Currency() {
		return fmt.Errorf("%w: currency %q", ErrInvalid, t.Amount.Currency().Code)
	}
	return nil
}

// digest identifies the intent of a transfer for idempotency: the same id with
// another digest is a modified request.
func (t *Transfer) digest() []byte {
	h := sha256.New()
	for _, f := range []string{string(t.From), string(t.To), t.FromCoop, t.ToCoop, t.Amount.Currency().Code, t.Memo} {
		binary.Write(h, binary.BigEndian, uint32(len(f)))
		h.Write([]byte(f))
	}
	binary.Write(h, binary.BigEndian, t.Amount.Units())
	binary.Write(h, binary.BigEndian, t.CreatedAt.UnixNano())
	return h.Sum(nil)
}

// validateCredit checks what only an incoming credit requires: it comes from
// a system account (the clearing account of the routing hub) to a member.
func (t *Transfer) validateCredit() error {
	switch {
	case !t.From.IsSystem():
		return fmt.Errorf("%w: a pending credit comes from a clearing account, not %s", ErrInvalid, t.From)
	case t.To.IsSystem():
		return fmt.Errorf("%w: a pending credit goes to a member account, not %s", ErrInvalid, t.To)
	}
	return nil
}

// Pay moves t.Amount from t.From to t.To in one entry, if t.From stays within
// its credit limit; otherwise it records the payment as rejected with
// insufficient_credit. A repeat of the same id and intent returns the first
// outcome and moves nothing; the same id with another intent is ErrModifiedRequest.
func (s *Store) Pay(ctx context.Context, t Transfer) (Payment, error) {
	return s.record(ctx, t, kindPayment, "")
}

// Hold reserves t.Amount at t.From for a two-phase transfer (status pending),
// or rejects it with insufficient_credit. CommitHold or ReleaseHold decides it.
func (s *Store) Hold(ctx context.Context, t Transfer) (Payment, error) {
	return s.record(ctx, t, kindHold, "")
}

// CreditPending records an incoming two-phase transfer at the payee: t.To is
// the member credited, t.From the clearing account of the hub that routed it
// (a system account; anything else is ErrInvalid). The payment is pending:
// the payee's PendingIn grows by t.Amount, but nothing is spendable and no
// entry is posted until CommitCredit; VoidCredit drops it. It appears in the
// payee's history and feed (a PaymentPending event).
//
// Idempotent like Pay: a repeat of the same id and intent returns the first
// outcome unchanged (even once decided); the same id with another intent, or
// an id used by Pay, Hold or Reject, is ErrModifiedRequest.
func (s *Store) CreditPending(ctx context.Context, t Transfer) (Payment, error) {
	return s.record(ctx, t, kindCredit, "")
}

// Reject records t as rejected with reason, decided before any money moved
// (no route, unknown payee, …), so that a retry of the same id gets the same
// answer. Idempotent like Pay.
func (s *Store) Reject(ctx context.Context, t Transfer, reason string) (Payment, error) {
	if reason == "" {
		// An empty reason would fall through to an ordinary payment.
		return Payment{}, fmt.Errorf("reject %s: %w: a reason is required", t.ID, ErrInvalid)
	}
	return s.record(ctx, t, kindPayment, reason)
}

// record writes the first outcome of payment t of kind k: rejected with
// reject if that is set, a pending credit for kindCredit, else held or paid
// if the payer's credit allows.
func (s *Store) record(ctx context.Context, t Transfer, k kind, reject string) (Payment, error) {
	verb := "pay"
	if k == kindCredit {
		verb = "credit"
	}
	if err := t.validate(s.latest().byCode); err != nil {
		return Payment{}, fmt.Errorf("%s %s: %w", verb, t.ID, err)
	}
	if k == kindCredit {
		if err := t.validateCredit(); err != nil {
			return Payment{}, fmt.Errorf("%s %s: %w", verb, t.ID, err)
		}
	}
	res, err := s.st.Submit(ctx, &icnv1.CoopCommand{AtUnixNano: s.now(), Kind: &icnv1.CoopCommand_RecordPayment{RecordPayment: &icnv1.RecordPayment{
		Kind: kindToProto[k], Id: t.ID, From: string(t.From), To: string(t.To), FromCoop: t.FromCoop, ToCoop: t.ToCoop,
		Currency: t.Amount.Currency().Code, Units: t.Amount.Units(), Memo: t.Memo, CreatedAtUnixNano: t.CreatedAt.UnixNano(),
		Intent: t.Intent, Signature: t.Signature, Payer: string(t.Payer), PayerCoop: t.PayerCoop, RejectReason: reject,
	}}})
	if err != nil {
		return Payment{}, fmt.Errorf("%s %s: %w", verb, t.ID, err)
	}
	return s.toPayment(res.(*icnv1.PaymentRecord)), nil
}

var kindToProto = map[kind]icnv1.PaymentKind{
	kindPayment: icnv1.PaymentKind_PAYMENT_KIND_PAYMENT,
	kindHold:    icnv1.PaymentKind_PAYMENT_KIND_HOLD,
	kindCredit:  icnv1.PaymentKind_PAYMENT_KIND_CREDIT,
}

// transferOf is the transfer a RecordPayment command asks for, checked as
// record checks it before building the command.
func (s *Store) transferOf(v *store.View, c *icnv1.RecordPayment) (Transfer, kind, error) {
	var k kind
	switch c.Kind {
	case icnv1.PaymentKind_PAYMENT_KIND_PAYMENT:
		k = kindPayment
	case icnv1.PaymentKind_PAYMENT_KIND_HOLD:
		k = kindHold
	case icnv1.PaymentKind_PAYMENT_KIND_CREDIT:
		k = kindCredit
	default:
		return Transfer{}, 0, fmt.Errorf("%w: payment kind %v", ErrInvalid, c.Kind)
	}
	cs := s.table(v).byCode
	cur, err := cs.Lookup(c.Currency)
	if err != nil {
		return Transfer{}, 0, fmt.Errorf("%w: currency %q", ErrInvalid, c.Currency)
	}
	t := Transfer{
		ID: c.Id, From: Account(c.From), To: Account(c.To), FromCoop: c.FromCoop, ToCoop: c.ToCoop,
		Amount: money.FromUnits(c.Units, cur), Memo: c.Memo, CreatedAt: time.Unix(0, c.CreatedAtUnixNano),
		Intent: c.Intent, Signature: c.Signature, Payer: identity.DID(c.Payer), PayerCoop: c.PayerCoop,
	}
	if err := t.validate(cs); err != nil {
		return Transfer{}, 0, err
	}
	if k == kindCredit {
		if err := t.validateCredit(); err != nil {
			return Transfer{}, 0, err
		}
	}
	return t, k, nil
}

// applyRecord applies a RecordPayment: the first outcome of a payment id.
func (s *Store) applyRecord(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetRecordPayment()
	t, k, err := s.transferOf(&stx.View, c)
	if err != nil {
		return nil, err
	}
	return s.Tx(stx).recordTx(t, k, c.RejectReason)
}

// recordTx records the first outcome of payment t of kind k in tx (see
// applyRecord).
func (tx *Tx) recordTx(t Transfer, k kind, reject string) (*icnv1.PaymentRecord, error) {
	return tx.recordTxExempt(t, k, reject, false)
}

// recordTxExempt is recordTx; exempt books a one-phase payment whatever
// the payer's credit limit and the gate say (Tx.Book).
func (tx *Tx) recordTxExempt(t Transfer, k kind, reject string, exempt bool) (*icnv1.PaymentRecord, error) {
	digest := t.digest()
	payments := tx.Bucket(bktPayments)
	if v := payments.Get([]byte(t.ID)); v != nil {
		rec, err := decodeRecord(v)
		if err != nil {
			return nil, err
		}
		if string(rec.IntentDigest) != string(digest) || recKind(rec) != k {
			return nil, ErrModifiedRequest
		}
		return rec, nil
	}
	now := tx.Now()
	rec := &icnv1.PaymentRecord{
		Id: t.ID, From: string(t.From), To: string(t.To), FromCoop: t.FromCoop, ToCoop: t.ToCoop,
		Currency: t.Amount.Currency().Code, Units: t.Amount.Units(), Memo: t.Memo,
		CreatedAtUnixNano: t.CreatedAt.UnixNano(), UpdatedAtUnixNano: now.UnixNano(),
		IntentDigest: digest, Hold: k == kindHold, PendingCredit: k == kindCredit,
		Intent: t.Intent, Signature: t.Signature, Payer: string(t.Payer), PayerCoop: t.PayerCoop,
	}
	from, err := tx.balance(t.From, rec.Currency)
	if err != nil {
		return nil, err
	}
	// What the payer may spend: the ledger's limit, through the gate when
	// one is set (a booking the co-op orders is exempt from both).
	limit, refusal := int64(math.MaxInt64), ""
	if !t.From.IsSystem() && !exempt && reject == "" && k != kindCredit {
		if limit, refusal, err = tx.spendable(t.From, t.Amount.Currency()); err != nil {
			return nil, err
		}
	}
	switch {
	case reject != "":
		rec.Status, rec.Reason = icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, reject
	case refusal != "":
		rec.Status, rec.Reason = icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, refusal
	case k == kindCredit:
		// The payee's credit limit is irrelevant: its balance only grows.
		rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_PENDING
		to, err := tx.balance(t.To, rec.Currency)
		if err != nil {
			return nil, err
		}
		if to.PendingIn+t.Amount.Units() < to.PendingIn {
			return nil, fmt.Errorf("credit %s: pending amount overflow", t.ID)
		}
		to.PendingIn += t.Amount.Units()
		if err := tx.putBalance(t.To, rec.Currency, to); err != nil {
			return nil, err
		}
		if err := tx.openTransfer(t.ID); err != nil {
			return nil, err
		}
	case !t.From.IsSystem() && !exempt && !from.canSpend(t.Amount.Units(), limit):
		rec.Status, rec.Reason = icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, ReasonInsufficientCredit
	case k == kindHold:
		rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_PENDING
		if from.Held+t.Amount.Units() < from.Held {
			return nil, fmt.Errorf("hold %s: held amount overflow", t.ID)
		}
		from.Held += t.Amount.Units()
		if err := tx.putBalance(t.From, rec.Currency, from); err != nil {
			return nil, err
		}
		if err := tx.openTransfer(t.ID); err != nil {
			return nil, err
		}
	default:
		rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED
		if err := tx.post(rec, icnv1.EntryKind_ENTRY_KIND_PAYMENT, t.From, t.To, t.Amount.Units()); err != nil {
			return nil, err
		}
	}
	if err := tx.putRecord(rec); err != nil {
		return nil, err
	}
	// A payment rejected at once concerns only its payer; so does a
	// hold here, its payee being a member of another co-op.
	accounts := []Account{t.From, t.To}
	if rec.Status == icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED || k == kindHold {
		accounts = accounts[:1]
	}
	for _, a := range accounts {
		if err := tx.addHistory(a, t.ID); err != nil {
			return nil, err
		}
	}
	return rec, tx.paymentEvent(rec)
}

// CommitHold turns the hold of payment id into a debit, crediting counter
// (the clearing account of the hub that routed it). Committing a committed
// payment returns it unchanged; committing a rejected one is ErrFinal; a
// pending credit is ErrWrongKind.
func (s *Store) CommitHold(ctx context.Context, id string, counter Account) (Payment, error) {
	return s.decide(ctx, "commit hold", &icnv1.DecidePayment{Decision: icnv1.PaymentDecision_PAYMENT_DECISION_COMMIT_HOLD, Id: id, Counter: string(counter)})
}

// ReleaseHold releases the hold of payment id and records it rejected with
// reason. Releasing a rejected payment returns it unchanged; releasing a
// committed one is ErrFinal; a pending credit is ErrWrongKind.
func (s *Store) ReleaseHold(ctx context.Context, id, reason string) (Payment, error) {
	return s.decide(ctx, "release hold", &icnv1.DecidePayment{Decision: icnv1.PaymentDecision_PAYMENT_DECISION_RELEASE_HOLD, Id: id, Reason: reason})
}

// CommitCredit makes the pending credit of payment id spendable: it posts an
// ENTRY_KIND_CREDIT_COMMIT entry moving the amount from the clearing account
// to the payee, shrinks the payee's PendingIn and records the payment
// committed (a Payment event for the payee). Committing a committed credit
// returns it unchanged; committing a voided one is ErrFinal; an unknown id is
// ErrNotFound; a hold or a one-phase payment is ErrWrongKind.
func (s *Store) CommitCredit(ctx context.Context, id string) (Payment, error) {
	return s.decide(ctx, "credit", &icnv1.DecidePayment{Decision: icnv1.PaymentDecision_PAYMENT_DECISION_COMMIT_CREDIT, Id: id})
}

// VoidCredit drops the pending credit of payment id (the transfer aborted):
// the payee's PendingIn shrinks and the payment is recorded rejected with
// reason (a PaymentRejected event for the payee). Voiding a voided credit
// returns it unchanged; voiding a committed one is ErrFinal; an unknown id is
// ErrNotFound; a hold or a one-phase payment is ErrWrongKind.
func (s *Store) VoidCredit(ctx context.Context, id, reason string) (Payment, error) {
	return s.decide(ctx, "credit", &icnv1.DecidePayment{Decision: icnv1.PaymentDecision_PAYMENT_DECISION_VOID_CREDIT, Id: id, Reason: reason})
}

func (s *Store) decide(ctx context.Context, verb string, d *icnv1.DecidePayment) (Payment, error) {
	res, err := s.st.Submit(ctx, &icnv1.CoopCommand{AtUnixNano: s.now(), Kind: &icnv1.CoopCommand_DecidePayment{DecidePayment: d}})
	if err != nil {
		return Payment{}, fmt.Errorf("%s %s: %w", verb, d.Id, err)
	}
	return s.toPayment(res.(*icnv1.PaymentRecord)), nil
}

// decision is what a PaymentDecision does: the kind of payment it settles,
// the status it moves it to, and what else it writes.
type decision struct {
	kind   kind
	target icnv1.PaymentStatus
	apply  func(*Tx, *icnv1.PaymentRecord, *icnv1.DecidePayment) error
}

var decisions = map[icnv1.PaymentDecision]decision{
	icnv1.PaymentDecision_PAYMENT_DECISION_COMMIT_HOLD: {kindHold, icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED,
		func(tx *Tx, rec *icnv1.PaymentRecord, d *icnv1.DecidePayment) error {
			rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED
			return tx.post(rec, icnv1.EntryKind_ENTRY_KIND_HOLD_COMMIT, Account(rec.From), Account(d.Counter), rec.Units)
		}},
	icnv1.PaymentDecision_PAYMENT_DECISION_RELEASE_HOLD: {kindHold, icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, reject},
	icnv1.PaymentDecision_PAYMENT_DECISION_COMMIT_CREDIT: {kindCredit, icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED,
		func(tx *Tx, rec *icnv1.PaymentRecord, _ *icnv1.DecidePayment) error {
			rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED
			return tx.post(rec, icnv1.EntryKind_ENTRY_KIND_CREDIT_COMMIT, Account(rec.From), Account(rec.To), rec.Units)
		}},
	icnv1.PaymentDecision_PAYMENT_DECISION_VOID_CREDIT: {kindCredit, icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, reject},
}

func reject(_ *Tx, rec *icnv1.PaymentRecord, d *icnv1.DecidePayment) error {
	rec.Status, rec.Reason = icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, d.Reason
	return nil
}

// applyDecide settles a pending two-phase payment of kind k (a hold or a pending
// credit): it releases what the payment reserved (the payer's Held, or the
// payee's PendingIn), drops it from the open index and moves it to target
// with apply. A payment already at target is returned as it is, one decided
// otherwise is ErrFinal, and one of another two-phase kind is ErrWrongKind.
// (A one-phase payment given to the hold calls keeps its older answer: itself
// if at target, else ErrFinal.)
func (s *Store) applyDecide(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	d := cmd.GetDecidePayment()
	dec, ok := decisions[d.Decision]
	if !ok {
		return nil, fmt.Errorf("%w: decision %v", ErrInvalid, d.Decision)
	}
	tx, k, id := s.Tx(stx), dec.kind, d.Id
	v := tx.Bucket(bktPayments).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return nil, err
	}
	rk := recKind(rec)
	if rk != k && !(k == kindHold && rk == kindPayment) {
		return nil, fmt.Errorf("%w: it is a %s, not a %s", ErrWrongKind, rk, k)
	}
	if rec.Status == dec.target {
		return rec, nil
	}
	if rk != k || rec.Status != icnv1.PaymentStatus_PAYMENT_STATUS_PENDING {
		return nil, ErrFinal
	}
	// Release what the pending payment reserved.
	a := Account(rec.From)
	if k == kindCredit {
		a = Account(rec.To)
	}
	bal, err := tx.balance(a, rec.Currency)
	if err != nil {
		return nil, err
	}
	if k == kindCredit {
		bal.PendingIn -= rec.Units
	} else {
		bal.Held -= rec.Units
	}
	if err := tx.putBalance(a, rec.Currency, bal); err != nil {
		return nil, err
	}
	if err := tx.closeTransfer(id); err != nil {
		return nil, err
	}
	if err := dec.apply(tx, rec, d); err != nil {
		return nil, err
	}
	rec.UpdatedAtUnixNano = tx.Now().UnixNano()
	if err := tx.putRecord(rec); err != nil {
		return nil, err
	}
	return rec, tx.paymentEvent(rec)
}

// OpenTransfers returns up to limit two-phase payments still pending (holds
// and pending credits), oldest first: those whose outcome a node must ask its
// hub for after a crash or a reconnect. Deciding one (CommitHold, ReleaseHold,
// CommitCredit, VoidCredit) drops it from the list, so a caller pages by
// deciding what it got and asking again. It reads an index of open ids kept in
// the same transactions as the payments, never the whole payment bucket.
func (s *Store) OpenTransfers(limit int) ([]Payment, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("open transfers: %w: limit must be positive", ErrInvalid)
	}
	var out []Payment
	err := s.st.View(func(tx *store.View) error {
		payments := tx.Bucket(bktPayments)
		c := tx.Bucket(bktOpen).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			rv := payments.Get(v)
			if rv == nil {
				return fmt.Errorf("open transfer %s: payment missing", v)
			}
			rec, err := decodeRecord(rv)
			if err != nil {
				return fmt.Errorf("open transfer %s: %w", v, err)
			}
			out = append(out, s.toPayment(rec))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open transfers: %w", err)
	}
	return out, nil
}

// OpenCount is how many two-phase payments are open (see OpenTransfers).
func (s *Store) OpenCount() (int, error) {
	var n int
	err := s.st.View(func(tx *store.View) error {
		n = tx.Bucket(bktOpen).KeyN()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("open transfers: %w", err)
	}
	return n, nil
}

// Payment returns the record of payment id, or ErrNotFound.
func (s *Store) Payment(id string) (Payment, error) {
	var out Payment
	err := s.st.View(func(tx *store.View) error {
		v := tx.Bucket(bktPayments).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return err
		}
		out = s.toPayment(rec)
		return nil
	})
	return out, err
}

// History returns up to limit payments touching account, newest first,
// starting before the cursor (0: from the newest). next is the cursor of the
// following page, 0 when there is none.
func (s *Store) History(account Account, limit int, before uint64) (page []Payment, next uint64, err error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("history of %s: %w: limit must be positive", account, ErrInvalid)
	}
	err = s.st.View(func(tx *store.View) error {
		prefix := prefixed(string(account), 0)
		prefix = prefix[:len(prefix)-8]
		payments := tx.Bucket(bktPayments)
		c := tx.Bucket(bktHistory).Cursor()
		var k, v []byte
		if before == 0 {
			// Seek past the account's rows (name 0x00 …) to name 0x01, then step back.
			if k, _ = c.Seek(append([]byte(account), 1)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		} else {
			c.Seek(prefixed(string(account), before))
			k, v = c.Prev()
		}
		var last uint64
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Prev() {
			if len(page) == limit {
				next = last // more remain: the next page starts before the last one shown
				return nil
			}
			rv := payments.Get(v)
			if rv == nil {
				return fmt.Errorf("history of %s: payment %s missing", account, v)
			}
			rec, err := decodeRecord(rv)
			if err != nil {
				return err
			}
			page = append(page, s.toPayment(rec))
			last = binary.BigEndian.Uint64(k[len(prefix):])
		}
		return nil
	})
	return page, next, err
}
