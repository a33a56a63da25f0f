package settlement

import "github.com/icn-coop/icn/identity"

// Period states as a treasurer sees them.
const (
	StateOpen    = "open"    // transfers still land in it
	StateClosed  = "closed"  // closed, report not yet signed by a quorum of hub nodes
	StateFinal   = "final"   // report signed by a quorum; instructions outstanding
	StateSettled = "settled" // every instruction confirmed by its payee
)

// Settlement methods an instruction can be paid by.
const (
	MethodHoursTransfer = "hours_transfer"
	MethodAssetSwap     = "asset_swap"
	MethodFiat          = "fiat"
)

// InstructionStatus is how far one settlement instruction has got: marked
// paid by the payer's treasurer, then confirmed by the payee's.
type InstructionStatus struct {
	Paid        bool
	PaidAt      int64 // unix ns; 0 until paid
	Method      string
	Reference   string
	Confirmed   bool
	ConfirmedAt int64 // unix ns; 0 until confirmed
	// Overdue: not confirmed by the period's settlement deadline.
	Overdue bool
}

// View is everything a treasurer sees of one closed period: the report, the
// hub nodes' signatures with the node list and quorum to check them against,
// the status of each instruction, and participant names for display. The
// hub builds it; renderers (HTML, CSV, JSON) and the CLI only read it.
type View struct {
	Report     Report
	State      string // StateClosed, StateFinal or StateSettled
	Signatures []Signature
	HubNodes   []identity.DID // voting hub nodes when the period closed
	Quorum     int            // signatures needed for the report to be final
	// Statuses is parallel to Report.Instructions.
	Statuses []InstructionStatus
	// Deadline: unix ns by which every instruction should be confirmed (0: none).
	Deadline int64
	// Names maps participant DIDs to their registered names (may be partial).
	Names map[identity.DID]string
}
