package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// mdForwarded marks a call a follower forwarded to the leader; it carries
// the operator's DID. A forwarded call is never forwarded again.
const mdForwarded = "icn-forwarded-for"

// What a client of the control plane can hold. A connection that never
// finishes its TLS or HTTP/2 handshake is cut by Config.GRPCConnTimeout.
// After the handshake nothing in gRPC times out a call whose request stops
// arriving half-way (the peer's HTTP/2 stack still answers pings), so
// MaxConnectionAge ends every connection, stalled calls and all: a
// well-behaved client sees a GOAWAY, lets its calls in flight finish
// within the grace and reconnects. Every icn.v1 call is unary and small.
const (
	grpcMaxRecvMsg  = 4 << 20          // bytes in one request message (gRPC's default, made explicit)
	grpcMaxStreams  = 100              // calls in flight on one connection
	grpcMaxIdle     = 5 * time.Minute  // a connection with no call open is closed
	grpcMaxAge      = 30 * time.Minute // any connection is asked to go away (±10 % jitter)
	grpcAgeGrace    = time.Minute      // … and closed this long after, calls or not
	grpcPingAfter   = time.Minute      // a silent connection is pinged
	grpcPingTimeout = 20 * time.Second // … and closed if the ping is not answered
)

// Server is a hub node's control plane: the operator services over gRPC
// with TLS on the node key, the standard health service and reflection.
type Server struct {
	n         *Node
	operators map[identity.DID]bool
	log       *slog.Logger
	grpc      *grpc.Server
	health    *health.Server
	clientTLS *tls.Config

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn

	observer *raft.Observer
	stop     chan struct{}
	stopOnce sync.Once
	watched  sync.WaitGroup
}

// NewServer builds the control plane for n. Only the listed operators (and
// other hub nodes, forwarding) may call the icn.v1 services.
func NewServer(n *Node, operators []identity.DID) (*Server, error) {
	srvTLS, err := identity.TLSConfig(n.cfg.Key, nil)
	if err != nil {
		return nil, err
	}
	cliTLS, err := identity.TLSConfig(n.cfg.Key, n.acceptPeer)
	if err != nil {
		return nil, err
	}
	s := &Server{n: n, operators: map[identity.DID]bool{}, log: n.log, clientTLS: cliTLS,
		health: health.NewServer(), conns: map[string]*grpc.ClientConn{}}
	for _, d := range operators {
		s.operators[d] = true
	}
	s.grpc = grpc.NewServer(grpc.Creds(credentials.NewTLS(srvTLS)),
		grpc.ChainUnaryInterceptor(s.authorize, s.forward),
		grpc.ConnectionTimeout(n.cfg.GRPCConnTimeout),
		grpc.MaxRecvMsgSize(grpcMaxRecvMsg),
		grpc.MaxConcurrentStreams(grpcMaxStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: grpcMaxIdle, MaxConnectionAge: grpcMaxAge, MaxConnectionAgeGrace: grpcAgeGrace,
			Time: grpcPingAfter, Timeout: grpcPingTimeout,
		}))
	icnv1.RegisterFederationServiceServer(s.grpc, &federationService{s: s})
	icnv1.RegisterTrustServiceServer(s.grpc, &trustService{s: s})
	icnv1.RegisterCreditServiceServer(s.grpc, &creditService{s: s})
	icnv1.RegisterTransferServiceServer(s.grpc, &transferService{s: s})
	icnv1.RegisterClusterServiceServer(s.grpc, &clusterService{s: s})
	icnv1.RegisterSettlementServiceServer(s.grpc, &settlementService{s: s})
	registerBackupService(s)
	n.SetForward(s.forwardSignature)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.watchLeader()
	return s, nil
}

// Services whose calls need the leader (writes, and reads served
// linearizably by it); ClusterService answers on any node.
var leaderServices = []string{
	icnv1.FederationService_ServiceDesc.ServiceName, icnv1.TrustService_ServiceDesc.ServiceName,
	icnv1.CreditService_ServiceDesc.ServiceName, icnv1.TransferService_ServiceDesc.ServiceName,
	icnv1.SettlementService_ServiceDesc.ServiceName,
}

// watchLeader keeps the per-service health current: every service is
// SERVING while the cluster has a leader; without one, only
// icn.v1.ClusterService is (the overall "" status stays SERVING: the node
// itself is up).
func (s *Server) watchLeader() {
	ch := make(chan raft.Observation, 4)
	s.observer = raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.n.raft.RegisterObserver(s.observer)
	s.stop = make(chan struct{})
	s.health.SetServingStatus(icnv1.ClusterService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	update := func() {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if _, _, ok := s.n.Leader(); ok {
			st = healthpb.HealthCheckResponse_SERVING
		}
		for _, name := range leaderServices {
			s.health.SetServingStatus(name, st)
		}
	}
	update()
	s.watched.Add(1)
	go func() {
		defer s.watched.Done()
		for {
			select {
			case <-ch:
				update()
			case <-s.stop:
				return
			}
		}
	}()
}

// Serve answers on ln until Stop.
func (s *Server) Serve(ln net.Listener) error { return s.grpc.Serve(ln) }

// Stop stops serving and closes the connections to other nodes.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.n.raft.DeregisterObserver(s.observer)
		close(s.stop)
	})
	s.watched.Wait()
	s.health.Shutdown()
	s.grpc.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func isControlPlane(method string) bool { return strings.HasPrefix(method, "/icn.v1.") }

// authorize admits operators and hub nodes to the icn.v1 services.
func (s *Server) authorize(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !isControlPlane(info.FullMethod) {
		return h(ctx, req)
	}
	did, err := callerDID(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "present a client certificate over your operator key (icn keygen)")
	}
	p := s.resolve(ctx, did)
	switch {
	case p.role == roleOperator || p.role == roleHubNode:
	case p.role == roleParticipant && participantMethods[info.FullMethod]:
	case p.role == roleParticipant:
		return nil, status.Errorf(codes.PermissionDenied, "%s is a participant: it may read settlement periods, fetch its own proofs, "+
			"confirm its own instructions and publish and read its own trust attestations, not call %s", p.did, info.FullMethod)
	default:
		return nil, status.Errorf(codes.PermissionDenied, "%s is not an operator of this federation", p.did)
	}
	return h(withPrincipal(ctx, p), req)
}

func callerDID(ctx context.Context) (identity.DID, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", errors.New("no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", errors.New("not TLS")
	}
	return identity.PeerDID(ti.State)
}

type staleReader interface{ GetStale() bool }

// forward sends a call a follower cannot answer to the leader: every write,
// every read not marked stale, and cluster changes. Status is always local.
func (s *Server) forward(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !isControlPlane(info.FullMethod) || info.FullMethod == icnv1.ClusterService_Status_FullMethodName || s.n.IsLeader() {
		return h(ctx, req)
	}
	if sr, ok := req.(staleReader); ok && sr.GetStale() {
		return h(ctx, req)
	}
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(mdForwarded)) > 0 {
		return nil, status.Error(codes.Unavailable, "leadership is changing; retry")
	}
	_, addr, ok := s.n.Leader()
	if !ok || addr == "" {
		return nil, status.Error(codes.Unavailable, "the cluster has no leader right now; retry")
	}
	reply, err := newReply(info.FullMethod)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	conn, err := s.conn(addr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "reach leader at %s: %v", addr, err)
	}
	caller, _ := callerDID(ctx)
	out := metadata.AppendToOutgoingContext(ctx, mdForwarded, string(caller))
	if err := conn.Invoke(out, info.FullMethod, req, reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// newReply makes an empty response message for a full method name.
func newReply(fullMethod string) (proto.Message, error) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("bad method %q", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fmt.Errorf("no method %s", fullMethod)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

func (s *Server) conn(addr string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(s.clientTLS)))
	if err != nil {
		return nil, err
	}
	s.conns[addr] = c
	return c, nil
}

// propose runs one command on the leader and maps its result to gRPC.
func (s *Server) propose(ctx context.Context, requestID string, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	cmd.RequestId = requestID
	res, err := s.n.Propose(ctx, cmd)
	if err != nil {
		return nil, grpcError(err)
	}
	if res.GetErrorCode() != "" {
		return res, grpcError(&fsm.CommandError{Code: res.GetErrorCode(), Message: res.GetErrorMessage()})
	}
	return res, nil
}

// read makes a read linearizable unless the caller accepts a stale one.
func (s *Server) read(ctx context.Context, stale bool) error {
	if stale {
		return nil
	}
	if err := s.n.ReadBarrier(ctx); err != nil {
		return grpcError(err)
	}
	return nil
}

var codeStatus = map[string]codes.Code{
	fsm.CodeInvalidArgument:    codes.InvalidArgument,
	fsm.CodeUnknownCurrency:    codes.InvalidArgument,
	fsm.CodeUnknownParticipant: codes.FailedPrecondition,
	fsm.CodeNotInitialized:     codes.FailedPrecondition,
	fsm.CodeStale:              codes.FailedPrecondition,
	fsm.CodePeriod:             codes.FailedPrecondition,
	fsm.CodeAlreadyExists:      codes.AlreadyExists,
	fsm.CodeUnknownPeriod:      codes.NotFound,
	fsm.CodeUnknownInstruction: codes.NotFound,
	fsm.CodeNotHubNode:         codes.PermissionDenied,
	fsm.CodeBadSignature:       codes.InvalidArgument,
	fsm.CodeReportMismatch:     codes.FailedPrecondition,
	fsm.CodeNotFinal:           codes.FailedPrecondition,
	fsm.CodeNotPaid:            codes.FailedPrecondition,
	fsm.CodeWrongSigner:        codes.PermissionDenied,
	fsm.CodeSettlementRule:     codes.FailedPrecondition,
}

// grpcError maps hub errors to gRPC status errors with clear messages.
func grpcError(err error) error {
	var ce *fsm.CommandError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		c, ok := codeStatus[ce.Code]
		if !ok {
			c = codes.FailedPrecondition
		}
		return status.Errorf(c, "%s: %s", ce.Code, ce.Message)
	case errors.Is(err, ErrNotLeader), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrRaftShutdown):
		return status.Errorf(codes.Unavailable, "%v; retry (requests carry an id, so a retry is safe)", err)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// parseDID checks a DID argument.
func parseDID(field, s string) (identity.DID, error) {
	d, _, err := identity.ParseDID(s)
	if err != nil {
		return "", invalid("%s: %v", field, err)
	}
	return d, nil
}
