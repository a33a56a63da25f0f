package clearing

import (
	"bytes"
	"cmp"
	"container/heap"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Snapshot is the whole in-memory state of a Book as a plain value with sorted
// slices, so that encoding/json gives the same bytes for the same state.
// (It is the brief's "State" struct; the name State is taken by the transfer state.)
type Snapshot struct {
	Period         uint64      `json:"period"`
	PeriodOpenedAt int64       `json:"period_opened_at"`
	Positions      []Position  `json:"positions"` // as Book.Positions
	Bilateral      []Bilateral `json:"bilateral"` // as Book.Bilateral
	Pending        []Transfer  `json:"pending"`   // as Book.Pending
	Committed      int         `json:"committed"` // transfers committed this period
}

// State returns a snapshot of the book. Slices are never nil.
func (b *Book) State() Snapshot {
	return Snapshot{
		Period:         b.period,
		PeriodOpenedAt: b.openedAt,
		Positions:      b.Positions(),
		Bilateral:      b.Bilateral(),
		Pending:        b.Pending(),
		Committed:      b.committed,
	}
}

// Restore rebuilds a book from a snapshot taken by State. It checks that the
// snapshot is one a book could have produced: slices strictly sorted without
// duplicates or empty entries; pending transfers well formed; Reserved equal
// to the sum of pending amounts per (From, currency); bilateral sums equal to
// Sent per (From, currency) and Received per (To, currency); Committed equal to
// the bilateral counts; no counter that a commit could overflow. Carried may
// be any value. A failure wraps ErrCorrupt.
//
// rec must hold the records as of the snapshot (the book trusts it: a later
// record of a pending id is reported as ErrCorrupt when that id is used).
func Restore(st Snapshot, rec Records) (*Book, error) {
	b := NewBook(rec)
	if st.Period == 0 {
		return nil, corrupt("period 0")
	}
	b.period, b.openedAt = st.Period, st.PeriodOpenedAt
	if st.Committed < 0 {
		return nil, corrupt("committed %d", st.Committed)
	}
	b.committed = st.Committed

	for i, p := range st.Positions {
		if i > 0 {
			q := st.Positions[i-1]
			if cmp.Or(cmp.Compare(q.DID, p.DID), cmp.Compare(q.Currency, p.Currency)) >= 0 {
				return nil, corrupt("positions not strictly sorted at %d", i)
			}
		}
		if p.DID == "" || p.Currency == "" || p.Sent < 0 || p.Received < 0 || p.Reserved < 0 ||
			(p.Sent == 0 && p.Received == 0 && p.Reserved == 0 && p.Carried == 0) {
			return nil, corrupt("bad position %+v", p)
		}
		b.pos[posKey{p.DID, p.Currency}] = &pos{sent: p.Sent, received: p.Received, reserved: p.Reserved, carried: p.Carried}
	}

	// Pending: recompute reservations and incoming amounts, compare.
	reserved := map[posKey]int64{}
	for i, t := range st.Pending {
		if i > 0 && st.Pending[i-1].ID >= t.ID {
			return nil, corrupt("pending not strictly sorted at %d", i)
		}
		if !validID(t.ID) || t.State != StatePrepared || t.Reason != ReasonNone || t.Period != 0 ||
			t.DecidedAt != 0 || t.Amount.Sign() <= 0 || t.From == "" || t.To == "" || t.From == t.To ||
			t.Amount.Currency().Validate() != nil || t.ExpiresAt <= t.PreparedAt {
			return nil, corrupt("bad pending transfer %q", t.ID)
		}
		cur := t.Amount.Currency().Code
		fk, tk := posKey{t.From, cur}, posKey{t.To, cur}
		var ok bool
		if reserved[fk], ok = add(reserved[fk], t.Amount.Units()); !ok {
			return nil, corrupt("reserved overflows for %s %s", t.From, cur)
		}
		tp := b.pos[tk]
		if tp == nil {
			tp = &pos{}
			b.pos[tk] = tp
		}
		if tp.incoming, ok = add(tp.incoming, t.Amount.Units()); !ok {
			return nil, corrupt("incoming overflows for %s %s", t.To, cur)
		}
		p := &pending{t: t}
		b.pending[t.ID] = p
		heap.Push(&b.expiry, p)
	}
	for _, k := range sortedKeys(b.pos) { // sorted: the first error reported is deterministic
		p := b.pos[k]
		if reserved[k] != p.reserved {
			return nil, corrupt("reserved of %s %s is %d, pending sum %d", k.did, k.cur, p.reserved, reserved[k])
		}
		if _, ok := add(p.sent, p.reserved); !ok {
			return nil, corrupt("sent+reserved overflows for %s %s", k.did, k.cur)
		}
		if _, ok := add(p.received, p.incoming); !ok {
			return nil, corrupt("received+incoming overflows for %s %s", k.did, k.cur)
		}
	}
	for _, k := range sortedKeys(reserved) {
		r := reserved[k]
		if b.pos[k] == nil || b.pos[k].reserved != r {
			return nil, corrupt("pending sum of %s %s is %d, no matching reservation", k.did, k.cur, r)
		}
	}

	sent, recv := map[posKey]int64{}, map[posKey]int64{}
	count := 0
	for i, x := range st.Bilateral {
		if i > 0 && compareBilateral(st.Bilateral[i-1], x) >= 0 {
			return nil, corrupt("bilateral not strictly sorted at %d", i)
		}
		if x.Currency == "" || x.From == "" || x.To == "" || x.From == x.To || x.Count <= 0 || x.Amount < int64(x.Count) {
			return nil, corrupt("bad bilateral %+v", x)
		}
		fk, tk := posKey{x.From, x.Currency}, posKey{x.To, x.Currency}
		var ok1, ok2 bool
		sent[fk], ok1 = add(sent[fk], x.Amount)
		recv[tk], ok2 = add(recv[tk], x.Amount)
		count += x.Count
		if !ok1 || !ok2 || count < 0 {
			return nil, corrupt("bilateral sums overflow")
		}
		b.bil[bilKey{x.Currency, x.From, x.To}] = &bil{amount: x.Amount, count: x.Count}
	}
	if count != st.Committed {
		return nil, corrupt("committed %d, bilateral counts %d", st.Committed, count)
	}
	for _, k := range sortedKeys(b.pos) {
		p := b.pos[k]
		if p.sent != sent[k] || p.received != recv[k] {
			return nil, corrupt("position %s %s sent/received %d/%d, bilateral %d/%d", k.did, k.cur, p.sent, p.received, sent[k], recv[k])
		}
	}
	for _, k := range sortedKeys(sent) {
		if b.pos[k] == nil {
			return nil, corrupt("bilateral sent by %s %s without a position", k.did, k.cur)
		}
	}
	for _, k := range sortedKeys(recv) {
		if b.pos[k] == nil {
			return nil, corrupt("bilateral received by %s %s without a position", k.did, k.cur)
		}
	}
	return b, nil
}

func sortedKeys[V any](m map[posKey]V) []posKey {
	return slices.SortedFunc(maps.Keys(m), func(x, y posKey) int {
		return cmp.Or(cmp.Compare(x.did, y.did), cmp.Compare(x.cur, y.cur))
	})
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: snapshot: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// transferJSON is the JSON form of a Transfer: money.Amount has no JSON form
// of its own, so the amount travels as exact minor units with its currency.
type transferJSON struct {
	ID         string       `json:"id"`
	From       identity.DID `json:"from"`
	To         identity.DID `json:"to"`
	Units      int64        `json:"units"`
	Currency   string       `json:"currency"`
	Scale      int32        `json:"scale"`
	IntentHash string       `json:"intent_hash"` // 64 lower-case hex digits
	State      State        `json:"state"`
	Reason     Reason       `json:"reason"`
	Period     uint64       `json:"period"`
	PreparedAt int64        `json:"prepared_at"`
	ExpiresAt  int64        `json:"expires_at"`
	DecidedAt  int64        `json:"decided_at"`
}

// MarshalJSON writes t with its amount as {"units","currency","scale"} and the
// intent hash in hex.
func (t Transfer) MarshalJSON() ([]byte, error) {
	c := t.Amount.Currency()
	return json.Marshal(transferJSON{
		ID: t.ID, From: t.From, To: t.To,
		Units: t.Amount.Units(), Currency: c.Code, Scale: c.Scale,
		IntentHash: hex.EncodeToString(t.IntentHash[:]),
		State:      t.State, Reason: t.Reason, Period: t.Period,
		PreparedAt: t.PreparedAt, ExpiresAt: t.ExpiresAt, DecidedAt: t.DecidedAt,
	})
}

// UnmarshalJSON reads what MarshalJSON writes, strictly (unknown fields, a bad
// state name or a malformed hash are errors).
func (t *Transfer) UnmarshalJSON(b []byte) error {
	var j transferJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return fmt.Errorf("clearing: transfer: %w", err)
	}
	var h [32]byte
	if len(j.IntentHash) != hex.EncodedLen(len(h)) {
		return fmt.Errorf("clearing: transfer %q: intent_hash must be 64 hex digits", j.ID)
	}
	if _, err := hex.Decode(h[:], []byte(j.IntentHash)); err != nil {
		return fmt.Errorf("clearing: transfer %q: intent_hash must be 64 hex digits", j.ID)
	}
	*t = Transfer{
		ID: j.ID, From: j.From, To: j.To,
		Amount:     money.FromUnits(j.Units, money.Currency{Code: j.Currency, Scale: j.Scale}),
		IntentHash: h, State: j.State, Reason: j.Reason, Period: j.Period,
		PreparedAt: j.PreparedAt, ExpiresAt: j.ExpiresAt, DecidedAt: j.DecidedAt,
	}
	return nil
}
