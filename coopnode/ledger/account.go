package ledger

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// balanceRec is an account's stored state in one currency, in minor units.
type balanceRec struct {
	Balance   int64 // committed credits minus debits
	Held      int64 // reserved by pending holds
	PendingIn int64 // credited by pending incoming transfers, not yet spendable
}

const balanceRecLen = 24

func (b balanceRec) encode() []byte {
	out := make([]byte, balanceRecLen)
	binary.BigEndian.PutUint64(out[0:], uint64(b.Balance))
	binary.BigEndian.PutUint64(out[8:], uint64(b.Held))
	binary.BigEndian.PutUint64(out[16:], uint64(b.PendingIn))
	return out
}

func decodeBalance(v []byte) (balanceRec, error) {
	if len(v) != balanceRecLen {
		return balanceRec{}, fmt.Errorf("balance record of %d bytes", len(v))
	}
	return balanceRec{
		Balance:   int64(binary.BigEndian.Uint64(v[0:])),
		Held:      int64(binary.BigEndian.Uint64(v[8:])),
		PendingIn: int64(binary.BigEndian.Uint64(v[16:])),
	}, nil
}

// canSpend reports whether spending units keeps balance - held >= -limit,
// without overflow.
func (b balanceRec) canSpend(units, limit int64) bool {
	return units <= b.available(limit)
}

// available is balance - held + limit, saturated to the int64 range: a limit
// near math.MaxInt64 ("unlimited") must not wrap around into a refusal.
func (b balanceRec) available(limit int64) int64 {
	v := new(big.Int).SetInt64(b.Balance)
	v.Sub(v, big.NewInt(b.Held))
	v.Add(v, big.NewInt(limit))
	switch {
	case v.IsInt64():
		return v.Int64()
	case v.Sign() > 0:
		return math.MaxInt64
	default:
		return math.MinInt64
	}
}

func balanceKey(a Account, currency string) []byte {
	k := make([]byte, 0, len(a)+1+len(currency))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, currency...)
}

func getBalance(tx *store.View, a Account, currency string) (balanceRec, error) {
	v := tx.Bucket(bktBalances).Get(balanceKey(a, currency))
	if v == nil {
		return balanceRec{}, nil
	}
	return decodeBalance(v)
}

func (tx *Tx) balance(a Account, currency string) (balanceRec, error) {
	return getBalance(&tx.View, a, currency)
}

func (tx *Tx) putBalance(a Account, currency string, b balanceRec) error {
	return tx.Bucket(bktBalances).Put(balanceKey(a, currency), b.encode())
}

func (tx *Tx) limit(a Account, c money.Currency) int64 {
	return limitOf(&tx.View, a, c, tx.s.table(&tx.View).defaults)
}

func limitOf(tx *store.View, a Account, c money.Currency, defaults map[string]money.Amount) int64 {
	if v := tx.Bucket(bktLimits).Get(balanceKey(a, c.Code)); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return defaultLimitOf(tx, c, defaults)
}

// defaultLimitOf is the credit limit of a member account without its own:
// the one governance set (SetDefaultCreditLimit), else the recorded one
// (RecordCurrencies).
func defaultLimitOf(tx *store.View, c money.Currency, defaults map[string]money.Amount) int64 {
	if v := tx.Bucket(bktLimits).Get(balanceKey(defaultAccount, c.Code)); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return defaults[c.Code].Units()
}

func (tx *Tx) defaultLimit(v *store.View, c money.Currency) int64 {
	return defaultLimitOf(v, c, tx.s.table(v).defaults)
}

// post appends one entry moving units from → to, updates both balances and
// stamps the record with the entry's seq and hash.
func (tx *Tx) post(rec *icnv1.PaymentRecord, kind icnv1.EntryKind, from, to Account, units int64) error {
	fb, err := tx.balance(from, rec.Currency)
	if err != nil {
		return err
	}
	tb, err := tx.balance(to, rec.Currency)
	if err != nil {
		return err
	}
	if to == "" || from == to {
		// Both balances are read before either is written: posting to the
		// payer itself would keep only the credit and mint money.
		return fmt.Errorf("post %s: %w: counter account must be another account", rec.Id, ErrInvalid)
	}
	if fb.Balance-units > fb.Balance || tb.Balance+units < tb.Balance {
		return fmt.Errorf("post %s: balance overflow", rec.Id)
	}
	fb.Balance -= units
	tb.Balance += units
	if err := tx.putBalance(from, rec.Currency, fb); err != nil {
		return err
	}
	if err := tx.putBalance(to, rec.Currency, tb); err != nil {
		return err
	}
	seq, hash, err := tx.appendEntry(&icnv1.LedgerEntry{
		PaymentId: rec.Id, Kind: kind, Memo: rec.Memo,
		Postings: []*icnv1.Posting{
			{Account: string(from), Currency: rec.Currency, Units: -units},
			{Account: string(to), Currency: rec.Currency, Units: units},
		},
	})
	if err != nil {
		return err
	}
	rec.EntrySeq, rec.EntryHash = seq, hash
	return nil
}

// appendEntry chains e after the head and stores it; it returns its seq and hash.
func (tx *Tx) appendEntry(e *icnv1.LedgerEntry) (uint64, []byte, error) {
	meta := tx.Bucket(bktMeta)
	var head uint64
	if v := meta.Get(keyHeadSeq); v != nil {
		head = binary.BigEndian.Uint64(v)
	}
	prev := meta.Get(keyHeadHash)
	if prev == nil {
		prev = make([]byte, 32)
	}
	e.Seq = head + 1
	e.PrevHash = append([]byte(nil), prev...)
	e.RecordedAtUnixNano = tx.Now().UnixNano()
	b, err := proto.Marshal(e)
	if err != nil {
		return 0, nil, err
	}
	hash := hashEntry(b)
	if err := tx.Bucket(bktEntries).Put(u64(e.Seq), b); err != nil {
		return 0, nil, err
	}
	if err := meta.Put(keyHeadSeq, u64(e.Seq)); err != nil {
		return 0, nil, err
	}
	return e.Seq, hash, meta.Put(keyHeadHash, hash)
}

func (tx *Tx) putRecord(rec *icnv1.PaymentRecord) error {
	b, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Bucket(bktPayments).Put([]byte(rec.Id), b)
}

func decodeRecord(v []byte) (*icnv1.PaymentRecord, error) {
	var rec icnv1.PaymentRecord
	if err := proto.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("payment record: %w", err)
	}
	return &rec, nil
}

func (tx *Tx) addHistory(a Account, id string) error {
	n, err := tx.counter(keyHistSeq)
	if err != nil {
		return err
	}
	return tx.Bucket(bktHistory).Put(prefixed(string(a), n), []byte(id))
}

// openTransfer adds payment id to the index of open two-phase payments.
func (tx *Tx) openTransfer(id string) error {
	n, err := tx.counter(keyOpenSeq)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bktOpen).Put(u64(n), []byte(id)); err != nil {
		return err
	}
	return tx.Bucket(bktOpenIDs).Put([]byte(id), u64(n))
}

// closeTransfer drops payment id from the index of open two-phase payments.
func (tx *Tx) closeTransfer(id string) error {
	ids := tx.Bucket(bktOpenIDs)
	n := ids.Get([]byte(id))
	if len(n) != 8 {
		return fmt.Errorf("open transfer %s missing from the index", id)
	}
	if err := tx.Bucket(bktOpen).Delete(n); err != nil {
		return err
	}
	return ids.Delete([]byte(id))
}

// buildOpenIndex fills the (empty) open-transfer index from the payment
// records, for a file written before the index existed: pending payments in
// the order they were recorded (a pending record's updated time is its
// recording time), then by id.
func buildOpenIndex(tx *Tx) error {
	type open struct {
		id string
		at int64
	}
	var pending []open
	err := tx.Bucket(bktPayments).ForEach(func(k, v []byte) error {
		rec, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("payment %s: %w", k, err)
		}
		if rec.Status == icnv1.PaymentStatus_PAYMENT_STATUS_PENDING {
			pending = append(pending, open{rec.Id, rec.UpdatedAtUnixNano})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index open transfers: %w", err)
	}
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].at < pending[j].at })
	for _, p := range pending {
		if err := tx.openTransfer(p.id); err != nil {
			return fmt.Errorf("index open transfers: %w", err)
		}
	}
	return nil
}

// counter increments and returns a uint64 kept in meta under key.
func (tx *Tx) counter(key []byte) (uint64, error) {
	meta := tx.Bucket(bktMeta)
	var n uint64
	if v := meta.Get(key); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, meta.Put(key, u64(n))
}

// prefixed returns the key name 0x00 n: one account's or feed's rows sort
// together, in n order, in a flat bucket.
func prefixed(name string, n uint64) []byte {
	k := make([]byte, 0, len(name)+9)
	k = append(k, name...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, n)
}

// PaymentEvent is the payload of Payment, PaymentPending and PaymentRejected events.
type PaymentEvent struct {
	ID        string `json:"id"`
	Status    Status `json:"status"`
	Reason    string `json:"reason,omitempty"`
	From      string `json:"from"`
	To        string `json:"to"`
	FromCoop  string `json:"from_coop"`
	ToCoop    string `json:"to_coop"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Memo      string `json:"memo"`
	EntryHash string `json:"entry_hash,omitempty"`
}

// Event types the ledger emits.
const (
	EventPayment         = "Payment"
	EventPaymentPending  = "PaymentPending"
	EventPaymentRejected = "PaymentRejected"
)

func (tx *Tx) paymentEvent(rec *icnv1.PaymentRecord) error {
	p := tx.s.toPayment(rec)
	typ := EventPayment
	switch p.Status {
	case StatusPending:
		typ = EventPaymentPending
	case StatusRejected:
		typ = EventPaymentRejected
	}
	var members []identity.DID
	parties := []Account{p.From, p.To}
	if rec.Hold {
		parties = parties[:1] // the payee is another co-op's member, with its own feed there
	}
	for _, a := range parties {
		if !a.IsSystem() {
			members = append(members, identity.DID(a))
		}
	}
	// A rejected payment concerns only the payer: the payee never saw it coming.
	if p.Status != StatusCommitted && len(members) > 0 && members[0] == identity.DID(p.From) {
		members = members[:1]
	}
	from, fromCoop := p.Sender()
	return tx.AppendEvent(EventSpec{Type: typ, Members: members, Payload: PaymentEvent{
		ID: p.ID, Status: p.Status, Reason: p.Reason, From: from, To: string(p.To),
		FromCoop: fromCoop, ToCoop: p.ToCoop, Amount: p.Amount.String(), Currency: p.Amount.Currency().Code,
		Memo: p.Memo, EntryHash: p.EntryHash,
	}})
}

func (s *Store) toPayment(rec *icnv1.PaymentRecord) Payment {
	cur, _ := s.latest().byCode.Lookup(rec.Currency)
	p := Payment{
		ID: rec.Id, Reason: rec.Reason, From: Account(rec.From), To: Account(rec.To),
		FromCoop: rec.FromCoop, ToCoop: rec.ToCoop, Amount: money.FromUnits(rec.Units, cur), Memo: rec.Memo,
		CreatedAt: time.Unix(0, rec.CreatedAtUnixNano).UTC(), UpdatedAt: time.Unix(0, rec.UpdatedAtUnixNano).UTC(),
		EntrySeq: rec.EntrySeq, Hold: rec.Hold, PendingCredit: rec.PendingCredit,
		Intent: rec.Intent, Signature: rec.Signature, Payer: identity.DID(rec.Payer), PayerCoop: rec.PayerCoop,
	}
	if len(rec.EntryHash) > 0 {
		p.EntryHash = hex.EncodeToString(rec.EntryHash)
	}
	switch rec.Status {
	case icnv1.PaymentStatus_PAYMENT_STATUS_PENDING:
		p.Status = StatusPending
	case icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED:
		p.Status = StatusCommitted
	default:
		p.Status = StatusRejected
	}
	return p
}

// Balance is an account's position in one currency.
type Balance struct {
	Account     Account
	Balance     money.Amount // committed credits minus debits
	Held        money.Amount // reserved by pending outgoing transfers
	PendingIn   money.Amount // pending incoming credits, not yet spendable
	CreditLimit money.Amount // how far below zero the balance may go (through the gate, if set)
	Available   money.Amount // what can still be spent: balance - held + limit (0 if the gate refuses the account)
	// SetLimit is the limit set for the account (its own, or the default),
	// before the gate (SetGate) scaled it; CreditLimit without a gate.
	SetLimit money.Amount
	// Refusal is the gate's reason the account may not spend at all ("" if it may).
	Refusal string
}

// Balance returns account's balance in c, as the gate judges it now.
func (s *Store) Balance(account Account, c money.Currency) (Balance, error) {
	var out Balance
	err := s.st.View(func(tx *store.View) error {
		var err error
		out, err = s.balanceView(tx, s.opts.Clock(), account, c)
		return err
	})
	return out, err
}

func (s *Store) balanceView(tx *store.View, now time.Time, account Account, c money.Currency) (Balance, error) {
	b, err := getBalance(tx, account, c.Code)
	if err != nil {
		return Balance{}, err
	}
	var set, limit int64
	refusal := ""
	if !account.IsSystem() {
		set = limitOf(tx, account, c, s.table(tx).defaults)
		limit = set
		if g := s.getGate(); g != nil {
			if refusal, err = g.Refusal(tx, now, account); err != nil {
				return Balance{}, err
			}
			if limit, err = g.Limit(tx, now, account, c, set); err != nil {
				return Balance{}, err
			}
			if refusal != "" {
				limit = 0
			}
		}
	}
	avail := b.available(limit)
	if refusal != "" {
		avail = 0
	}
	return Balance{
		Account: account, Balance: money.FromUnits(b.Balance, c), Held: money.FromUnits(b.Held, c),
		PendingIn: money.FromUnits(b.PendingIn, c), CreditLimit: money.FromUnits(limit, c),
		Available: money.FromUnits(avail, c), SetLimit: money.FromUnits(set, c), Refusal: refusal,
	}, nil
}

// SetCreditLimit sets account's own credit limit in limit's currency.
func (s *Store) SetCreditLimit(ctx context.Context, account Account, limit money.Amount) error {
	if limit.Sign() < 0 {
		return fmt.Errorf("set credit limit of %s: %w: limit must not be negative", account, ErrInvalid)
	}
	_, err := s.st.Submit(ctx, &icnv1.CoopCommand{AtUnixNano: s.now(), Kind: &icnv1.CoopCommand_SetCreditLimit{SetCreditLimit: &icnv1.SetCreditLimit{
		Account: string(account), Currency: limit.Currency().Code, Units: limit.Units(),
	}}})
	if err != nil {
		return fmt.Errorf("set credit limit of %s: %w", account, err)
	}
	return nil
}

func (s *Store) applySetCreditLimit(tx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetSetCreditLimit()
	if c.Units < 0 {
		return nil, fmt.Errorf("%w: limit must not be negative", ErrInvalid)
	}
	if c.Account == string(defaultAccount) {
		return nil, fmt.Errorf("%w: account is required", ErrInvalid)
	}
	return nil, tx.Bucket(bktLimits).Put(balanceKey(Account(c.Account), c.Currency), u64(uint64(c.Units)))
}

// Head returns the seq and hash of the newest entry (0 and 32 zero bytes when empty).
func (s *Store) Head() (seq uint64, hash []byte, err error) {
	err = s.st.View(func(tx *store.View) error {
		meta := tx.Bucket(bktMeta)
		if v := meta.Get(keyHeadSeq); v != nil {
			seq = binary.BigEndian.Uint64(v)
		}
		hash = append([]byte(nil), meta.Get(keyHeadHash)...)
		if len(hash) == 0 {
			hash = make([]byte, 32)
		}
		return nil
	})
	return seq, hash, err
}
