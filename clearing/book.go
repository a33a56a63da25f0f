package clearing

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"slices"

	"github.com/icn-coop/icn/identity"
)

type posKey struct {
	did identity.DID
	cur string
}

// pos is one participant's figures in one currency. sent and received are the
// current period's; carried is the net debit (sent − received) of the closed
// periods not yet settled, saturated at the int64 bounds. incoming (the sum of
// its pending incoming transfers) is derived from the pending set and never
// exported; it bounds received so that a commit can never overflow.
type pos struct {
	sent, received, reserved, incoming, carried int64
}

// capDebit is what the cap counts besides reservations: the unsettled net
// debit of the closed periods plus the current period's, saturated.
func (p *pos) capDebit() int64 { return satAdd(p.carried, p.sent-p.received) } // sent, received ≥ 0: the difference cannot overflow

func (p *pos) zero() bool { return *p == pos{} }

type bilKey struct {
	cur      string
	from, to identity.DID
}

type bil struct {
	amount int64
	count  int
}

// pending is a prepared transfer and its place in the expiry heap.
type pending struct {
	t   Transfer
	idx int
}

// Book is the clearing book. Create it with NewBook or Restore.
type Book struct {
	rec       Records
	period    uint64
	openedAt  int64
	pos       map[posKey]*pos
	bil       map[bilKey]*bil
	pending   map[string]*pending
	expiry    expiryHeap
	committed int
}

// NewBook returns an empty book in period 1, opened at 0.
func NewBook(rec Records) *Book {
	return &Book{
		rec:     rec,
		period:  1,
		pos:     map[posKey]*pos{},
		bil:     map[bilKey]*bil{},
		pending: map[string]*pending{},
	}
}

func validID(id string) bool { return id != "" && len(id) <= MaxIDLen }

// lookup finds id among the pending transfers, else in the records. A record
// that says prepared for an id that is not pending means records and memory
// disagree.
func (b *Book) lookup(id string) (Transfer, bool, error) {
	if p := b.pending[id]; p != nil {
		return p.t, true, nil
	}
	if !validID(id) {
		return Transfer{}, false, nil // never stored
	}
	t, ok, err := b.rec.Get(id)
	if err != nil {
		return Transfer{}, false, fmt.Errorf("clearing: get %q: %w", id, err)
	}
	if ok && (t.ID != id || !t.State.Decided()) {
		return Transfer{}, false, fmt.Errorf("%w: record %q is %s (id %q) but not pending in the book", ErrCorrupt, id, t.State, t.ID)
	}
	return t, ok, nil
}

// Transfer returns the current record of id: pending in memory, else from the records.
func (b *Book) Transfer(id string) (Transfer, bool, error) { return b.lookup(id) }

func (b *Book) get(k posKey) pos {
	if p := b.pos[k]; p != nil {
		return *p
	}
	return pos{}
}

func (b *Book) set(k posKey, p pos) {
	if p.zero() {
		delete(b.pos, k)
		return
	}
	q := b.pos[k]
	if q == nil {
		q = new(pos) // (not &p: that would move every caller's p to the heap)
		b.pos[k] = q
	}
	*q = p
}

// add returns x+y and whether it did not overflow.
func add(x, y int64) (int64, bool) {
	s := x + y
	if (y > 0 && s < x) || (y < 0 && s > x) {
		return 0, false
	}
	return s, true
}

// satAdd returns x+y clamped to [math.MinInt64, math.MaxInt64].
func satAdd(x, y int64) int64 {
	if s, ok := add(x, y); ok {
		return s
	}
	if y > 0 {
		return math.MaxInt64
	}
	return math.MinInt64
}

// Prepare evaluates a PrepareTransfer command at time at.
//
// A repeat of a known id with the same content returns the stored record with
// Repeat set; different content returns Conflict modified_request. A new id is
// checked in this order, the first failure recording a rejection:
// invalid_request, unknown_participant, participant_suspended, expired,
// insufficient_trust (trust from receiver to sender), debit_cap_exceeded
// (CapDebit + Reserved + amount > cap: the cap counts the unsettled net debit
// of closed periods as well as the current period's, see OpenPeriod).
// Otherwise the transfer is prepared and its amount reserved against the
// sender.
//
// An id that is empty or longer than MaxIDLen cannot be stored: the rejection
// is returned but not recorded (a repeat gets the same rejection again, with
// Repeat false).
func (b *Book) Prepare(env Env, req PrepareRequest, at int64) (Outcome, error) {
	old, known, err := b.lookup(req.ID)
	if err != nil {
		return Outcome{}, err
	}
	if known {
		if sameRequest(old, req) {
			return Outcome{Transfer: old, Repeat: true}, nil
		}
		return Outcome{Transfer: old, Conflict: ReasonModifiedRequest}, nil
	}
	t := Transfer{
		ID: req.ID, From: req.From, To: req.To, Amount: req.Amount, IntentHash: req.IntentHash,
		PreparedAt: at, ExpiresAt: req.ExpiresAt,
	}
	if r := b.check(env, req, at); r != ReasonNone {
		t.State, t.Reason, t.DecidedAt = StateRejected, r, at
		if validID(t.ID) {
			if err := b.rec.Put(t); err != nil {
				return Outcome{}, fmt.Errorf("clearing: put %q: %w", t.ID, err)
			}
		}
		return Outcome{Transfer: t}, nil
	}
	t.State = StatePrepared
	cur := t.Amount.Currency().Code
	fk, tk := posKey{t.From, cur}, posKey{t.To, cur}
	fp, tp := b.get(fk), b.get(tk)
	fp.reserved += t.Amount.Units() // check proved these cannot overflow
	tp.incoming += t.Amount.Units()
	if err := b.rec.Put(t); err != nil {
		return Outcome{}, fmt.Errorf("clearing: put %q: %w", t.ID, err)
	}
	b.set(fk, fp)
	b.set(tk, tp)
	p := &pending{t: t}
	b.pending[t.ID] = p
	heap.Push(&b.expiry, p)
	return Outcome{Transfer: t}, nil
}

// check returns the first rule a new transfer breaks, or ReasonNone.
func (b *Book) check(env Env, req PrepareRequest, at int64) Reason {
	cur := req.Amount.Currency()
	capAmt, hasCap := env.DebitCap(req.From, cur.Code)
	if !validID(req.ID) || req.Amount.Sign() <= 0 || req.From == req.To ||
		cur.Validate() != nil || (hasCap && capAmt.Currency() != cur) {
		return ReasonInvalidRequest
	}
	knownFrom, activeFrom := env.Participant(req.From)
	knownTo, activeTo := env.Participant(req.To)
	if !knownFrom || !knownTo {
		return ReasonUnknownParticipant
	}
	if !activeFrom || !activeTo {
		return ReasonParticipantSuspended
	}
	if at >= req.ExpiresAt {
		return ReasonExpired
	}
	if env.Trust(req.To, req.From) < env.MinTrust() {
		return ReasonInsufficientTrust
	}
	var capUnits int64
	if hasCap {
		capUnits = capAmt.Units()
	}
	amt := req.Amount.Units()
	fp, tp := b.get(posKey{req.From, cur.Code}), b.get(posKey{req.To, cur.Code})
	// Mojaloop: debit position + reserved + amount ≤ cap, where the debit
	// position is the unsettled one across periods (carried + sent − received).
	// Overflow counts as exceeding. capDebit saturates: at MaxInt64 the next
	// add overflows (amt > 0), and at MinInt64 the true figure is lower still,
	// so the saturated sum never accepts what the exact one would refuse.
	need, ok1 := add(fp.capDebit(), fp.reserved)
	need, ok2 := add(need, amt)
	// Keep every counter a commit will touch within int64, pending included.
	_, ok3 := add(fp.sent+fp.reserved, amt)     // sent+reserved ≤ MaxInt64 is an invariant
	_, ok4 := add(tp.received+tp.incoming, amt) // likewise received+incoming
	if !ok1 || !ok2 || !ok3 || !ok4 || need > capUnits {
		return ReasonDebitCapExceeded
	}
	return ReasonNone
}

// Commit evaluates a CommitTransfer command at time at (the receiver accepted).
// A prepared transfer commits into the current period, unless at ≥ ExpiresAt:
// then it aborts with ReasonExpired, and that is the commit's outcome.
func (b *Book) Commit(id string, at int64) (Outcome, error) {
	p := b.pending[id]
	if p == nil {
		return b.decided(id, func(s State) bool { return s == StateCommitted })
	}
	if at >= p.t.ExpiresAt {
		return b.abort(p, ReasonExpired, at)
	}
	t := p.t
	amt, cur := t.Amount.Units(), t.Amount.Currency().Code
	fk, tk, bk := posKey{t.From, cur}, posKey{t.To, cur}, bilKey{cur, t.From, t.To}
	fp, tp := b.get(fk), b.get(tk)
	bl := b.bil[bk]
	if bl == nil {
		bl = new(bil) // stored below only once the commit is recorded
	}
	amount, count := bl.amount+amt, bl.count+1 // amount ≤ fp.sent: cannot overflow
	var ok [4]bool
	fp.reserved, ok[0] = add(fp.reserved, -amt)
	tp.incoming, ok[1] = add(tp.incoming, -amt)
	fp.sent, ok[2] = add(fp.sent, amt)
	tp.received, ok[3] = add(tp.received, amt)
	if ok != [4]bool{true, true, true, true} || fp.reserved < 0 || tp.incoming < 0 {
		return Outcome{}, fmt.Errorf("%w: commit %q: counters out of range", ErrCorrupt, id)
	}
	t.State, t.Period, t.DecidedAt = StateCommitted, b.period, at
	if err := b.rec.Put(t); err != nil {
		return Outcome{}, fmt.Errorf("clearing: put %q: %w", t.ID, err)
	}
	b.set(fk, fp)
	b.set(tk, tp)
	bl.amount, bl.count = amount, count
	b.bil[bk] = bl
	b.committed++
	b.drop(p)
	return Outcome{Transfer: t}, nil
}

// Abort evaluates an AbortTransfer command. reason is stored on the record; an
// empty or unknown reason, or a conflict code, is stored as ReasonCanceled.
func (b *Book) Abort(id string, reason Reason, at int64) (Outcome, error) {
	p := b.pending[id]
	if p == nil {
		return b.decided(id, func(s State) bool { return s != StateCommitted })
	}
	if !reason.abortable() {
		reason = ReasonCanceled
	}
	return b.abort(p, reason, at)
}

// decided answers a Commit or Abort for an id that is not pending: unknown,
// a repeat of the same decision (same(state)), or decided the other way.
func (b *Book) decided(id string, same func(State) bool) (Outcome, error) {
	t, ok, err := b.lookup(id)
	switch {
	case err != nil:
		return Outcome{}, err
	case !ok:
		return Outcome{Transfer: Transfer{ID: id}, Conflict: ReasonUnknownTransfer}, nil
	case same(t.State):
		return Outcome{Transfer: t, Repeat: true}, nil
	default:
		return Outcome{Transfer: t, Repeat: true, Conflict: ReasonDuplicate}, nil
	}
}

// abort moves a pending transfer to aborted and releases its reservation.
func (b *Book) abort(p *pending, reason Reason, at int64) (Outcome, error) {
	t := p.t
	amt, cur := t.Amount.Units(), t.Amount.Currency().Code
	fk, tk := posKey{t.From, cur}, posKey{t.To, cur}
	fp, tp := b.get(fk), b.get(tk)
	fp.reserved -= amt
	tp.incoming -= amt
	if fp.reserved < 0 || tp.incoming < 0 {
		return Outcome{}, fmt.Errorf("%w: abort %q: reservation below zero", ErrCorrupt, t.ID)
	}
	t.State, t.Reason, t.DecidedAt = StateAborted, reason, at
	if err := b.rec.Put(t); err != nil {
		return Outcome{}, fmt.Errorf("clearing: put %q: %w", t.ID, err)
	}
	b.set(fk, fp)
	b.set(tk, tp)
	b.drop(p)
	return Outcome{Transfer: t}, nil
}

func (b *Book) drop(p *pending) {
	heap.Remove(&b.expiry, p.idx)
	delete(b.pending, p.t.ID)
}

// ExpireDue aborts with ReasonExpired every prepared transfer whose ExpiresAt
// ≤ at, in (ExpiresAt, ID) order, and returns their records. On a Records
// failure it returns those expired so far and the error.
func (b *Book) ExpireDue(at int64) ([]Transfer, error) {
	var out []Transfer
	for len(b.expiry) > 0 && b.expiry[0].t.ExpiresAt <= at {
		o, err := b.abort(b.expiry[0], ReasonExpired, at)
		if err != nil {
			return out, err
		}
		out = append(out, o.Transfer)
	}
	return out, nil
}

// NextExpiry returns the earliest ExpiresAt among prepared transfers.
func (b *Book) NextExpiry() (int64, bool) {
	if len(b.expiry) == 0 {
		return 0, false
	}
	return b.expiry[0].t.ExpiresAt, true
}

// OpenPeriod closes the current period at time at and opens period number,
// which must be Period()+1 (else ErrPeriod and nothing changes). It returns the
// closed period's summary, adds each participant's net debit of the closed
// period (sent − received) to its carried position, and resets sent, received
// and the bilateral sums. Reservations and pending transfers carry over: a
// pending transfer commits into the period that is current when it commits.
//
// Closing a period settles nothing: its obligations stay outstanding, and the
// debit cap keeps counting them through the carried position, until
// settlement reduces it (settlement is not part of the book yet). A carried
// position that would leave int64 saturates at the bound (then Σ carried of a
// currency is no longer zero; a saturated debit makes every further send
// exceed the cap).
func (b *Book) OpenPeriod(number uint64, at int64) (PeriodSummary, error) {
	if b.period == math.MaxUint64 || number != b.period+1 {
		return PeriodSummary{}, fmt.Errorf("%w: asked to open %d, current is %d", ErrPeriod, number, b.period)
	}
	sum := PeriodSummary{
		Number: b.period, OpenedAt: b.openedAt, ClosedAt: at,
		Positions: b.Positions(), Bilateral: b.Bilateral(), Transfers: b.committed,
	}
	for k, p := range b.pos { // order-independent: each entry is handled alone
		p.carried = p.capDebit()
		p.sent, p.received = 0, 0
		if p.zero() {
			delete(b.pos, k)
		}
	}
	clear(b.bil)
	b.committed = 0
	b.period, b.openedAt = number, at
	return sum, nil
}

// Period returns the current period's number and opening time.
func (b *Book) Period() (number uint64, openedAt int64) { return b.period, b.openedAt }

// Pending returns the prepared transfers sorted by ID.
func (b *Book) Pending() []Transfer {
	out := make([]Transfer, 0, len(b.pending))
	for _, p := range b.pending {
		out = append(out, p.t)
	}
	slices.SortFunc(out, func(x, y Transfer) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// Position returns did's position in currency: the current period's figures
// and the carried net debit of closed, unsettled periods.
func (b *Book) Position(did identity.DID, currency string) Position {
	p := b.get(posKey{did, currency})
	return p.export(did, currency)
}

func (p *pos) export(did identity.DID, currency string) Position {
	return Position{DID: did, Currency: currency, Sent: p.sent, Received: p.received, Reserved: p.reserved, Carried: p.carried}
}

// Positions returns, sorted by (DID, currency), the position of every
// participant and currency with a non-zero sent, received, reserved or carried.
func (b *Book) Positions() []Position {
	out := make([]Position, 0, len(b.pos))
	for k, p := range b.pos {
		if p.sent == 0 && p.received == 0 && p.reserved == 0 && p.carried == 0 {
			continue // only pending incoming transfers
		}
		out = append(out, p.export(k.did, k.cur))
	}
	slices.SortFunc(out, func(x, y Position) int {
		return cmp.Or(cmp.Compare(x.DID, y.DID), cmp.Compare(x.Currency, y.Currency))
	})
	return out
}

// Bilateral returns the current period's bilateral sums sorted by (currency, from, to).
func (b *Book) Bilateral() []Bilateral {
	out := make([]Bilateral, 0, len(b.bil))
	for k, v := range b.bil {
		out = append(out, Bilateral{Currency: k.cur, From: k.from, To: k.to, Amount: v.amount, Count: v.count})
	}
	slices.SortFunc(out, compareBilateral)
	return out
}

func compareBilateral(x, y Bilateral) int {
	return cmp.Or(cmp.Compare(x.Currency, y.Currency), cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To))
}

// expiryHeap orders pending transfers by (ExpiresAt, ID).
type expiryHeap []*pending

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	a, c := h[i].t, h[j].t
	return a.ExpiresAt < c.ExpiresAt || (a.ExpiresAt == c.ExpiresAt && a.ID < c.ID)
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *expiryHeap) Push(x any) {
	p := x.(*pending)
	p.idx = len(*h)
	*h = append(*h, p)
}
func (h *expiryHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.idx = -1
	return p
}
