package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// PeriodInfo summarises one settlement period for listings (the treasurer
// UI's index, icn settlement list).
type PeriodInfo struct {
	Number       uint64
	State        string // settlement.StateOpen, StateClosed, StateFinal or StateSettled
	OpenedAt     int64  // unix ns
	ClosedAt     int64  // unix ns; 0 while open
	Deadline     int64  // unix ns; 0: none
	Transfers    int    // committed transfers (closed periods)
	Instructions int
	Paid         int
	Confirmed    int
	Overdue      int // instructions not confirmed by the deadline, as of the read
	Signatures   int
	Quorum       int
	ReportHash   []byte // nil until the first hub signature fixes it
}

// periodState derives a closed period's state from its record.
func periodState(rec *icnv1.SettlementPeriod) string {
	final := rec.GetQuorum() > 0 && len(rec.GetSignatures()) >= int(rec.GetQuorum())
	switch {
	case final && rec.GetConfirmed() == rec.GetInstructions():
		return settlement.StateSettled
	case final:
		return settlement.StateFinal
	}
	return settlement.StateClosed
}

// overdue reports whether an unconfirmed instruction is past the deadline at now.
func overdue(deadline int64, confirmed bool, now time.Time) bool {
	return deadline > 0 && !confirmed && now.UnixNano() >= deadline
}

func periodInfo(rec *icnv1.SettlementPeriod, now time.Time) PeriodInfo {
	p := PeriodInfo{Number: rec.GetNumber(), State: periodState(rec), OpenedAt: rec.GetOpenedAtUnixNano(),
		ClosedAt: rec.GetClosedAtUnixNano(), Deadline: rec.GetDeadlineUnixNano(), Transfers: int(rec.GetTransfers()),
		Instructions: int(rec.GetInstructions()), Paid: int(rec.GetPaid()), Confirmed: int(rec.GetConfirmed()),
		Signatures: len(rec.GetSignatures()), Quorum: int(rec.GetQuorum()), ReportHash: rec.GetReportHash()}
	if overdue(p.Deadline, false, now) {
		p.Overdue = p.Instructions - p.Confirmed
	}
	return p
}

// Periods lists the open period and every closed one, newest first, from
// this node's state (call ReadBarrier first for a current answer). now
// decides which instructions are overdue.
func (n *Node) Periods(_ context.Context, now time.Time) ([]PeriodInfo, error) {
	recs, err := n.fsm.SettlementPeriods()
	if err != nil {
		return nil, fmt.Errorf("list periods: %w", err)
	}
	cur, opened := n.fsm.CurrentPeriod()
	out := []PeriodInfo{{Number: cur, State: settlement.StateOpen, OpenedAt: opened}}
	for _, rec := range slices.Backward(recs) {
		out = append(out, periodInfo(rec, now))
	}
	return out, nil
}

// PeriodView returns everything a treasurer sees of closed period p, built
// from this node's state (call ReadBarrier first for a current answer):
// the report this node built, the hub signatures, and each instruction's
// status with Overdue computed at now. It fails with ErrPeriodNotClosed for
// the open period or one that never existed, and if this node's report
// differs from the one the hub nodes signed (this node's state diverged).
func (n *Node) PeriodView(ctx context.Context, p uint64, now time.Time) (settlement.View, error) {
	v, _, _, err := n.periodDetail(ctx, p, now)
	return v, err
}

// periodDetail is PeriodView with the record and instruction records.
func (n *Node) periodDetail(_ context.Context, p uint64, now time.Time) (settlement.View, *icnv1.SettlementPeriod, []*icnv1.SettlementInstruction, error) {
	b, err := n.reports.get(p)
	if err != nil {
		return settlement.View{}, nil, nil, err
	}
	rec, ok, err := n.fsm.SettlementPeriod(p)
	if err != nil {
		return settlement.View{}, nil, nil, err
	}
	if !ok {
		return settlement.View{}, nil, nil, fmt.Errorf("period %d: %w", p, ErrPeriodNotClosed)
	}
	if h := rec.GetReportHash(); len(h) != 0 && !bytes.Equal(h, b.hash[:]) {
		return settlement.View{}, nil, nil, fmt.Errorf("period %d: this node's report %s differs from the signed report %s: its state diverges",
			p, hex.EncodeToString(b.hash[:]), hex.EncodeToString(h))
	}
	ins, err := n.fsm.Instructions(p)
	if err != nil {
		return settlement.View{}, nil, nil, fmt.Errorf("period %d instructions: %w", p, err)
	}
	if len(ins) != len(b.report.Instructions) {
		return settlement.View{}, nil, nil, fmt.Errorf("period %d: %d recorded instructions, the report has %d", p, len(ins), len(b.report.Instructions))
	}
	v := settlement.View{Report: b.report, State: periodState(rec), Signatures: signatures(rec),
		Quorum: int(rec.GetQuorum()), Deadline: rec.GetDeadlineUnixNano(), Names: n.fsm.ParticipantNames(),
		Statuses: make([]settlement.InstructionStatus, len(ins))}
	for _, d := range rec.GetHubNodes() {
		v.HubNodes = append(v.HubNodes, identity.DID(d))
	}
	for i, in := range ins {
		ri := b.report.Instructions[i]
		if in.GetFrom() != string(ri.From) || in.GetTo() != string(ri.To) || in.GetAmountUnits() != ri.Amount || in.GetCurrency() != ri.Currency {
			return settlement.View{}, nil, nil, fmt.Errorf("period %d: recorded instruction %d differs from the report's", p, i)
		}
		v.Statuses[i] = settlement.InstructionStatus{Paid: in.GetPaid(), PaidAt: in.GetPaidAtUnixNano(), Method: in.GetMethod(),
			Reference: in.GetReference(), Confirmed: in.GetConfirmed(), ConfirmedAt: in.GetConfirmedAtUnixNano(),
			Overdue: overdue(v.Deadline, in.GetConfirmed(), now)}
		in.Overdue = v.Statuses[i].Overdue
	}
	return v, rec, ins, nil
}
