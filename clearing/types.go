package clearing

import (
	"errors"
	"fmt"
	"maps"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrPeriod: OpenPeriod was asked for a number other than Period()+1.
	ErrPeriod = errors.New("clearing: period out of sequence")
	// ErrCorrupt: an invariant of the book is broken (bad snapshot, records
	// that disagree with memory, arithmetic that cannot happen).
	ErrCorrupt = errors.New("clearing: corrupt state")
)

// MaxIDLen is the longest transfer id, in bytes, that the book accepts.
const MaxIDLen = 128

// Reason is a rejection/abort reason code, shown to wallets.
type Reason string

// Reason codes. The last three (duplicate, modified_request, unknown_transfer)
// only appear as Outcome.Conflict; the others are stored in Transfer.Reason.
const (
	ReasonNone                 Reason = ""
	ReasonInvalidRequest       Reason = "invalid_request" // empty/too long id, amount <= 0, from == to, bad or mismatched currency
	ReasonUnknownParticipant   Reason = "unknown_participant"
	ReasonParticipantSuspended Reason = "participant_suspended"
	ReasonExpired              Reason = "expired"
	ReasonInsufficientTrust    Reason = "insufficient_trust"
	ReasonDebitCapExceeded     Reason = "debit_cap_exceeded" // also: an amount that would overflow a counter
	ReasonReceiverRejected     Reason = "receiver_rejected"
	ReasonCanceled             Reason = "canceled"             // operator/sender abort; the default abort reason
	ReasonReceiverUnavailable  Reason = "receiver_unavailable" // the receiving node could not be reached in time
	ReasonHubFailover          Reason = "hub_failover"         // a new hub leader found it prepared and could not finish it
	ReasonUnknownCoop          Reason = "unknown_coop"         // no hub on the way knows the receiving co-op

	ReasonDuplicate       Reason = "duplicate"        // Commit/Abort of a transfer already decided the other way
	ReasonModifiedRequest Reason = "modified_request" // Prepare repeats an id with different content
	ReasonUnknownTransfer Reason = "unknown_transfer" // Commit/Abort of an id the book never saw
)

// Known reports whether r is one of the non-empty reason codes above.
func (r Reason) Known() bool {
	switch r {
	case ReasonInvalidRequest, ReasonUnknownParticipant, ReasonParticipantSuspended, ReasonExpired,
		ReasonInsufficientTrust, ReasonDebitCapExceeded, ReasonReceiverRejected, ReasonCanceled,
		ReasonReceiverUnavailable, ReasonHubFailover, ReasonUnknownCoop,
		ReasonDuplicate, ReasonModifiedRequest, ReasonUnknownTransfer:
		return true
	}
	return false
}

// abortable reports whether r may be stored as the reason of an abort.
func (r Reason) abortable() bool {
	switch r {
	case ReasonNone, ReasonDuplicate, ReasonModifiedRequest, ReasonUnknownTransfer:
		return false
	}
	return r.Known()
}

// State is the state of a transfer. The zero State is not a valid state.
type State int

// Transfer states.
const (
	StatePrepared  State = iota + 1 // accepted, amount reserved, waiting for the receiver
	StateCommitted                  // final: positions moved
	StateAborted                    // final: was prepared, then aborted (expiry, reject, cancel)
	StateRejected                   // final: refused at Prepare; never reserved anything
)

var stateNames = [...]string{StatePrepared: "prepared", StateCommitted: "committed", StateAborted: "aborted", StateRejected: "rejected"}

func (s State) String() string {
	if s >= StatePrepared && s <= StateRejected {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Decided reports whether s is final (committed, aborted or rejected).
func (s State) Decided() bool { return s == StateCommitted || s == StateAborted || s == StateRejected }

// MarshalText writes the state's name; the zero State is written as "".
func (s State) MarshalText() ([]byte, error) {
	if s == 0 {
		return []byte{}, nil
	}
	if s < StatePrepared || s > StateRejected {
		return nil, fmt.Errorf("clearing: invalid transfer state %d", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText reads a state name written by MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = 0
		return nil
	}
	for i := StatePrepared; i <= StateRejected; i++ {
		if string(b) == stateNames[i] {
			*s = i
			return nil
		}
	}
	return fmt.Errorf("clearing: unknown transfer state %q", b)
}

// Transfer is the record of one transfer hop through this hub.
type Transfer struct {
	ID         string
	From, To   identity.DID // sending and receiving participant (co-op or federation) of this hop
	Amount     money.Amount // > 0, carries its currency
	IntentHash [32]byte     // hash of the signed intent; same id + different hash = modified_request
	State      State
	Reason     Reason // why rejected/aborted
	Period     uint64 // period it committed in (0 until committed)
	PreparedAt int64  // unix ns of the Prepare (also for a rejection)
	ExpiresAt  int64  // unix ns; a commit at or after it aborts with ReasonExpired
	DecidedAt  int64  // unix ns; 0 while prepared
}

// PrepareRequest is the content of a PrepareTransfer command.
type PrepareRequest struct {
	ID         string
	From, To   identity.DID
	Amount     money.Amount
	IntentHash [32]byte
	ExpiresAt  int64
}

// sameRequest reports whether req asks for exactly the transfer t records.
func sameRequest(t Transfer, req PrepareRequest) bool {
	return t.From == req.From && t.To == req.To && t.Amount == req.Amount &&
		t.IntentHash == req.IntentHash && t.ExpiresAt == req.ExpiresAt
}

// Env is what the book needs to know from the rest of the hub's state
// (registry, trust, credit policy). It must be deterministic for a given
// replicated state.
type Env interface {
	Participant(did identity.DID) (known, active bool)
	Trust(from, to identity.DID) uint32 // transitive trust in millionths (1_000_000 = 1.0)
	MinTrust() uint32
	// DebitCap is the effective net debit cap of did in currency; false = none
	// set (treated as a zero cap). A cap whose currency differs from the
	// transfer's (code or scale) makes the Prepare an invalid_request.
	DebitCap(did identity.DID, currency string) (money.Amount, bool)
}

// Records stores transfer records (the hub keeps them on disk; memory holds
// only pending ones). The book calls Put on every state change and Get when an
// id is not pending. Records must reflect exactly the commands applied to the
// book that uses them (see Restore).
type Records interface {
	Get(id string) (Transfer, bool, error)
	Put(t Transfer) error
}

// MemRecords is a map-backed Records for tests and small uses. The zero value
// is ready to use. Not safe for concurrent use.
type MemRecords struct {
	m map[string]Transfer
}

// NewMemRecords returns an empty MemRecords.
func NewMemRecords() *MemRecords { return &MemRecords{m: map[string]Transfer{}} }

// Get returns the record of id.
func (r *MemRecords) Get(id string) (Transfer, bool, error) {
	t, ok := r.m[id]
	return t, ok, nil
}

// Put stores t under t.ID, replacing any earlier record.
func (r *MemRecords) Put(t Transfer) error {
	if r.m == nil {
		r.m = map[string]Transfer{}
	}
	r.m[t.ID] = t
	return nil
}

// Len returns the number of records.
func (r *MemRecords) Len() int { return len(r.m) }

// Clone returns an independent copy.
func (r *MemRecords) Clone() *MemRecords { return &MemRecords{m: maps.Clone(r.m)} }

// Outcome is the result of a command.
type Outcome struct {
	Transfer Transfer // the record after the command (for a repeat: the stored record)
	Repeat   bool     // the command repeated an earlier one; nothing changed
	Conflict Reason   // set when the command could not apply and nothing was recorded (modified_request, unknown_transfer, duplicate)
}

// Position is a participant's position in one currency, in minor units: its
// gross Sent and Received in the current period, Reserved (the sum of its
// pending outgoing transfers) and Carried (its net debit of closed periods not
// yet settled).
type Position struct {
	DID      identity.DID `json:"did"`
	Currency string       `json:"currency"`
	Sent     int64        `json:"sent"`
	Received int64        `json:"received"`
	Reserved int64        `json:"reserved"`
	// Carried is the net debit (sent − received) of the closed periods not
	// yet settled; negative for a net creditor. OpenPeriod adds the closing
	// period's net debit to it (saturating at the int64 bounds); settlement
	// will reduce it.
	Carried int64 `json:"carried,omitempty"`
}

// Net is Received - Sent of the current period: positive for a net creditor.
func (p Position) Net() int64 { return p.Received - p.Sent }

// DebitPosition is Sent - Received of the current period.
func (p Position) DebitPosition() int64 { return p.Sent - p.Received }

// CapDebit is Carried + DebitPosition (saturating at the int64 bounds): the
// unsettled net debit across periods, which the cap limits together with
// Reserved (CapDebit + Reserved + amount ≤ cap).
func (p Position) CapDebit() int64 { return satAdd(p.Carried, p.DebitPosition()) }

// Bilateral is the sum of the transfers committed from From to To in one
// currency in the current period.
type Bilateral struct {
	Currency string       `json:"currency"`
	From     identity.DID `json:"from"`
	To       identity.DID `json:"to"`
	Amount   int64        `json:"amount"`
	Count    int          `json:"count"`
}

// PeriodSummary describes a closed period. Positions are as at the close,
// before the close moves the period's net debit into Carried: Sent and
// Received are the period's own, Carried is the unsettled debit of the earlier
// periods, and Reserved is included for information (reservations carry over).
type PeriodSummary struct {
	Number    uint64      `json:"number"`
	OpenedAt  int64       `json:"opened_at"`
	ClosedAt  int64       `json:"closed_at"`
	Positions []Position  `json:"positions"`
	Bilateral []Bilateral `json:"bilateral"`
	Transfers int         `json:"transfers"` // transfers committed in the period
}
