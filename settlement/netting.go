package settlement

import (
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Figures is one participant's figures in one currency over a period, in
// minor units of the currency.
type Figures struct {
	Currency      string
	DID           identity.DID
	Sent          int64 // gross: Σ amounts of the transfers it sent
	Received      int64 // gross: Σ amounts of the transfers it received
	Net           int64 // Received − Sent: positive for a net creditor, negative for a net debtor
	SentCount     int   // transfers it sent
	ReceivedCount int   // transfers it received
}

// Totals are a currency's figures over a period.
type Totals struct {
	Currency  money.Currency // code and scale
	Transfers int            // committed transfers in the currency
	Volume    int64          // gross volume: Σ amounts
	NetDebit  int64          // Σ of the net debits (= Σ of the net credits): what settlement moves
}

// Netting is the result of multilateral netting over one period.
type Netting struct {
	// Currencies holds one entry per currency that had a transfer, sorted by code.
	Currencies []Totals
	// Figures holds one entry per participant and currency in which it sent or
	// received a transfer (its Net may be 0), sorted by currency code, then DID.
	Figures []Figures
}

// Net nets a period's committed transfers: per participant and currency the
// gross sent and received, the net (received − sent) and the transfer
// counts; per currency the transfer count, gross volume and total net debit.
//
// Every transfer must be a committed transfer of the same period: state
// committed, the same non-zero Period, a unique id of 1..clearing.MaxIDLen
// bytes, well-formed From and To DIDs that differ, an amount > 0 in a valid
// currency, and one scale per currency code. Net refuses the whole input
// otherwise (a *TransferError wrapping ErrInvalidTransfer or ErrDuplicate)
// rather than skip anything, so that a report never silently leaves a
// transfer out; the caller selects the period's committed transfers. A sum
// that leaves int64 is a *TransferError wrapping ErrOverflow.
//
// The result depends only on the set of transfers, not on their order.
func Net(transfers []clearing.Transfer) (Netting, error) {
	s, err := scanTransfers(transfers, true)
	if err != nil {
		return Netting{}, err
	}
	return s.netting(transfers)
}

// scan validates a period's transfers and interns their DIDs and currencies.
type scan struct {
	period uint64
	dids   []identity.DID
	didIdx map[identity.DID]int32
	curs   []money.Currency
	curIdx map[string]int
	// idx[i] = the interned (from, to, currency) of transfers[i].
	idx []tIdx
}

type tIdx struct {
	from, to int32
	cur      int32
}

// scanTransfers checks transfers; it checks ids for repeats only if dups is
// set (the Merkle tree finds them when it sorts).
func scanTransfers(transfers []clearing.Transfer, dups bool) (*scan, error) {
	s := &scan{didIdx: map[identity.DID]int32{}, curIdx: map[string]int{}, idx: make([]tIdx, len(transfers))}
	var ids map[string]struct{}
	if dups {
		ids = make(map[string]struct{}, len(transfers))
	}
	var last money.Currency
	lastIdx := -1
	for i := range transfers {
		t := &transfers[i]
		if err := checkFields(t); err != nil {
			return nil, err
		}
		if i == 0 {
			s.period = t.Period
		} else if t.Period != s.period {
			return nil, &TransferError{ID: t.ID, Kind: ErrInvalidTransfer,
				Detail: "period " + strconv.FormatUint(t.Period, 10) + " differs from period " + strconv.FormatUint(s.period, 10) + " of the other transfers"}
		}
		if dups {
			if _, dup := ids[t.ID]; dup {
				return nil, errDuplicate(t.ID)
			}
			ids[t.ID] = struct{}{}
		}
		c := t.Amount.Currency()
		if lastIdx < 0 || c != last {
			ci, ok := s.curIdx[c.Code]
			if !ok {
				if err := c.Validate(); err != nil {
					return nil, &TransferError{ID: t.ID, Kind: ErrInvalidTransfer, Detail: err.Error()}
				}
				ci = len(s.curs)
				s.curs = append(s.curs, c)
				s.curIdx[c.Code] = ci
			} else if s.curs[ci] != c {
				return nil, &TransferError{ID: t.ID, Kind: ErrInvalidTransfer,
					Detail: "currency " + c.Code + " with scale " + strconv.Itoa(int(c.Scale)) + " and " + strconv.Itoa(int(s.curs[ci].Scale))}
			}
			last, lastIdx = c, ci
		}
		from, err := s.did(t, t.From)
		if err != nil {
			return nil, err
		}
		to, err := s.did(t, t.To)
		if err != nil {
			return nil, err
		}
		s.idx[i] = tIdx{from: from, to: to, cur: int32(lastIdx)}
	}
	return s, nil
}

func errDuplicate(id string) error {
	return &TransferError{ID: id, Kind: ErrDuplicate, Detail: "id appears twice"}
}

// checkFields checks what can be checked on one transfer alone, except the
// DIDs' and currency's syntax.
func checkFields(t *clearing.Transfer) error {
	switch {
	case t.ID == "" || len(t.ID) > clearing.MaxIDLen:
		return &TransferError{ID: t.ID, Kind: ErrInvalidTransfer, Detail: "id must be 1.." + strconv.Itoa(clearing.MaxIDLen) + " bytes"}
	case t.State != clearing.StateCommitted:
		return &TransferError{ID: t.ID, Kind: ErrInvalidTransfer, Detail: "state " + t.State.String() + ", not committed"}
	case t.Period == 0:
		return &TransferError{ID: t.ID, Kind: ErrInvalidTransfer, Detail: "period 0"}
	case t.Amount.Units() <= 0:
		return &TransferError{ID: t.ID, Kind: ErrInvalidTransfer, Detail: "amount must be > 0"}
	case t.From == t.To:
		return &TransferError{ID: t.ID, Kind: ErrInvalidTransfer, Detail: "from and to are the same participant"}
	}
	return nil
}

func (s *scan) did(t *clearing.Transfer, d identity.DID) (int32, error) {
	if i, ok := s.didIdx[d]; ok {
		return i, nil
	}
	if _, _, err := identity.ParseDID(string(d)); err != nil {
		return 0, &TransferError{ID: t.ID, Kind: ErrInvalidTransfer, Detail: err.Error()}
	}
	i := int32(len(s.dids))
	s.dids = append(s.dids, d)
	s.didIdx[d] = i
	return i, nil
}

type acc struct {
	sent, received int64
	sentN, recvN   int
}

func (s *scan) netting(transfers []clearing.Transfer) (Netting, error) {
	nd := len(s.dids)
	accs := make([][]acc, len(s.curs))
	tot := make([]Totals, len(s.curs))
	for c := range accs {
		accs[c] = make([]acc, nd)
		tot[c].Currency = s.curs[c]
	}
	for i := range transfers {
		x := s.idx[i]
		u := transfers[i].Amount.Units()
		a, f, r := &tot[x.cur], &accs[x.cur][x.from], &accs[x.cur][x.to]
		if a.Volume > math.MaxInt64-u || f.sent > math.MaxInt64-u || r.received > math.MaxInt64-u {
			return Netting{}, &TransferError{ID: transfers[i].ID, Kind: ErrOverflow, Detail: "a sum of " + s.curs[x.cur].Code + " amounts leaves int64"}
		}
		a.Volume += u
		a.Transfers++
		f.sent += u
		f.sentN++
		r.received += u
		r.recvN++
	}
	// Deterministic order: currencies by code, DIDs ascending.
	curOrder := make([]int, len(s.curs))
	for i := range curOrder {
		curOrder[i] = i
	}
	slices.SortFunc(curOrder, func(x, y int) int { return cmp.Compare(s.curs[x].Code, s.curs[y].Code) })
	didOrder := make([]int32, nd)
	for i := range didOrder {
		didOrder[i] = int32(i)
	}
	slices.SortFunc(didOrder, func(x, y int32) int { return cmp.Compare(s.dids[x], s.dids[y]) })

	n := Netting{Currencies: make([]Totals, 0, len(s.curs)), Figures: make([]Figures, 0)}
	for _, c := range curOrder {
		t := tot[c]
		for _, d := range didOrder {
			a := accs[c][d]
			if a.sentN == 0 && a.recvN == 0 {
				continue
			}
			net := a.received - a.sent // both in [0, MaxInt64]: cannot overflow
			if net < 0 {
				t.NetDebit -= net // Σ debits ≤ Σ sent = Volume: cannot overflow
			}
			n.Figures = append(n.Figures, Figures{Currency: t.Currency.Code, DID: s.dids[d],
				Sent: a.sent, Received: a.received, Net: net, SentCount: a.sentN, ReceivedCount: a.recvN})
		}
		n.Currencies = append(n.Currencies, t)
	}
	return n, nil
}

// Totals returns the totals of the currency with the given code.
func (n Netting) Totals(code string) (Totals, bool) {
	i, ok := slices.BinarySearchFunc(n.Currencies, code, func(t Totals, c string) int { return cmp.Compare(t.Currency.Code, c) })
	if !ok {
		return Totals{}, false
	}
	return n.Currencies[i], true
}

// Participant returns did's figures in the currency with the given code
// (false: it had no transfer in it).
func (n Netting) Participant(code string, did identity.DID) (Figures, bool) {
	i, ok := slices.BinarySearchFunc(n.Figures, Figures{Currency: code, DID: did}, compareFigures)
	if !ok {
		return Figures{}, false
	}
	return n.Figures[i], true
}

func compareFigures(x, y Figures) int {
	return cmp.Or(cmp.Compare(x.Currency, y.Currency), cmp.Compare(x.DID, y.DID))
}
