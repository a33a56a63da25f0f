package hub

import (
	"context"
	"github.com/icn-coop/icn/hub/fsm"
	"slices"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type federationService struct {
	icnv1.UnimplementedFederationServiceServer
	s *Server
}

func (f *federationService) RegisterParticipant(ctx context.Context, r *icnv1.RegisterParticipantRequest) (*icnv1.Participant, error) {
	d, err := parseDID("did", r.GetDid())
	if err != nil {
		return nil, err
	}
	res, err := f.s.propose(ctx, r.GetRequestId(), &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{
		RegisterParticipant: &icnv1.RegisterParticipant{Did: string(d), Name: r.GetName(), Kind: r.GetKind()}}})
	if err != nil {
		return nil, err
	}
	return res.GetParticipant(), nil
}

func (f *federationService) GetParticipant(ctx context.Context, r *icnv1.GetParticipantRequest) (*icnv1.Participant, error) {
	d, err := parseDID("did", r.GetDid())
	if err != nil {
		return nil, err
	}
	if err := f.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	p, ok := f.s.n.fsm.Participant(d)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no participant %s in this federation", d)
	}
	return p, nil
}

func (f *federationService) ListParticipants(ctx context.Context, r *icnv1.ListParticipantsRequest) (*icnv1.ListParticipantsResponse, error) {
	if err := f.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	return &icnv1.ListParticipantsResponse{Participants: f.s.n.fsm.Participants()}, nil
}

func (f *federationService) SetParticipantStatus(ctx context.Context, r *icnv1.SetParticipantStatusRequest) (*icnv1.Participant, error) {
	d, err := parseDID("did", r.GetDid())
	if err != nil {
		return nil, err
	}
	res, err := f.s.propose(ctx, r.GetRequestId(), &icnv1.Command{Cmd: &icnv1.Command_SetParticipantStatus{
		SetParticipantStatus: &icnv1.SetParticipantStatus{Did: string(d), Status: r.GetStatus(), Reason: r.GetReason()}}})
	if err != nil {
		return nil, err
	}
	return res.GetParticipant(), nil
}

func (f *federationService) GetFederation(ctx context.Context, _ *icnv1.GetFederationRequest) (*icnv1.Federation, error) {
	if err := f.s.read(ctx, false); err != nil {
		return nil, err
	}
	return f.s.n.fsm.Federation(), nil
}

// SetSettlementRule replaces a currency's settlement rule (operators);
// periods that close afterwards settle by it.
func (f *federationService) SetSettlementRule(ctx context.Context, r *icnv1.SetSettlementRuleRequest) (*icnv1.Federation, error) {
	if r.GetRule() == nil {
		return nil, invalid("rule is required")
	}
	if _, err := fsm.RuleFromProto(r.GetRule()); err != nil {
		return nil, invalid("%v", err)
	}
	if _, err := f.s.propose(ctx, r.GetRequestId(), &icnv1.Command{Cmd: &icnv1.Command_SetSettlementRule{
		SetSettlementRule: &icnv1.SetSettlementRule{Rule: r.GetRule()}}}); err != nil {
		return nil, err
	}
	return f.s.n.fsm.Federation(), nil
}

type trustService struct {
	icnv1.UnimplementedTrustServiceServer
	s *Server
}

// SetTrust verifies the attestation's signature before proposing it: the
// state machine trusts the leader's check.
func (t *trustService) SetTrust(ctx context.Context, r *icnv1.SetTrustRequest) (*icnv1.TrustEdge, error) {
	sm := r.GetAttestation()
	if sm == nil {
		return nil, invalid("attestation is required")
	}
	signed := identity.Signed{Payload: sm.GetPayload(), Signer: identity.DID(sm.GetSigner()), Signature: sm.GetSignature()}
	a, err := trust.VerifyAttestation(signed)
	if err != nil {
		return nil, invalid("attestation: %v", err)
	}
	if p := principalOf(ctx); p.role == roleParticipant && a.From != p.did {
		return nil, status.Errorf(codes.PermissionDenied, "%s is a participant: it may publish only its own attestations "+
			"(from its DID, signed with its key), not one from %s", p.did, a.From)
	}
	res, err := t.s.propose(ctx, r.GetRequestId(), &icnv1.Command{Cmd: &icnv1.Command_SetTrust{SetTrust: &icnv1.SetTrust{Attestation: sm}}})
	if err != nil {
		return nil, err
	}
	return res.GetTrustEdge(), nil
}

func (t *trustService) ShowTrust(ctx context.Context, r *icnv1.ShowTrustRequest) (*icnv1.ShowTrustResponse, error) {
	d, err := parseDID("did", r.GetDid())
	if err != nil {
		return nil, err
	}
	if err := ownTrust(ctx, d); err != nil {
		return nil, err
	}
	if err := t.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	out, in, err := t.s.n.fsm.TrustEdges(d)
	if err != nil {
		return nil, grpcError(err)
	}
	return &icnv1.ShowTrustResponse{Outgoing: out, Incoming: in}, nil
}

func (t *trustService) TrustPath(ctx context.Context, r *icnv1.TrustPathRequest) (*icnv1.TrustPathResponse, error) {
	from, err := parseDID("from", r.GetFrom())
	if err != nil {
		return nil, err
	}
	to, err := parseDID("to", r.GetTo())
	if err != nil {
		return nil, err
	}
	if err := ownTrust(ctx, from, to); err != nil {
		return nil, err
	}
	if err := t.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	path, w, hops := t.s.n.fsm.TrustPath(from, to)
	out := &icnv1.TrustPathResponse{Weight: w.String(), Class: trust.ClassOf(w).String(), MaxHops: uint32(hops)}
	for _, d := range path {
		out.Path = append(out.Path, string(d))
	}
	return out, nil
}

// ownTrust lets a participant read only trust it is part of: its own edges,
// or a path from or to it. Operators and hub nodes read everything.
func ownTrust(ctx context.Context, dids ...identity.DID) error {
	p := principalOf(ctx)
	if p.role != roleParticipant || slices.Contains(dids, p.did) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s is a participant: it may read only the trust edges and paths it is part of", p.did)
}

type creditService struct {
	icnv1.UnimplementedCreditServiceServer
	s *Server
}

func (c *creditService) SetCreditPolicy(ctx context.Context, r *icnv1.SetCreditPolicyRequest) (*icnv1.CreditPolicy, error) {
	d, err := parseDID("did", r.GetDid())
	if err != nil {
		return nil, err
	}
	fed := c.s.n.fsm.Federation()
	var cur money.Currency
	for _, cs := range fed.GetCurrencies() {
		if cs.GetCode() == r.GetCurrency() {
			cur = money.Currency{Code: cs.GetCode(), Scale: int32(cs.GetScale())}
		}
	}
	if cur.Code == "" {
		return nil, invalid("currency %q is not cleared by this federation", r.GetCurrency())
	}
	amt, err := money.Parse(r.GetDebitCap(), cur)
	if err != nil {
		return nil, invalid("debit_cap: %v", err)
	}
	if amt.Sign() < 0 {
		return nil, invalid("debit_cap must not be negative (got %s)", r.GetDebitCap())
	}
	res, err := c.s.propose(ctx, r.GetRequestId(), &icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{
		SetCreditPolicy: &icnv1.SetCreditPolicy{Did: string(d), Currency: cur.Code, DebitCapUnits: amt.Units()}}})
	if err != nil {
		return nil, err
	}
	return res.GetCreditPolicy(), nil
}

func (c *creditService) GetCreditPolicy(ctx context.Context, r *icnv1.GetCreditPolicyRequest) (*icnv1.GetCreditPolicyResponse, error) {
	d, err := parseDID("did", r.GetDid())
	if err != nil {
		return nil, err
	}
	if err := c.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	ps, err := c.s.n.fsm.CreditPolicies(d)
	if err != nil {
		return nil, grpcError(err)
	}
	return &icnv1.GetCreditPolicyResponse{Policies: ps}, nil
}

type transferService struct {
	icnv1.UnimplementedTransferServiceServer
	s *Server
}

func (t *transferService) GetTransfer(ctx context.Context, r *icnv1.GetTransferRequest) (*icnv1.Transfer, error) {
	if r.GetId() == "" {
		return nil, invalid("id is required")
	}
	if err := t.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	tr, ok, err := t.s.n.fsm.Transfer(r.GetId())
	if err != nil {
		return nil, grpcError(err)
	}
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no transfer %q", r.GetId())
	}
	return tr, nil
}

func (t *transferService) ListPending(ctx context.Context, r *icnv1.ListPendingRequest) (*icnv1.ListPendingResponse, error) {
	if err := t.s.read(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	return &icnv1.ListPendingResponse{Transfers: t.s.n.fsm.Pending()}, nil
}

type clusterService struct {
	icnv1.UnimplementedClusterServiceServer
	s *Server
}

func (c *clusterService) Status(context.Context, *icnv1.ClusterStatusRequest) (*icnv1.ClusterStatus, error) {
	st, err := c.s.n.Status()
	return st, grpcError(err)
}

func (c *clusterService) Join(ctx context.Context, r *icnv1.JoinRequest) (*icnv1.ClusterStatus, error) {
	if err := c.s.n.Join(ctx, r); err != nil {
		return nil, grpcError(err)
	}
	return c.Status(ctx, nil)
}

func (c *clusterService) Remove(ctx context.Context, r *icnv1.RemoveRequest) (*icnv1.ClusterStatus, error) {
	d, err := parseDID("did", r.GetDid())
	if err != nil {
		return nil, err
	}
	if d == c.s.n.DID() {
		return nil, status.Error(codes.FailedPrecondition, "the leader cannot remove itself; transfer leadership first")
	}
	if err := c.s.n.Remove(ctx, d); err != nil {
		return nil, grpcError(err)
	}
	return c.Status(ctx, nil)
}

func (c *clusterService) TransferLeadership(ctx context.Context, r *icnv1.TransferLeadershipRequest) (*icnv1.ClusterStatus, error) {
	var d identity.DID
	if r.GetDid() != "" {
		var err error
		if d, err = parseDID("did", r.GetDid()); err != nil {
			return nil, err
		}
	}
	if err := c.s.n.TransferLeadership(ctx, d); err != nil {
		return nil, grpcError(err)
	}
	return c.Status(ctx, nil)
}
