package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/fsm"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// retryUnavailable retries a call the cluster could not serve right now (a
// leader change under load) for up to 10 s: every write carries a request
// id, so a retry is safe.
func retryUnavailable(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // retry backoff
	}
}

// dialRetrying is grpcCluster.dial with retries of Unavailable.
func (g *grpcCluster) dialRetrying(t *testing.T, i int, key *identity.Key) *grpc.ClientConn {
	t.Helper()
	cfg, err := identity.TLSConfig(key, identity.Pin(g.keys[i].DID()))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(g.addrs[g.keys[i].DID()], grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithChainUnaryInterceptor(retryUnavailable))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestGRPCSettlement drives SettlementService through followers (forwarded
// to the leader) as operator and as participants: closing, signatures by
// every node through the control plane, reads, proofs, confirmations, and
// the refusals with their codes.
func TestGRPCSettlement(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	ctx := context.Background()
	g.leader()
	coops := g.setupCoops(ctx, 3, 1_000_000)
	a, b := coops[0], coops[1]
	exp := time.Now().Add(time.Hour).UnixNano()
	for i, units := range []int64{700, 300} {
		id := fmt.Sprintf("g%d", i)
		g.propose(ctx, cmdPrepare(id, a.DID(), b.DID(), units, exp))
		g.propose(ctx, cmdCommit(id))
	}
	li, _ := g.leader()
	fi := follower(li)
	op := icnv1.NewSettlementServiceClient(g.dialRetrying(t, fi, g.op))
	asA := icnv1.NewSettlementServiceClient(g.dialRetrying(t, fi, a))
	asB := icnv1.NewSettlementServiceClient(g.dialRetrying(t, li, b))
	stranger := icnv1.NewSettlementServiceClient(g.dialRetrying(t, fi, newKey(t)))

	_, err := asA.ClosePeriod(ctx, &icnv1.ClosePeriodRequest{RequestId: reqID()})
	wantStatus(t, "participant closes", err, codes.PermissionDenied, "participant", "ClosePeriod")
	_, err = op.ClosePeriod(ctx, &icnv1.ClosePeriodRequest{Period: 5, RequestId: reqID()})
	wantStatus(t, "close a period that is not open", err, codes.FailedPrecondition, "period 5 is not open yet", "the open period is 1")
	info, err := op.ClosePeriod(ctx, &icnv1.ClosePeriodRequest{Period: 1, RequestId: reqID()})
	if err != nil || info.GetNumber() != 1 || info.GetTransfers() != 2 || info.GetInstructions() != 1 {
		t.Fatalf("close: %v %v", info, err)
	}
	g.waitSigned(1, 3) // followers' signatures came through SubmitReportSignature

	// Reads, as a participant through a follower.
	_, err = asA.GetPeriod(ctx, &icnv1.GetPeriodRequest{})
	wantStatus(t, "period 0", err, codes.InvalidArgument, "period is required")
	_, err = asA.GetPeriod(ctx, &icnv1.GetPeriodRequest{Period: 99})
	wantStatus(t, "unknown period", err, codes.NotFound, "99")
	_, err = asA.GetPeriod(ctx, &icnv1.GetPeriodRequest{Period: 2})
	wantStatus(t, "open period", err, codes.FailedPrecondition, "still open")
	d, err := asA.GetPeriod(ctx, &icnv1.GetPeriodRequest{Period: 1})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := settlement.ParseReport(d.GetReport())
	if err != nil || d.GetInfo().GetState() != settlement.StateFinal || len(d.GetInstructions()) != 1 || d.GetNames()[string(a.DID())] != "coop-0" {
		t.Fatalf("period detail: %v %v", d, err)
	}
	var sigs []settlement.Signature
	var nodes []identity.DID
	for _, s := range d.GetSignatures() {
		sigs = append(sigs, settlement.Signature{Signer: identity.DID(s.GetSigner()), Sig: s.GetSignature()})
	}
	for _, n := range d.GetHubNodes() {
		nodes = append(nodes, identity.DID(n))
	}
	if _, final, err := settlement.VerifySignatures(rep, sigs, nodes, int(d.GetQuorum())); !final || err != nil {
		t.Fatalf("signatures of the served report: final %v %v", final, err)
	}

	// Proofs: own only, and they verify offline.
	_, err = asA.GetProofs(ctx, &icnv1.GetProofsRequest{Period: 1, Coop: string(b.DID())})
	wantStatus(t, "someone else's proofs", err, codes.PermissionDenied, "own proofs")
	_, err = asA.GetProofs(ctx, &icnv1.GetProofsRequest{Period: 1, Coop: "did:icn:nope"})
	wantStatus(t, "bad coop", err, codes.InvalidArgument, "coop")
	pr, err := asA.GetProofs(ctx, &icnv1.GetProofsRequest{Period: 1, Coop: string(a.DID())})
	if err != nil || len(pr.GetProofs()) != 2 {
		t.Fatalf("proofs: %v %v", pr, err)
	}
	var own []clearing.Transfer
	proofs := map[string]settlement.Proof{}
	for _, p := range pr.GetProofs() {
		tr := fsm.TransferFromProto(p.GetTransfer(), money.Hours)
		own = append(own, tr)
		sp := settlement.Proof{Index: p.GetIndex(), Count: p.GetCount()}
		for _, h := range p.GetPath() {
			sp.Path = append(sp.Path, [32]byte(h))
		}
		proofs[tr.ID] = sp
	}
	if err := settlement.VerifyCoop(rep, a.DID(), own, proofs); err != nil {
		t.Fatalf("verify own transfers: %v", err)
	}

	// Other services stay closed to participants and strangers.
	_, err = icnv1.NewFederationServiceClient(g.dialRetrying(t, li, a)).ListParticipants(ctx, &icnv1.ListParticipantsRequest{})
	wantStatus(t, "participant lists participants", err, codes.PermissionDenied, "participant")
	_, err = stranger.ListPeriods(ctx, &icnv1.ListPeriodsRequest{})
	wantStatus(t, "stranger", err, codes.PermissionDenied, "not an operator")
	_, err = op.SubmitReportSignature(ctx, &icnv1.SubmitReportSignatureRequest{Period: 1})
	wantStatus(t, "operator submits a signature", err, codes.PermissionDenied, "hub nodes")

	// Confirmations.
	in := rep.Instructions[0]
	if in.From != a.DID() || in.To != b.DID() {
		t.Fatalf("instruction %+v", in)
	}
	conf := func(kind string) *icnv1.SignedMessage {
		c, err := settlement.ConfirmationFor(rep, 0, kind, settlement.MethodHoursTransfer, "ledger tx 9")
		if err != nil {
			t.Fatal(err)
		}
		k := a
		if kind == settlement.KindReceived {
			k = b
		}
		s, err := settlement.SignConfirmation(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return signedProto(s)
	}
	_, err = asA.MarkPaid(ctx, &icnv1.ConfirmationRequest{RequestId: reqID()})
	wantStatus(t, "no confirmation", err, codes.InvalidArgument, "confirmation is required")
	tampered := conf(settlement.KindPaid)
	tampered.Signature[0] ^= 1
	_, err = asA.MarkPaid(ctx, &icnv1.ConfirmationRequest{Confirmation: tampered, RequestId: reqID()})
	wantStatus(t, "bad signature", err, codes.InvalidArgument, "signature")
	_, err = asB.MarkPaid(ctx, &icnv1.ConfirmationRequest{Confirmation: conf(settlement.KindPaid), RequestId: reqID()})
	wantStatus(t, "payee relays the payer's", err, codes.PermissionDenied, "own confirmations")
	_, err = asB.ConfirmReceipt(ctx, &icnv1.ConfirmationRequest{Confirmation: conf(settlement.KindReceived), RequestId: reqID()})
	wantStatus(t, "confirm before paid", err, codes.FailedPrecondition, "not_paid")
	_, err = asA.ConfirmReceipt(ctx, &icnv1.ConfirmationRequest{Confirmation: conf(settlement.KindPaid), RequestId: reqID()})
	wantStatus(t, "paid sent as receipt", err, codes.InvalidArgument, "paid")
	paid, err := asA.MarkPaid(ctx, &icnv1.ConfirmationRequest{Confirmation: conf(settlement.KindPaid), RequestId: reqID()})
	if err != nil || !paid.GetPaid() || paid.GetReference() != "ledger tx 9" {
		t.Fatalf("mark paid: %v %v", paid, err)
	}
	got, err := asB.ConfirmReceipt(ctx, &icnv1.ConfirmationRequest{Confirmation: conf(settlement.KindReceived), RequestId: reqID()})
	if err != nil || !got.GetConfirmed() {
		t.Fatalf("confirm: %v %v", got, err)
	}
	list, err := asB.ListPeriods(ctx, &icnv1.ListPeriodsRequest{})
	if err != nil || len(list.GetPeriods()) != 2 || list.GetPeriods()[1].GetState() != settlement.StateSettled ||
		list.GetPeriods()[0].GetState() != settlement.StateOpen {
		t.Fatalf("list: %v %v", list, err)
	}
}
