package hub

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// grpcCluster is a testCluster with a control-plane Server per node on a
// 127.0.0.1:0 listener, and one operator key the servers admit.
type grpcCluster struct {
	*testCluster
	op    *identity.Key
	addrs map[identity.DID]string
}

func newGRPCCluster(t *testing.T) *grpcCluster {
	t.Helper()
	const n = 3
	lns := make(map[string]net.Listener, n)
	var free []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[ln.Addr().String()] = ln
		free = append(free, ln.Addr().String())
	}
	g := &grpcCluster{op: newKey(t), addrs: map[identity.DID]string{}}
	var mu sync.Mutex
	// addrOf hands each node DID a listener the first time it is asked, so
	// every node's configuration names the same control-plane addresses.
	addrOf := func(d identity.DID) string {
		mu.Lock()
		defer mu.Unlock()
		if a, ok := g.addrs[d]; ok {
			return a
		}
		a := free[0]
		free = free[1:]
		g.addrs[d] = a
		return a
	}
	g.testCluster = newTestCluster(t, n, func(cfg *Config) {
		peers := make([]Peer, len(cfg.Peers))
		for i, p := range cfg.Peers {
			p.GRPCAddr = addrOf(p.DID)
			peers[i] = p
		}
		cfg.Peers = peers
		cfg.GRPCAddr = addrOf(cfg.Key.DID())
		cfg.Forward = nil // report signatures go through the control plane
	})
	for i, nd := range g.nodes {
		srv, err := NewServer(nd, []identity.DID{g.op.DID()})
		if err != nil {
			t.Fatalf("server %d: %v", i, err)
		}
		ln := lns[g.addrs[nd.DID()]]
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		t.Cleanup(func() {
			srv.Stop()
			if err := <-done; err != nil {
				t.Errorf("serve node %d: %v", i, err)
			}
		})
	}
	return g
}

// dial connects to node i's control plane as key (nil: no client
// certificate), pinning the node's DID.
func (g *grpcCluster) dial(t *testing.T, i int, key *identity.Key) *grpc.ClientConn {
	t.Helper()
	k := key
	if k == nil {
		k = newKey(t)
	}
	cfg, err := identity.TLSConfig(k, identity.Pin(g.keys[i].DID()))
	if err != nil {
		t.Fatal(err)
	}
	if key == nil {
		cfg.Certificates = nil
	}
	cc, err := grpc.NewClient(g.addrs[g.keys[i].DID()], grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// follower returns the index of a node other than the leader li.
func follower(li int) int { return (li + 1) % 3 }

func reqID() string { return uuid.NewString() }

// wantStatus checks err's gRPC code and that its message names the problem.
func wantStatus(t *testing.T, what string, err error, code codes.Code, words ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Errorf("%s: want %v, got %v", what, code, err)
		return
	}
	if st.Code() != code {
		t.Errorf("%s: code %v, want %v (message %q)", what, st.Code(), code, st.Message())
	}
	for _, w := range words {
		if !strings.Contains(st.Message(), w) {
			t.Errorf("%s: message %q does not mention %q", what, st.Message(), w)
		}
	}
}

func signedProto(s identity.Signed) *icnv1.SignedMessage {
	return &icnv1.SignedMessage{Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}
}

func TestGRPCBadInput(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	li, _ := g.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Through a follower, so that refusals also survive forwarding.
	cc := g.dial(t, follower(li), g.op)
	fed := icnv1.NewFederationServiceClient(cc)
	tr := icnv1.NewTrustServiceClient(cc)
	cr := icnv1.NewCreditServiceClient(cc)

	coop := newKey(t)
	if _, err := fed.RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{Did: string(coop.DID()), Name: "coop a",
		Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()}); err != nil {
		t.Fatalf("register: %v", err)
	}
	stranger := newKey(t).DID()

	t.Run("unknown participant", func(t *testing.T) {
		_, err := cr.SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{Did: string(stranger), Currency: "hours", DebitCap: "10.00", RequestId: reqID()})
		wantStatus(t, "cap for a stranger", err, codes.FailedPrecondition, "unknown_participant", string(stranger))
		_, err = fed.SetParticipantStatus(ctx, &icnv1.SetParticipantStatusRequest{Did: string(stranger),
			Status: icnv1.ParticipantStatus_PARTICIPANT_STATUS_SUSPENDED, Reason: "x", RequestId: reqID()})
		wantStatus(t, "suspend a stranger", err, codes.FailedPrecondition, "unknown_participant", string(stranger))
		a, err := trust.Sign(coop, trust.Attestation{From: coop.DID(), To: stranger, Weight: 500_000, IssuedAt: time.Now().UnixNano()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.SetTrust(ctx, &icnv1.SetTrustRequest{Attestation: signedProto(a), RequestId: reqID()})
		wantStatus(t, "trust in a stranger", err, codes.FailedPrecondition, "unknown_participant", string(stranger))
		_, err = fed.GetParticipant(ctx, &icnv1.GetParticipantRequest{Did: string(stranger)})
		wantStatus(t, "get a stranger", err, codes.NotFound, string(stranger))
	})

	t.Run("weight outside [0,1]", func(t *testing.T) {
		for _, w := range []string{"1.5", "-0.1", "2"} {
			payload := []byte(`{"type":"icn-trust-attestation","from":"` + string(coop.DID()) + `","to":"` + string(g.fed.DID()) +
				`","weight":"` + w + `","issued_at":1}`)
			s := identity.SignPayload(coop, identity.TagTrustAttestation, payload)
			_, err := tr.SetTrust(ctx, &icnv1.SetTrustRequest{Attestation: signedProto(s), RequestId: reqID()})
			wantStatus(t, "weight "+w, err, codes.InvalidArgument, "weight", w)
		}
	})

	t.Run("bad signature", func(t *testing.T) {
		a := trust.Attestation{From: coop.DID(), To: g.fed.DID(), Weight: 800_000, IssuedAt: time.Now().UnixNano()}
		// Signed by another key while claiming to be the author.
		other := newKey(t)
		s := identity.SignPayload(other, identity.TagTrustAttestation, a.Payload())
		s.Signer = coop.DID()
		_, err := tr.SetTrust(ctx, &icnv1.SetTrustRequest{Attestation: signedProto(s), RequestId: reqID()})
		wantStatus(t, "other key", err, codes.InvalidArgument, "signature does not verify")
		// Signed by the author, then the payload changed.
		good, err := trust.Sign(coop, a)
		if err != nil {
			t.Fatal(err)
		}
		changed := signedProto(good)
		changed.Payload = []byte(strings.Replace(string(changed.Payload), `"weight":"0.8"`, `"weight":"0.9"`, 1))
		if string(changed.Payload) == string(good.Payload) {
			t.Fatalf("payload %s has no weight 0.8 to change", good.Payload)
		}
		_, err = tr.SetTrust(ctx, &icnv1.SetTrustRequest{Attestation: changed, RequestId: reqID()})
		wantStatus(t, "changed payload", err, codes.InvalidArgument, "signature does not verify")
		// Signed by the right key, for another purpose.
		wrongTag := signedProto(identity.SignPayload(coop, identity.TagPaymentIntent, a.Payload()))
		_, err = tr.SetTrust(ctx, &icnv1.SetTrustRequest{Attestation: wrongTag, RequestId: reqID()})
		wantStatus(t, "wrong tag", err, codes.InvalidArgument, "signature does not verify")
		// A signer that is not the attestation's author.
		byOther := signedProto(identity.SignPayload(other, identity.TagTrustAttestation, a.Payload()))
		_, err = tr.SetTrust(ctx, &icnv1.SetTrustRequest{Attestation: byOther, RequestId: reqID()})
		wantStatus(t, "signer not author", err, codes.InvalidArgument, "signer")
		_, err = tr.SetTrust(ctx, &icnv1.SetTrustRequest{RequestId: reqID()})
		wantStatus(t, "no attestation", err, codes.InvalidArgument, "attestation is required")
	})

	t.Run("negative cap", func(t *testing.T) {
		_, err := cr.SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{Did: string(coop.DID()), Currency: "hours", DebitCap: "-5.00", RequestId: reqID()})
		wantStatus(t, "cap -5.00", err, codes.InvalidArgument, "negative", "-5.00")
		_, err = cr.SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{Did: string(coop.DID()), Currency: "hours", DebitCap: "5.001", RequestId: reqID()})
		wantStatus(t, "cap 5.001", err, codes.InvalidArgument, "debit_cap")
	})

	t.Run("malformed DID", func(t *testing.T) {
		for _, d := range []string{"", "did:web:example.org", "did:icn:0OIl", string(coop.DID()) + "0", string(coop.DID())[:30]} {
			_, err := fed.RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{Did: d, Name: "bad",
				Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()})
			wantStatus(t, "register "+d, err, codes.InvalidArgument, "did", "DID")
		}
		_, err := cr.SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{Did: "did:icn:nope", Currency: "hours", DebitCap: "1", RequestId: reqID()})
		wantStatus(t, "cap for a bad DID", err, codes.InvalidArgument, "did")
		_, err = tr.TrustPath(ctx, &icnv1.TrustPathRequest{From: string(coop.DID()), To: "coop-b"})
		wantStatus(t, "path to a bad DID", err, codes.InvalidArgument, "to", "coop-b")
	})

	t.Run("unknown currency", func(t *testing.T) {
		_, err := cr.SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{Did: string(coop.DID()), Currency: "dollars", DebitCap: "5.00", RequestId: reqID()})
		wantStatus(t, "dollars", err, codes.InvalidArgument, "currency", "dollars")
	})

	t.Run("duplicate register", func(t *testing.T) {
		_, err := fed.RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{Did: string(coop.DID()), Name: "coop a again",
			Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()})
		wantStatus(t, "register twice", err, codes.AlreadyExists, "already registered", string(coop.DID()))
	})

	t.Run("bad name and kind", func(t *testing.T) {
		k := newKey(t)
		_, err := fed.RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{Did: string(k.DID()), Name: "",
			Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()})
		wantStatus(t, "empty name", err, codes.InvalidArgument, "name")
		_, err = fed.RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{Did: string(k.DID()), Name: "k", RequestId: reqID()})
		wantStatus(t, "no kind", err, codes.InvalidArgument, "kind")
	})
}

// TestGRPCRetryIsIdempotent: the same request id sent twice (a client
// retrying after Unavailable) answers with the first outcome.
func TestGRPCRetryIsIdempotent(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	li, _ := g.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fed := icnv1.NewFederationServiceClient(g.dial(t, li, g.op))
	k := newKey(t)
	req := &icnv1.RegisterParticipantRequest{Did: string(k.DID()), Name: "once", Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()}
	for i := 0; i < 2; i++ {
		p, err := fed.RegisterParticipant(ctx, req)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if p.GetDid() != string(k.DID()) {
			t.Fatalf("attempt %d: %v", i, p)
		}
	}
}

func TestGRPCAuthentication(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	li, _ := g.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, i := range []int{li, follower(li)} {
		_, err := icnv1.NewFederationServiceClient(g.dial(t, i, nil)).ListParticipants(ctx, &icnv1.ListParticipantsRequest{})
		wantStatus(t, "no certificate", err, codes.Unauthenticated, "client certificate")
		stranger := newKey(t)
		_, err = icnv1.NewFederationServiceClient(g.dial(t, i, stranger)).RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{
			Did: string(stranger.DID()), Name: "me", Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()})
		wantStatus(t, "non-operator", err, codes.PermissionDenied, string(stranger.DID()), "not an operator")
		_, err = icnv1.NewClusterServiceClient(g.dial(t, i, stranger)).Status(ctx, &icnv1.ClusterStatusRequest{})
		wantStatus(t, "non-operator status", err, codes.PermissionDenied, "not an operator")
	}
	// The operator gets through.
	if _, err := icnv1.NewFederationServiceClient(g.dial(t, li, g.op)).ListParticipants(ctx, &icnv1.ListParticipantsRequest{}); err != nil {
		t.Fatalf("operator: %v", err)
	}
	// A client pinning another DID refuses the server.
	cfg, err := identity.TLSConfig(g.op, identity.Pin(newKey(t).DID()))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(g.addrs[g.keys[li].DID()], grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = icnv1.NewFederationServiceClient(cc).ListParticipants(ctx, &icnv1.ListParticipantsRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), identity.ErrPeer.Error()) {
		t.Fatalf("pinned to another DID: %v", err)
	}
}

// TestGRPCFollowers: a follower forwards writes and linearizable reads to
// the leader and answers stale reads from its own state.
func TestGRPCFollowers(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	li, _ := g.leader()
	fi := follower(li)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fol := icnv1.NewFederationServiceClient(g.dial(t, fi, g.op))
	lead := icnv1.NewFederationServiceClient(g.dial(t, li, g.op))

	a := newKey(t)
	p, err := fol.RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{Did: string(a.DID()), Name: "via follower",
		Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()})
	if err != nil {
		t.Fatalf("write through a follower: %v", err)
	}
	if p.GetStatus() != icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE {
		t.Fatalf("registered: %v", p)
	}
	// Linearizable: the follower's answer includes the write just made,
	// whether or not the follower has applied it yet.
	got, err := fol.GetParticipant(ctx, &icnv1.GetParticipantRequest{Did: string(a.DID())})
	if err != nil || got.GetName() != "via follower" {
		t.Fatalf("linearizable read on a follower: %v %v", got, err)
	}
	// Credit and trust writes through the follower too.
	cr := icnv1.NewCreditServiceClient(g.dial(t, fi, g.op))
	if _, err := cr.SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{Did: string(a.DID()), Currency: "hours", DebitCap: "500.00", RequestId: reqID()}); err != nil {
		t.Fatalf("cap through a follower: %v", err)
	}
	pol, err := cr.GetCreditPolicy(ctx, &icnv1.GetCreditPolicyRequest{Did: string(a.DID())})
	if err != nil || len(pol.GetPolicies()) != 1 || pol.GetPolicies()[0].GetDebitCap() != "500.00" {
		t.Fatalf("policy through a follower: %v %v", pol, err)
	}
	g.converge()

	// Cut the follower off, write on the leader: a stale read on the
	// follower answers from its own (now old) state.
	g.isolate(fi)
	b := newKey(t)
	if _, err := lead.RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{Did: string(b.DID()), Name: "behind the follower's back",
		Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: reqID()}); err != nil {
		t.Fatalf("write on the leader: %v", err)
	}
	stale, err := fol.ListParticipants(ctx, &icnv1.ListParticipantsRequest{Stale: true})
	if err != nil {
		t.Fatalf("stale read on an isolated follower: %v", err)
	}
	dids := participantDIDs(stale.GetParticipants())
	if !slices.Contains(dids, string(a.DID())) || slices.Contains(dids, string(b.DID())) {
		t.Fatalf("stale read on the isolated follower: want a without b, got %v", dids)
	}
	if _, err := fol.GetParticipant(ctx, &icnv1.GetParticipantRequest{Did: string(b.DID()), Stale: true}); status.Code(err) != codes.NotFound {
		t.Fatalf("stale get of b on the isolated follower: %v", err)
	}
	fresh, err := lead.ListParticipants(ctx, &icnv1.ListParticipantsRequest{})
	if err != nil || !slices.Contains(participantDIDs(fresh.GetParticipants()), string(b.DID())) {
		t.Fatalf("leader read: %v %v", fresh, err)
	}
	// Cluster status is always the answering node's own view.
	st, err := icnv1.NewClusterServiceClient(g.dial(t, fi, g.op)).Status(ctx, &icnv1.ClusterStatusRequest{})
	if err != nil || st.GetNodeDid() != string(g.keys[fi].DID()) {
		t.Fatalf("status on the follower: %v %v", st, err)
	}
	g.heal()
	g.converge()
	waitFor(t, 10*time.Second, "the healed follower to see b", func() bool {
		r, err := fol.GetParticipant(ctx, &icnv1.GetParticipantRequest{Did: string(b.DID()), Stale: true})
		return err == nil && r.GetDid() == string(b.DID())
	})
}

func participantDIDs(ps []*icnv1.Participant) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.GetDid())
	}
	return out
}

// TestGRPCClusterStatus: every node reports the same membership with the
// control-plane addresses, and exactly one leader.
func TestGRPCClusterStatus(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	li, _ := g.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The new leader registers the nodes' control-plane addresses after it
	// initialises the federation; wait until every node has applied them.
	waitFor(t, 10*time.Second, "hub nodes registered everywhere", func() bool {
		for _, n := range g.nodes {
			if len(n.FSM().HubNodes()) != 3 {
				return false
			}
		}
		return true
	})
	for i := range g.nodes {
		st, err := icnv1.NewClusterServiceClient(g.dial(t, i, g.op)).Status(ctx, &icnv1.ClusterStatusRequest{})
		if err != nil {
			t.Fatalf("status of node %d: %v", i, err)
		}
		if len(st.GetNodes()) != 3 {
			t.Fatalf("node %d sees %d nodes: %v", i, len(st.GetNodes()), st)
		}
		leaders := 0
		for _, n := range st.GetNodes() {
			if n.GetLeader() {
				leaders++
				if n.GetDid() != string(g.keys[li].DID()) {
					t.Errorf("node %d names %s leader, want %s", i, n.GetDid(), g.keys[li].DID())
				}
			}
			if n.GetGrpcAddress() != g.addrs[identity.DID(n.GetDid())] {
				t.Errorf("node %d: %s at grpc %q, want %q", i, n.GetDid(), n.GetGrpcAddress(), g.addrs[identity.DID(n.GetDid())])
			}
			if n.GetSuffrage() != "voter" {
				t.Errorf("node %d: %s suffrage %q", i, n.GetDid(), n.GetSuffrage())
			}
		}
		if leaders != 1 {
			t.Errorf("node %d: %d leaders in %v", i, leaders, st)
		}
	}
	// Removing the leader itself is refused with what to do instead.
	_, err := icnv1.NewClusterServiceClient(g.dial(t, li, g.op)).Remove(ctx, &icnv1.RemoveRequest{Did: string(g.keys[li].DID())})
	wantStatus(t, "remove the leader", err, codes.FailedPrecondition, "transfer leadership")

	// A cluster change sent to a follower is forwarded: hand leadership to it.
	fi := follower(li)
	st, err := icnv1.NewClusterServiceClient(g.dial(t, fi, g.op)).TransferLeadership(ctx, &icnv1.TransferLeadershipRequest{Did: string(g.keys[fi].DID())})
	if err != nil {
		t.Fatalf("transfer leadership through a follower: %v", err)
	}
	if st.GetNodeDid() != string(g.keys[li].DID()) {
		t.Errorf("transfer leadership answered by %s, want the old leader %s", st.GetNodeDid(), g.keys[li].DID())
	}
	waitFor(t, 10*time.Second, "the follower to lead", func() bool { return g.nodes[fi].IsLeader() })
	_, err = icnv1.NewClusterServiceClient(g.dial(t, li, g.op)).TransferLeadership(ctx, &icnv1.TransferLeadershipRequest{Did: string(newKey(t).DID())})
	wantStatus(t, "transfer to a stranger", err, codes.InvalidArgument, "not a member")
}

func TestGRPCHealthAndReflection(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	g.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range g.nodes {
		// Health and reflection are open to any TLS client (grpcurl, probes).
		cc := g.dial(t, i, newKey(t))
		h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("node %d health: %v %v", i, h, err)
		}
		svcs := listServices(t, ctx, cc)
		for _, want := range []string{"icn.v1.FederationService", "icn.v1.TrustService", "icn.v1.CreditService",
			"icn.v1.TransferService", "icn.v1.ClusterService", "grpc.health.v1.Health"} {
			if !slices.Contains(svcs, want) {
				t.Errorf("node %d: reflection lists %v, missing %s", i, svcs, want)
			}
		}
	}
}

func listServices(t *testing.T, ctx context.Context, cc *grpc.ClientConn) []string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatalf("reflection send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection recv: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("reflection: after close: %v", err)
	}
	var out []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		out = append(out, s.GetName())
	}
	return out
}

// TestGRPCHealthPerService: every icn.v1 service has its own health status,
// SERVING while the node knows a leader; a node cut off from the others
// reports the services that need the leader NOT_SERVING and ClusterService
// still SERVING, and recovers when it rejoins.
func TestGRPCHealthPerService(t *testing.T) {
	t.Parallel()
	g := newGRPCCluster(t)
	li, _ := g.leader()
	fi := (li + 1) % len(g.nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(g.dial(t, fi, newKey(t)))
	status := func(svc string) healthpb.HealthCheckResponse_ServingStatus {
		h, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health of %q: %v", svc, err)
		}
		return h.GetStatus()
	}
	all := append([]string{icnv1.ClusterService_ServiceDesc.ServiceName}, leaderServices...)
	allServing := func() bool {
		for _, svc := range all {
			if status(svc) != healthpb.HealthCheckResponse_SERVING {
				return false
			}
		}
		return true
	}
	waitFor(t, 10*time.Second, "every service SERVING on a follower", allServing)

	g.isolate(fi)
	waitFor(t, 10*time.Second, "the cut-off node to report TransferService NOT_SERVING", func() bool {
		return status("icn.v1.TransferService") == healthpb.HealthCheckResponse_NOT_SERVING
	})
	for _, svc := range leaderServices {
		if st := status(svc); st != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("%s = %v without a leader, want NOT_SERVING", svc, st)
		}
	}
	if st := status(icnv1.ClusterService_ServiceDesc.ServiceName); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("ClusterService = %v without a leader, want SERVING", st)
	}
	if st := status(""); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("overall health = %v, want SERVING (the node is up)", st)
	}
	g.heal()
	waitFor(t, 10*time.Second, "every service SERVING again after rejoining", allServing)
}
