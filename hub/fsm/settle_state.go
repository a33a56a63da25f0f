package fsm

import (
	"bytes"
	"encoding/hex"

	"github.com/hashicorp/raft"
	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
	"slices"
)

// settlementStore is the part of the records that settlement commands write.
type settlementStore interface {
	PutSettlement(p *icnv1.SettlementPeriod) error
	GetSettlement(n uint64) (*icnv1.SettlementPeriod, bool, error)
	PutInstruction(in *icnv1.SettlementInstruction) error
	GetInstruction(period uint64, idx uint32) (*icnv1.SettlementInstruction, bool, error)
}

const (
	settlementKindPaid     = settlement.KindPaid
	settlementKindReceived = settlement.KindReceived
)

// setVoters records the voting servers of an applied raft configuration.
func (s *state) setVoters(c raft.Configuration) {
	var v []identity.DID
	for _, srv := range c.Servers {
		if srv.Suffrage == raft.Voter {
			v = append(v, identity.DID(srv.ID))
		}
	}
	slices.Sort(v)
	s.voters = v
}

// quorumOf is a majority of n nodes.
func quorumOf(n int) int { return n/2 + 1 }

// recordSettlement writes the settlement record and the instructions of the
// period OpenPeriod just closed: plan's, computed by planSettlement from the
// period's positions before the book moved on. The record keeps the rules
// they were computed under and the report version, so that each node's
// report (built outside Apply, with its Merkle root) carries exactly these
// instructions and rebuilds to the same bytes later.
func (s *state) recordSettlement(st store, sum clearing.PeriodSummary, plan settlementPlan, deadlineAfter int64) error {
	opened, closed := sum.OpenedAt, sum.ClosedAt
	if opened == 0 && s.fed != nil {
		opened = s.fed.InitAt // period 1 opens with the federation
	}
	opened = min(opened, closed) // leaders' clocks may disagree; a header needs opened ≤ closed
	rec := &icnv1.SettlementPeriod{Number: sum.Number, OpenedAtUnixNano: opened, ClosedAtUnixNano: closed,
		Quorum: uint32(quorumOf(len(s.voters))), Transfers: uint32(sum.Transfers), ReportVersion: settlement.ReportVersion}
	if deadlineAfter > 0 {
		rec.DeadlineUnixNano = closed + deadlineAfter
	}
	if len(s.voters) == 0 {
		rec.Quorum = 0 // no configuration seen: nobody can sign (never happens under raft)
	}
	for _, v := range s.voters {
		rec.HubNodes = append(rec.HubNodes, string(v))
	}
	for _, r := range plan.policy {
		rec.Settlement = append(rec.Settlement, ruleToProto(r))
	}
	var cs money.Currencies
	if s.fed != nil {
		cs = s.fed.Currencies
	}
	for i, in := range plan.instructions {
		if err := st.PutInstruction(instructionProto(sum.Number, i, in, cs)); err != nil {
			return err
		}
		rec.Instructions++
	}
	return st.PutSettlement(rec)
}

// closedPeriod reads the settlement record of a closed period.
func (s *state) closedPeriod(st store, n uint64) (*icnv1.SettlementPeriod, error) {
	rec, ok, err := st.GetSettlement(n)
	if err != nil {
		return nil, err
	}
	if !ok {
		cur, _ := s.book.Period()
		return nil, refuse(CodeUnknownPeriod, "period %d is not a closed period (the open period is %d)", n, cur)
	}
	return rec, nil
}

func HasSigner(rec *icnv1.SettlementPeriod, d string) bool {
	for _, sg := range rec.GetSignatures() {
		if sg.GetSigner() == d {
			return true
		}
	}
	return false
}

// addReportSignature records a hub node's signature over a period's report
// hash. The signature is verified here (deterministically) as well as on the
// leader before proposing.
func (s *state) addReportSignature(st store, c *icnv1.AddReportSignature) (*icnv1.CommandResult, error) {
	rec, err := s.closedPeriod(st, c.GetPeriod())
	if err != nil {
		return nil, err
	}
	signer, _, err := identity.ParseDID(c.GetSigner())
	if err != nil {
		return nil, refuse(CodeInvalidArgument, "signer: %v", err)
	}
	if !slices.Contains(rec.GetHubNodes(), string(signer)) {
		return nil, refuse(CodeNotHubNode, "%s was not a voting hub node when period %d closed", signer, rec.GetNumber())
	}
	if len(c.GetReportHash()) != 32 {
		return nil, refuse(CodeInvalidArgument, "report_hash must be 32 bytes, got %d", len(c.GetReportHash()))
	}
	if err := identity.VerifyDID(signer, identity.TagReport, c.GetReportHash(), c.GetSignature()); err != nil {
		return nil, refuse(CodeBadSignature, "report signature by %s: %v", signer, err)
	}
	if len(rec.ReportHash) != 0 && !bytes.Equal(rec.ReportHash, c.GetReportHash()) {
		rec.RefusedSignatures++
		if err := st.PutSettlement(rec); err != nil {
			return nil, err
		}
		return nil, refuse(CodeReportMismatch, "period %d: %s signed report %s, but the period's report is %s: this node's state diverges",
			rec.GetNumber(), signer, hex.EncodeToString(c.GetReportHash()), hex.EncodeToString(rec.ReportHash))
	}
	if HasSigner(rec, string(signer)) {
		return &icnv1.CommandResult{Repeat: true}, nil
	}
	rec.ReportHash = c.GetReportHash()
	rec.Signatures = append(rec.Signatures, &icnv1.ReportSignature{Signer: string(signer), Signature: c.GetSignature()})
	return &icnv1.CommandResult{}, st.PutSettlement(rec)
}

// confirmInstruction applies a payer's MarkInstructionPaid (kind paid) or a
// payee's ConfirmInstructionReceipt (kind received). The signed
// confirmation is re-verified here; the instruction must match it exactly.
func (s *state) confirmInstruction(st store, kind string, sm *icnv1.SignedMessage, at int64) (*icnv1.CommandResult, error) {
	if sm == nil {
		return nil, refuse(CodeInvalidArgument, "confirmation is required")
	}
	signed := identity.Signed{Payload: sm.GetPayload(), Signer: identity.DID(sm.GetSigner()), Signature: sm.GetSignature()}
	conf, err := settlement.DecodeConfirmation(signed.Payload)
	if err != nil {
		return nil, refuse(CodeInvalidArgument, "%v", err)
	}
	if conf.Kind != kind {
		return nil, refuse(CodeInvalidArgument, "a %q confirmation cannot be sent as %q", conf.Kind, kind)
	}
	if signed.Signer != conf.Signer() {
		who := "payer"
		if kind == settlementKindReceived {
			who = "payee"
		}
		return nil, refuse(CodeWrongSigner, "only the %s %s may sign this confirmation, not %s", who, conf.Signer(), signed.Signer)
	}
	if err := signed.Verify(identity.TagSettlementConfirmation); err != nil {
		return nil, refuse(CodeBadSignature, "confirmation signature by %s: %v", signed.Signer, err)
	}
	if s.fed == nil || conf.Federation != s.fed.DID {
		return nil, refuse(CodeInvalidArgument, "confirmation is for federation %s, not this one", conf.Federation)
	}
	rec, err := s.closedPeriod(st, conf.Period)
	if err != nil {
		return nil, err
	}
	if len(rec.GetSignatures()) < int(rec.GetQuorum()) || len(rec.GetSignatures()) == 0 {
		return nil, refuse(CodeNotFinal, "period %d's report has %d of %d hub signatures; confirm once it is final",
			rec.GetNumber(), len(rec.GetSignatures()), rec.GetQuorum())
	}
	if !bytes.Equal(rec.GetReportHash(), conf.ReportHash[:]) {
		return nil, refuse(CodeReportMismatch, "confirmation is for report %x, period %d's report is %x",
			conf.ReportHash[:], rec.GetNumber(), rec.GetReportHash())
	}
	if conf.Instruction >= int(rec.GetInstructions()) {
		return nil, refuse(CodeUnknownInstruction, "period %d has %d instructions; there is no instruction %d",
			rec.GetNumber(), rec.GetInstructions(), conf.Instruction)
	}
	in, ok, err := st.GetInstruction(rec.GetNumber(), uint32(conf.Instruction))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, refuse(CodeUnknownInstruction, "period %d has no instruction %d", rec.GetNumber(), conf.Instruction)
	}
	if in.GetCurrency() != conf.Currency || in.GetFrom() != string(conf.From) || in.GetTo() != string(conf.To) || in.GetAmount() != conf.Amount {
		return nil, refuse(CodeInvalidArgument, "confirmation (%s %s from %s to %s) does not match instruction %d (%s %s from %s to %s)",
			conf.Amount, conf.Currency, conf.From, conf.To, conf.Instruction, in.GetAmount(), in.GetCurrency(), in.GetFrom(), in.GetTo())
	}
	switch kind {
	case settlementKindPaid:
		if in.GetPaid() {
			return &icnv1.CommandResult{Repeat: true, Instruction: in}, nil
		}
		if err := checkMethod(in, conf.Method, conf.Reference); err != nil {
			return nil, err
		}
		in.Paid, in.PaidAtUnixNano, in.Method, in.Reference, in.PaidBy = true, at, conf.Method, conf.Reference, sm
		rec.Paid++
	default:
		if !in.GetPaid() {
			return nil, refuse(CodeNotPaid, "instruction %d of period %d is not marked paid yet; the payer %s marks it paid first",
				conf.Instruction, rec.GetNumber(), in.GetFrom())
		}
		if in.GetConfirmed() {
			return &icnv1.CommandResult{Repeat: true, Instruction: in}, nil
		}
		if err := checkMethod(in, conf.Method, in.GetReference()); err != nil {
			return nil, err // the payee confirms the mode, and the payer gave the reference
		}
		in.Confirmed, in.ConfirmedAtUnixNano, in.ConfirmedBy = true, at, sm
		rec.Confirmed++
		// The payment settles what the close carried into the positions.
		if err := s.book.Settle(identity.DID(in.GetFrom()), identity.DID(in.GetTo()), in.GetCurrency(), in.GetAmountUnits()); err != nil {
			return nil, refuse(CodeInvalidArgument, "%v", err)
		}
	}
	if err := st.PutInstruction(in); err != nil {
		return nil, err
	}
	if err := st.PutSettlement(rec); err != nil {
		return nil, err
	}
	return &icnv1.CommandResult{Instruction: in}, nil
}
