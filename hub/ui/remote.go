package ui

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// RemoteSource is a Source over a hub cluster's control plane
// (icn.v1.SettlementService: ListPeriods and GetPeriod), as the caller's
// key is allowed to read it: an operator's or a registered participant's
// (a co-op treasurer's). `icn settlement ui` serves the pages from it, so
// the pages show exactly what `icn settlement show` shows to the same key.
// Every read is linearizable (no stale reads).
func RemoteSource(c icnv1.SettlementServiceClient) Source { return remoteSource{c} }

type remoteSource struct{ c icnv1.SettlementServiceClient }

func (s remoteSource) Periods(ctx context.Context) ([]settlement.PeriodSummary, error) {
	resp, err := s.c.ListPeriods(ctx, &icnv1.ListPeriodsRequest{})
	if err != nil {
		return nil, rpcError(err)
	}
	out := make([]settlement.PeriodSummary, 0, len(resp.GetPeriods()))
	for _, p := range resp.GetPeriods() {
		out = append(out, settlement.PeriodSummary{Period: p.GetNumber(), State: p.GetState(), OpenedAt: p.GetOpenedAtUnixNano(),
			ClosedAt: p.GetClosedAtUnixNano(), Deadline: p.GetDeadlineUnixNano(), Transfers: int(p.GetTransfers()),
			Instructions: int(p.GetInstructions()), Paid: int(p.GetPaid()), Confirmed: int(p.GetConfirmed()), Overdue: int(p.GetOverdue())})
	}
	return out, nil
}

func (s remoteSource) View(ctx context.Context, period uint64) (settlement.View, error) {
	d, err := s.c.GetPeriod(ctx, &icnv1.GetPeriodRequest{Period: period})
	if err != nil {
		return settlement.View{}, rpcError(err)
	}
	return ViewFromDetail(d)
}

// rpcError maps a control-plane error to the errors Handler answers: no
// such closed period (NotFound; FailedPrecondition for the open period) to
// ErrNotFound, a refused key to ErrForbidden, no node answering to
// ErrUnavailable. The status stays in the chain for the log.
func rpcError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var kind error
	switch st.Code() {
	case codes.NotFound, codes.FailedPrecondition:
		kind = ErrNotFound
	case codes.PermissionDenied, codes.Unauthenticated:
		kind = ErrForbidden
	case codes.Unavailable, codes.DeadlineExceeded:
		kind = ErrUnavailable
	default:
		return err
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// ViewFromDetail turns a GetPeriod answer into the settlement.View the
// renderers take. The figures and instructions come from the canonical
// report bytes (the source of truth); each instruction status must belong
// to the report's instruction of the same index, or the answer is refused.
func ViewFromDetail(d *icnv1.PeriodDetail) (settlement.View, error) {
	r, err := settlement.ParseReport(d.GetReport())
	if err != nil {
		return settlement.View{}, fmt.Errorf("the hub sent an invalid report: %w", err)
	}
	if p := d.GetInfo().GetNumber(); p != 0 && p != r.Period {
		return settlement.View{}, fmt.Errorf("the hub sent the report of period %d for period %d", r.Period, p)
	}
	ins := d.GetInstructions()
	if len(ins) != len(r.Instructions) {
		return settlement.View{}, fmt.Errorf("the hub sent %d instruction statuses for the report's %d instructions of period %d",
			len(ins), len(r.Instructions), r.Period)
	}
	v := settlement.View{Report: r, State: d.GetInfo().GetState(), Quorum: int(d.GetQuorum()), Deadline: d.GetInfo().GetDeadlineUnixNano(),
		Statuses: make([]settlement.InstructionStatus, len(ins)), Names: make(map[identity.DID]string, len(d.GetNames()))}
	for _, s := range d.GetSignatures() {
		v.Signatures = append(v.Signatures, settlement.Signature{Signer: identity.DID(s.GetSigner()), Sig: s.GetSignature()})
	}
	for _, n := range d.GetHubNodes() {
		v.HubNodes = append(v.HubNodes, identity.DID(n))
	}
	for k, n := range d.GetNames() {
		v.Names[identity.DID(k)] = n
	}
	for i, in := range ins {
		ri := r.Instructions[i]
		if int(in.GetIndex()) != i || in.GetCurrency() != ri.Currency || in.GetFrom() != string(ri.From) || in.GetTo() != string(ri.To) ||
			in.GetAmountUnits() != ri.Amount {
			return settlement.View{}, fmt.Errorf("the hub sent a status for instruction %d of period %d that differs from the report's instruction %d",
				in.GetIndex(), r.Period, i)
		}
		v.Statuses[i] = settlement.InstructionStatus{Paid: in.GetPaid(), PaidAt: in.GetPaidAtUnixNano(), Method: in.GetMethod(),
			Reference: in.GetReference(), Confirmed: in.GetConfirmed(), ConfirmedAt: in.GetConfirmedAtUnixNano(), Overdue: in.GetOverdue()}
	}
	return v, nil
}
