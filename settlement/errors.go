package settlement

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is. Every error this package returns wraps
// one of them (through TransferError, InclusionError, FigureError or %w).
var (
	// ErrInvalidTransfer: a transfer cannot be part of a period's settlement
	// (not committed, period 0 or different from the others, empty or too long
	// id, amount ≤ 0, from == to, malformed DID or currency, a currency code
	// used with two scales).
	ErrInvalidTransfer = errors.New("settlement: invalid transfer")
	// ErrDuplicate: two transfers share an id.
	ErrDuplicate = errors.New("settlement: duplicate transfer id")
	// ErrOverflow: a sum of amounts leaves int64.
	ErrOverflow = errors.New("settlement: amount overflow")
	// ErrUnknownTransfer: Tree.Proof was asked for an id the tree does not hold.
	ErrUnknownTransfer = errors.New("settlement: transfer not in the tree")
	// ErrInvalidReport: a report is malformed, not canonical or not
	// internally consistent (see Report.Check).
	ErrInvalidReport = errors.New("settlement: invalid report")
	// ErrInvalidArgument: a caller passed an unusable argument (quorum,
	// node list, co-op DID, currency set).
	ErrInvalidArgument = errors.New("settlement: invalid argument")
	// ErrInstructionsDiffer: the instructions recorded when a period closed
	// are not the ones its transfers and settlement rules give (a node whose
	// state diverged; it must not sign).
	ErrInstructionsDiffer = errors.New("settlement: recorded instructions differ from the report's")

	// The kinds of InclusionError (VerifyCoop).

	// ErrForeignTransfer: a transfer in the co-op's list neither comes from
	// nor goes to the co-op.
	ErrForeignTransfer = errors.New("settlement: transfer does not involve the co-op")
	// ErrWrongPeriod: a transfer in the co-op's list committed in another period.
	ErrWrongPeriod = errors.New("settlement: transfer belongs to another period")
	// ErrNoProof: no inclusion proof was given for a transfer.
	ErrNoProof = errors.New("settlement: no inclusion proof")
	// ErrNotIncluded: the proof does not show the transfer under the report's root.
	ErrNotIncluded = errors.New("settlement: transfer not included under the report's Merkle root")

	// ErrFigures: the report's figures for a co-op differ from what the
	// co-op's own transfers sum to (see FigureError).
	ErrFigures = errors.New("settlement: report figures differ from the co-op's transfers")
)

// TransferError says why a transfer was refused. Kind is ErrInvalidTransfer,
// ErrDuplicate or ErrOverflow.
type TransferError struct {
	ID     string
	Kind   error
	Detail string
}

func (e *TransferError) Error() string {
	return fmt.Sprintf("%v: transfer %.140q: %s", e.Kind, e.ID, e.Detail)
}

// Unwrap returns the kind.
func (e *TransferError) Unwrap() error { return e.Kind }

// InclusionError says why one of a co-op's transfers is not shown to be part
// of a report. Kind is ErrForeignTransfer, ErrWrongPeriod, ErrNoProof or
// ErrNotIncluded.
type InclusionError struct {
	ID     string
	Kind   error
	Detail string
}

func (e *InclusionError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v: transfer %.140q", e.Kind, e.ID)
	}
	return fmt.Sprintf("%v: transfer %.140q: %s", e.Kind, e.ID, e.Detail)
}

// Unwrap returns the kind.
func (e *InclusionError) Unwrap() error { return e.Kind }

// FigureError is one figure of a co-op that the report states differently
// from the co-op's own transfers. Field is "sent", "received", "net",
// "sent_count" or "received_count"; amounts are in minor units.
type FigureError struct {
	Currency string
	Field    string
	Reported int64
	Computed int64
}

func (e *FigureError) Error() string {
	return fmt.Sprintf("%v: %s %s: report says %d, the co-op's transfers give %d",
		ErrFigures, e.Currency, e.Field, e.Reported, e.Computed)
}

// Unwrap returns ErrFigures.
func (e *FigureError) Unwrap() error { return ErrFigures }

func invalidReport(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidReport}, args...)...)
}
