package dataplane

import (
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// maxStatements bounds one StatementQuery answer; the co-op asks again
// from the last period it got.
const maxStatements = 32

// statements answers a co-op's StatementQuery from this node's state: its
// part of every period after q.AfterPeriod whose report is final.
func (d *Plane) statements(coop identity.DID, q *icnv1.StatementQuery) *icnv1.Envelope {
	out := &icnv1.Statements{}
	views, err := d.n.FinalPeriods(d.ctx, q.GetAfterPeriod(), maxStatements, time.Now())
	if err != nil {
		return errorReply(ReplyUnavailable, err.Error())
	}
	for _, v := range views {
		out.Statements = append(out.Statements, statementOf(v, coop))
	}
	return &icnv1.Envelope{Body: &icnv1.Envelope_Statements{Statements: out}}
}

// statementOf cuts a co-op's statement out of a period's view.
func statementOf(v settlement.View, coop identity.DID) *icnv1.Statement {
	r := v.Report
	hash := r.Hash()
	st := &icnv1.Statement{Period: r.Period, State: v.State, OpenedAtUnixNano: r.OpenedAt, ClosedAtUnixNano: r.ClosedAt,
		ReportHash: hash[:], MerkleRoot: r.MerkleRoot[:], Signatures: uint32(len(v.Signatures)), Quorum: uint32(v.Quorum),
		DeadlineUnixNano: v.Deadline}
	scale := map[string]money.Currency{}
	for _, c := range r.Currencies {
		scale[c.Currency.Code] = c.Currency
	}
	dec := func(units int64, code string) string { return money.FromUnits(units, scale[code]).String() }
	for _, f := range r.Figures {
		if f.DID == coop {
			st.Figures = append(st.Figures, &icnv1.StatementFigures{Currency: f.Currency, Sent: dec(f.Sent, f.Currency),
				Received: dec(f.Received, f.Currency), Net: dec(f.Net, f.Currency),
				SentCount: uint32(f.SentCount), ReceivedCount: uint32(f.ReceivedCount)})
		}
	}
	for i, in := range r.Instructions {
		if in.From != coop && in.To != coop {
			continue
		}
		si := &icnv1.StatementInstruction{Index: uint32(i), Currency: in.Currency, From: string(in.From), To: string(in.To),
			Amount: dec(in.Amount, in.Currency)}
		if i < len(v.Statuses) {
			s := v.Statuses[i]
			si.Paid, si.Confirmed, si.Overdue, si.Method, si.Reference = s.Paid, s.Confirmed, s.Overdue, s.Method, s.Reference
		}
		st.Instructions = append(st.Instructions, si)
	}
	return st
}
