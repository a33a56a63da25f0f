package hub

import (
	"context"
	"errors"
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"strings"
	"time"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// settlementService serves icn.v1.SettlementService.
type settlementService struct {
	icnv1.UnimplementedSettlementServiceServer
	s *Server
}

// participantMethods may be called by a registered participant's node key
// as well as by operators and hub nodes.
var participantMethods = map[string]bool{
	icnv1.SettlementService_ListPeriods_FullMethodName:    true,
	icnv1.SettlementService_GetPeriod_FullMethodName:      true,
	icnv1.SettlementService_GetProofs_FullMethodName:      true,
	icnv1.SettlementService_MarkPaid_FullMethodName:       true,
	icnv1.SettlementService_ConfirmReceipt_FullMethodName: true,
	// A participant publishes its own trust attestations (SetTrust checks
	// that it is their author) and reads the edges and paths it is part of.
	icnv1.TrustService_SetTrust_FullMethodName:  true,
	icnv1.TrustService_ShowTrust_FullMethodName: true,
	icnv1.TrustService_TrustPath_FullMethodName: true,
}

func toPeriodInfo(p PeriodInfo) *icnv1.PeriodInfo {
	return &icnv1.PeriodInfo{Number: p.Number, State: p.State, OpenedAtUnixNano: p.OpenedAt, ClosedAtUnixNano: p.ClosedAt,
		DeadlineUnixNano: p.Deadline, Transfers: uint32(p.Transfers), Instructions: uint32(p.Instructions), Paid: uint32(p.Paid),
		Confirmed: uint32(p.Confirmed), Overdue: uint32(p.Overdue), Signatures: uint32(p.Signatures), Quorum: uint32(p.Quorum),
		ReportHash: p.ReportHash}
}

// periodError maps errors of the settlement reads to gRPC.
func (s *Server) periodError(p uint64, err error) error {
	if errors.Is(err, ErrPeriodNotClosed) {
		cur, _ := s.n.fsm.CurrentPeriod()
		if p == cur {
			return status.Errorf(codes.FailedPrecondition, "period %d is still open; it has no report until it closes (icn settlement close)", p)
		}
		return status.Errorf(codes.NotFound, "no closed period %d (the open period is %d)", p, cur)
	}
	return grpcError(err)
}

func (x *settlementService) ClosePeriod(ctx context.Context, r *icnv1.ClosePeriodRequest) (*icnv1.PeriodInfo, error) {
	if p := principalOf(ctx); p.role != roleOperator {
		return nil, status.Errorf(codes.PermissionDenied, "only an operator may close a period (%s is a %s)", p.did, p.role)
	}
	closed, err := x.s.n.ClosePeriod(ctx, r.GetPeriod(), r.GetRequestId())
	if err != nil {
		return nil, grpcError(err)
	}
	rec, ok, err := x.s.n.fsm.SettlementPeriod(closed)
	if err != nil || !ok {
		return nil, status.Errorf(codes.Internal, "period %d closed but its record cannot be read: %v", closed, err)
	}
	return toPeriodInfo(periodInfo(rec, time.Now())), nil
}

func (x *settlementService) ListPeriods(ctx context.Context, r *icnv1.ListPeriodsRequest) (*icnv1.ListPeriodsResponse, error) {
	if err := x.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	ps, err := x.s.n.Periods(ctx, time.Now())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &icnv1.ListPeriodsResponse{}
	for _, p := range ps {
		out.Periods = append(out.Periods, toPeriodInfo(p))
	}
	return out, nil
}

func (x *settlementService) GetPeriod(ctx context.Context, r *icnv1.GetPeriodRequest) (*icnv1.PeriodDetail, error) {
	if r.GetPeriod() == 0 {
		return nil, invalid("period is required (periods are numbered from 1; icn settlement list shows them)")
	}
	if err := x.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	now := time.Now()
	v, rec, ins, err := x.s.n.periodDetail(ctx, r.GetPeriod(), now)
	if err != nil {
		return nil, x.s.periodError(r.GetPeriod(), err)
	}
	_, canonical, err := x.s.n.Report(ctx, r.GetPeriod())
	if err != nil {
		return nil, x.s.periodError(r.GetPeriod(), err)
	}
	out := &icnv1.PeriodDetail{Info: toPeriodInfo(periodInfo(rec, now)), Report: canonical, Signatures: rec.GetSignatures(),
		HubNodes: rec.GetHubNodes(), Quorum: rec.GetQuorum(), Instructions: ins, Names: map[string]string{}}
	for _, f := range v.Report.Figures {
		if name, ok := v.Names[f.DID]; ok {
			out.Names[string(f.DID)] = name
		}
	}
	if fed := x.s.n.fsm.Federation(); fed.GetDid() == string(v.Report.Federation) && fed.GetName() != "" {
		out.Names[fed.GetDid()] = fed.GetName() // the pages head with it
	}
	return out, nil
}

func (x *settlementService) GetProofs(ctx context.Context, r *icnv1.GetProofsRequest) (*icnv1.GetProofsResponse, error) {
	if r.GetPeriod() == 0 {
		return nil, invalid("period is required")
	}
	coop, err := parseDID("coop", r.GetCoop())
	if err != nil {
		return nil, err
	}
	if p := principalOf(ctx); p.role == roleParticipant && p.did != coop {
		return nil, status.Errorf(codes.PermissionDenied, "%s may fetch only its own proofs, not %s's", p.did, coop)
	}
	if err := x.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	_, canonical, err := x.s.n.Report(ctx, r.GetPeriod())
	if err != nil {
		return nil, x.s.periodError(r.GetPeriod(), err)
	}
	rec, _, err := x.s.n.fsm.SettlementPeriod(r.GetPeriod())
	if err != nil {
		return nil, grpcError(err)
	}
	ts, proofs, err := x.s.n.reports.proofsFor(r.GetPeriod(), coop)
	if err != nil {
		return nil, x.s.periodError(r.GetPeriod(), err)
	}
	out := &icnv1.GetProofsResponse{Report: canonical, Signatures: rec.GetSignatures(), HubNodes: rec.GetHubNodes(), Quorum: rec.GetQuorum()}
	for i, t := range ts {
		tp := &icnv1.TransferProof{Transfer: fsm.TransferProto(t), Index: proofs[i].Index, Count: proofs[i].Count}
		for _, h := range proofs[i].Path {
			tp.Path = append(tp.Path, append([]byte(nil), h[:]...))
		}
		out.Proofs = append(out.Proofs, tp)
	}
	return out, nil
}

// confirm checks a confirmation on the leader, then proposes it; the state
// machine checks it again against the replicated state.
func (x *settlementService) confirm(ctx context.Context, kind string, r *icnv1.ConfirmationRequest) (*icnv1.SettlementInstruction, error) {
	sm := r.GetConfirmation()
	if sm == nil {
		return nil, invalid("confirmation is required: a settlement.Confirmation signed by the %s (icn settlement %s)", map[bool]string{true: "payer", false: "payee"}[kind == settlement.KindPaid], map[bool]string{true: "pay", false: "confirm"}[kind == settlement.KindPaid])
	}
	signed := identity.Signed{Payload: sm.GetPayload(), Signer: identity.DID(sm.GetSigner()), Signature: sm.GetSignature()}
	c, err := settlement.VerifyConfirmation(signed)
	if err != nil {
		return nil, invalid("confirmation: %v", err)
	}
	if c.Kind != kind {
		return nil, invalid("a %q confirmation cannot be sent to this call (want %q)", c.Kind, kind)
	}
	if p := principalOf(ctx); p.role == roleParticipant && p.did != signed.Signer {
		return nil, status.Errorf(codes.PermissionDenied, "%s may send only its own confirmations, not one signed by %s", p.did, signed.Signer)
	}
	cmd := &icnv1.Command{}
	if kind == settlement.KindPaid {
		cmd.Cmd = &icnv1.Command_MarkInstructionPaid{MarkInstructionPaid: &icnv1.MarkInstructionPaid{Confirmation: sm}}
	} else {
		cmd.Cmd = &icnv1.Command_ConfirmInstructionReceipt{ConfirmInstructionReceipt: &icnv1.ConfirmInstructionReceipt{Confirmation: sm}}
	}
	res, err := x.s.propose(ctx, r.GetRequestId(), cmd)
	if err != nil {
		return nil, err
	}
	return res.GetInstruction(), nil
}

func (x *settlementService) MarkPaid(ctx context.Context, r *icnv1.ConfirmationRequest) (*icnv1.SettlementInstruction, error) {
	return x.confirm(ctx, settlement.KindPaid, r)
}

func (x *settlementService) ConfirmReceipt(ctx context.Context, r *icnv1.ConfirmationRequest) (*icnv1.SettlementInstruction, error) {
	return x.confirm(ctx, settlement.KindReceived, r)
}

func (x *settlementService) SubmitReportSignature(ctx context.Context, r *icnv1.SubmitReportSignatureRequest) (*icnv1.SubmitReportSignatureResponse, error) {
	if p := principalOf(ctx); p.role != roleHubNode {
		return nil, status.Errorf(codes.PermissionDenied, "only hub nodes submit report signatures (%s is a %s)", p.did, p.role)
	}
	signer, err := parseDID("signer", r.GetSigner())
	if err != nil {
		return nil, err
	}
	if len(r.GetReportHash()) != 32 {
		return nil, invalid("report_hash must be 32 bytes, got %d", len(r.GetReportHash()))
	}
	if err := identity.VerifyDID(signer, identity.TagReport, r.GetReportHash(), r.GetSignature()); err != nil {
		return nil, invalid("report signature: %v", err)
	}
	res, err := x.s.propose(ctx, signatureRequestID(r.GetPeriod(), signer), &icnv1.Command{Cmd: &icnv1.Command_AddReportSignature{
		AddReportSignature: &icnv1.AddReportSignature{Period: r.GetPeriod(), ReportHash: r.GetReportHash(), Signer: string(signer), Signature: r.GetSignature()}}})
	if err != nil {
		return nil, err
	}
	return &icnv1.SubmitReportSignatureResponse{Repeat: res.GetRepeat()}, nil
}

// forwardSignature is the node's forwarder when it serves a control plane:
// it sends its report signatures to the leader's SubmitReportSignature.
func (s *Server) forwardSignature(ctx context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	sig := cmd.GetAddReportSignature()
	if sig == nil {
		return nil, fmt.Errorf("forward %T: only report signatures are forwarded", cmd.GetCmd())
	}
	_, addr, ok := s.n.Leader()
	if !ok || addr == "" {
		return nil, ErrNoLeader
	}
	conn, err := s.conn(addr)
	if err != nil {
		return nil, fmt.Errorf("reach leader at %s: %w", addr, err)
	}
	resp, err := icnv1.NewSettlementServiceClient(conn).SubmitReportSignature(ctx, &icnv1.SubmitReportSignatureRequest{
		Period: sig.GetPeriod(), ReportHash: sig.GetReportHash(), Signer: sig.GetSigner(), Signature: sig.GetSignature()})
	if err != nil {
		// A refusal comes back as "<code>: <message>"; hand the code to the signer.
		st := status.Convert(err)
		if code, msg, ok := strings.Cut(st.Message(), ": "); ok && st.Code() != codes.Unavailable && !strings.Contains(code, " ") {
			return &icnv1.CommandResult{ErrorCode: code, ErrorMessage: msg}, nil
		}
		return nil, err
	}
	return &icnv1.CommandResult{Repeat: resp.GetRepeat()}, nil
}
