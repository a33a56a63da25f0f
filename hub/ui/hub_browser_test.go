package ui_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/hub/ui"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
	"github.com/icn-coop/icn/trust"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func tcp(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// hubWithClosedPeriod runs a one-node hub service with three co-ops, a few
// committed transfers and period 1 closed and signed.
func hubWithClosedPeriod(t *testing.T) (svc *hub.Service, op *identity.Key) {
	t.Helper()
	key, fed := newKey(t), newKey(t)
	op = newKey(t)
	raftLn, grpcLn := tcp(t), tcp(t)
	cfg := hub.Config{DataDir: t.TempDir(), Key: key, RaftListener: raftLn, GRPCAddr: grpcLn.Addr().String(),
		Peers:            []hub.Peer{{DID: key.DID(), RaftAddr: raftLn.Addr().String(), GRPCAddr: grpcLn.Addr().String()}},
		Federation:       hub.FederationConfig{DID: fed.DID(), Name: "browser test", Currencies: []money.Currency{money.Hours}},
		HeartbeatTimeout: 200 * time.Millisecond}
	svc, err := hub.StartService(cfg, []identity.DID{op.DID()}, grpcLn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	n := svc.Node
	waitFor(t, 15*time.Second, "a leader with the federation initialised", func() bool {
		return n.IsLeader() && n.FSM().Federation().GetDid() != ""
	})
	ctx := context.Background()
	propose := func(c *icnv1.Command) {
		t.Helper()
		res, err := n.Propose(ctx, c)
		if err != nil || res.GetErrorCode() != "" {
			t.Fatalf("propose %T: %v %s", c.GetCmd(), err, res.GetErrorMessage())
		}
	}
	signTrust := func(from *identity.Key, to identity.DID) *icnv1.Command {
		s, err := trust.Sign(from, trust.Attestation{From: from.DID(), To: to, Weight: trust.One, IssuedAt: time.Now().UnixNano()})
		if err != nil {
			t.Fatal(err)
		}
		return &icnv1.Command{Cmd: &icnv1.Command_SetTrust{SetTrust: &icnv1.SetTrust{Attestation: &icnv1.SignedMessage{
			Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}}}
	}
	coops := []*identity.Key{newKey(t), newKey(t), newKey(t)}
	for i, c := range coops {
		propose(&icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
			Did: string(c.DID()), Name: "Co-op " + strconv.Itoa(i+1), Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP}}})
		propose(signTrust(fed, c.DID()))
		propose(signTrust(c, fed.DID()))
		propose(&icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{SetCreditPolicy: &icnv1.SetCreditPolicy{
			Did: string(c.DID()), Currency: "hours", DebitCapUnits: 1_000_000}}})
	}
	for i, tr := range []struct {
		from, to int
		units    int64
	}{{0, 1, 1250}, {1, 2, 400}, {2, 0, 75}, {0, 2, 1000}} {
		id := "b" + strconv.Itoa(i)
		propose(&icnv1.Command{Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: &icnv1.PrepareTransfer{Id: id,
			From: string(coops[tr.from].DID()), To: string(coops[tr.to].DID()), Currency: "hours", AmountUnits: tr.units,
			ExpiresAtUnixNano: time.Now().Add(time.Hour).UnixNano()}}})
		propose(&icnv1.Command{Cmd: &icnv1.Command_CommitTransfer{CommitTransfer: &icnv1.CommitTransfer{Id: id}}})
	}
	if _, err := n.ClosePeriod(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "period 1 signed by the node", func() bool {
		rec, ok, _ := n.FSM().SettlementPeriod(1)
		return ok && len(rec.GetSignatures()) >= 1
	})
	return svc, op
}

// TestBrowserHubPage serves the pages from a real hub node's control plane
// with an operator's key (ui.RemoteSource, as icn settlement ui does),
// opens the period page and checks every figure on it against the hub's
// gRPC API (GetPeriod's canonical report), as a treasurer's script would;
// then opens the index: no console error, the period's counts and the
// trend chart of net positions.
func TestBrowserHubPage(t *testing.T) {
	t.Parallel()
	exe := browserPath(t)
	svc, op := hubWithClosedPeriod(t)

	tlsCfg, err := identity.TLSConfig(op, identity.Pin(svc.Node.DID()))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	detail, err := icnv1.NewSettlementServiceClient(cc).GetPeriod(ctx, &icnv1.GetPeriodRequest{Period: 1})
	if err != nil {
		t.Fatalf("GetPeriod: %v", err)
	}
	rep, err := settlement.ParseReport(detail.GetReport())
	if err != nil {
		t.Fatal(err)
	}

	hs := httptest.NewServer(ui.Handler(ui.RemoteSource(icnv1.NewSettlementServiceClient(cc)), time.Now))
	t.Cleanup(hs.Close)
	_, got := openPage(t, exe, hs.URL+"/ui/settlement/1")
	type key struct{ did, currency, field string }
	want := map[key]string{}
	for _, f := range rep.Figures {
		c, _ := rep.Totals(f.Currency)
		want[key{string(f.DID), f.Currency, "sent"}] = money.FromUnits(f.Sent, c.Currency).String()
		want[key{string(f.DID), f.Currency, "received"}] = money.FromUnits(f.Received, c.Currency).String()
		want[key{string(f.DID), f.Currency, "net"}] = money.FromUnits(f.Net, c.Currency).String()
	}
	seen := 0
	for _, f := range got.Figures {
		if w, ok := want[key{f.DID, f.Currency, f.Field}]; ok {
			seen++
			if f.Value != w || f.Text != w {
				t.Errorf("%s %s %s: page %q (%q), API %q", f.DID, f.Currency, f.Field, f.Value, f.Text, w)
			}
		}
	}
	if seen != len(want) || len(want) != 9 {
		t.Errorf("page shows %d of the API's %d figures (want 3 co-ops × 3)", seen, len(want))
	}
	if got.QuorumReached != "true" || got.Nodes[string(svc.Node.DID())] != "valid" {
		t.Errorf("verification panel: quorum %q, node %q", got.QuorumReached, got.Nodes[string(svc.Node.DID())])
	}

	view, err := ui.ViewFromDetail(detail)
	if err != nil {
		t.Fatal(err)
	}
	_, idx := openIndex(t, exe, hs.URL+"/ui/settlement/")
	if len(idx.Periods) != 2 || idx.Periods[1].Period != "1" || idx.Periods[1].Fields["instructions"] != strconv.Itoa(len(rep.Instructions)) ||
		idx.Periods[1].Fields["volume:hours"] != "27.25" {
		t.Errorf("index periods %+v", idx.Periods)
	}
	checkTrends(t, idx, view)
}
