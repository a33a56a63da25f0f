package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

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
	Hold      bool
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

// Pay moves t.Amount from t.From to t.To in one entry, if t.From stays within
// its credit limit; otherwise it records the payment as rejected with
// insufficient_credit. A repeat of the same id and intent returns the first
// outcome and moves nothing; the same id with another intent is ErrModifiedRequest.
func (s *Store) Pay(ctx context.Context, t Transfer) (Payment, error) {
	return s.start(ctx, t, false)
}

// Hold reserves t.Amount at t.From for a two-phase transfer (status pending),
// or rejects it with insufficient_credit. CommitHold or ReleaseHold decides it.
func (s *Store) Hold(ctx context.Context, t Transfer) (Payment, error) {
	return s.start(ctx, t, true)
}

// Reject records t as rejected with reason, decided before any money moved
// (no route, unknown payee, …), so that a retry of the same id gets the same
// answer. Idempotent like Pay.
func (s *Store) Reject(ctx context.Context, t Transfer, reason string) (Payment, error) {
	if reason == "" {
		// An empty reason would fall through to an ordinary payment.
		return Payment{}, fmt.Errorf("reject %s: %w: a reason is required", t.ID, ErrInvalid)
	}
	return s.record(ctx, t, false, reason)
}

func (s *Store) start(ctx context.Context, t Transfer, hold bool) (Payment, error) {
	return s.record(ctx, t, hold, "")
}

// record writes the first outcome of payment t: rejected with reject if that
// is set, else held or paid if the payer's credit allows.
func (s *Store) record(ctx context.Context, t Transfer, hold bool, reject string) (Payment, error) {
	if err := t.validate(s.opts.Currencies); err != nil {
		return Payment{}, fmt.Errorf("pay %s: %w", t.ID, err)
	}
	digest := t.digest()
	var out *icnv1.PaymentRecord
	err := s.Update(ctx, func(tx *Tx) error {
		payments := tx.Bucket(bktPayments)
		if v := payments.Get([]byte(t.ID)); v != nil {
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if string(rec.IntentDigest) != string(digest) || rec.Hold != hold {
				return ErrModifiedRequest
			}
			out = rec
			return nil
		}
		now := tx.Now()
		rec := &icnv1.PaymentRecord{
			Id: t.ID, From: string(t.From), To: string(t.To), FromCoop: t.FromCoop, ToCoop: t.ToCoop,
			Currency: t.Amount.Currency().Code, Units: t.Amount.Units(), Memo: t.Memo,
			CreatedAtUnixNano: t.CreatedAt.UnixNano(), UpdatedAtUnixNano: now.UnixNano(),
			IntentDigest: digest, Hold: hold, Intent: t.Intent, Signature: t.Signature,
		}
		from, err := tx.balance(t.From, rec.Currency)
		if err != nil {
			return err
		}
		switch {
		case reject != "":
			rec.Status, rec.Reason = icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, reject
		case !t.From.IsSystem() && !from.canSpend(t.Amount.Units(), tx.limit(t.From, t.Amount.Currency())):
			rec.Status, rec.Reason = icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, ReasonInsufficientCredit
		case hold:
			rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_PENDING
			if from.Held+t.Amount.Units() < from.Held {
				return fmt.Errorf("hold %s: held amount overflow", t.ID)
			}
			from.Held += t.Amount.Units()
			if err := tx.putBalance(t.From, rec.Currency, from); err != nil {
				return err
			}
		default:
			rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED
			if err := tx.post(rec, icnv1.EntryKind_ENTRY_KIND_PAYMENT, t.From, t.To, t.Amount.Units()); err != nil {
				return err
			}
		}
		if err := tx.putRecord(rec); err != nil {
			return err
		}
		// A payment rejected at once concerns only its payer.
		accounts := []Account{t.From, t.To}
		if rec.Status == icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED {
			accounts = accounts[:1]
		}
		for _, a := range accounts {
			if err := tx.addHistory(a, t.ID); err != nil {
				return err
			}
		}
		out = rec
		return tx.paymentEvent(rec)
	})
	if err != nil {
		return Payment{}, fmt.Errorf("pay %s: %w", t.ID, err)
	}
	return s.toPayment(out), nil
}

// CommitHold turns the hold of payment id into a debit, crediting counter
// (the clearing account of the hub that routed it). Committing a committed
// payment returns it unchanged; committing a rejected one is ErrFinal.
func (s *Store) CommitHold(ctx context.Context, id string, counter Account) (Payment, error) {
	return s.decide(ctx, id, func(tx *Tx, rec *icnv1.PaymentRecord) error {
		rec.Status = icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED
		return tx.post(rec, icnv1.EntryKind_ENTRY_KIND_HOLD_COMMIT, Account(rec.From), counter, rec.Units)
	}, icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED)
}

// ReleaseHold releases the hold of payment id and records it rejected with
// reason. Releasing a rejected payment returns it unchanged; releasing a
// committed one is ErrFinal.
func (s *Store) ReleaseHold(ctx context.Context, id, reason string) (Payment, error) {
	return s.decide(ctx, id, func(tx *Tx, rec *icnv1.PaymentRecord) error {
		rec.Status, rec.Reason = icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED, reason
		return nil
	}, icnv1.PaymentStatus_PAYMENT_STATUS_REJECTED)
}

// decide releases the hold of a pending payment and moves it to target with
// apply; a payment already at target is returned as it is, one decided
// otherwise is ErrFinal.
func (s *Store) decide(ctx context.Context, id string, apply func(*Tx, *icnv1.PaymentRecord) error, target icnv1.PaymentStatus) (Payment, error) {
	var out *icnv1.PaymentRecord
	err := s.Update(ctx, func(tx *Tx) error {
		v := tx.Bucket(bktPayments).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return err
		}
		out = rec
		if rec.Status == target {
			return nil
		}
		if !rec.Hold || rec.Status != icnv1.PaymentStatus_PAYMENT_STATUS_PENDING {
			return ErrFinal
		}
		from := Account(rec.From)
		bal, err := tx.balance(from, rec.Currency)
		if err != nil {
			return err
		}
		bal.Held -= rec.Units
		if err := tx.putBalance(from, rec.Currency, bal); err != nil {
			return err
		}
		if err := apply(tx, rec); err != nil {
			return err
		}
		rec.UpdatedAtUnixNano = tx.Now().UnixNano()
		if err := tx.putRecord(rec); err != nil {
			return err
		}
		return tx.paymentEvent(rec)
	})
	if err != nil {
		return Payment{}, fmt.Errorf("decide %s: %w", id, err)
	}
	return s.toPayment(out), nil
}

// Payment returns the record of payment id, or ErrNotFound.
func (s *Store) Payment(id string) (Payment, error) {
	var out Payment
	err := s.db.View(func(tx *bolt.Tx) error {
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
	err = s.db.View(func(tx *bolt.Tx) error {
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
