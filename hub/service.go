package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/icn-coop/icn/hub/dataplane"
	"github.com/icn-coop/icn/routing/directory"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/httpserve"
)

// Service is a hub node with its control plane and HTTP endpoints
// (/metrics, /healthz, /readyz), as `icn hub` and `icn dev` run it.
type Service struct {
	Node   *Node
	Server *Server
	// Data is the data plane, if cfg.DataAddr was set.
	Data *dataplane.Plane
	// Directory is this node's member of the federation directory, if configured.
	Directory *directory.Node
	grpcLn    net.Listener
	httpLn    net.Listener
	http      *http.Server
	done      chan error
}

// StartService opens the node and serves gRPC on grpcLn and HTTP on httpLn
// (nil: no HTTP endpoints), the latter bounded by cfg.HTTP.
func StartService(cfg Config, operators []identity.DID, grpcLn, httpLn net.Listener) (*Service, error) {
	n, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := NewServer(n, operators)
	if err != nil {
		n.Close()
		return nil, err
	}
	s := &Service{Node: n, Server: srv, grpcLn: grpcLn, httpLn: httpLn, done: make(chan error, 2)}
	if cfg.Directory != nil {
		dc := *cfg.Directory
		dc.Logger = n.log
		if s.Directory, err = directory.Start(context.Background(), dc); err != nil {
			srv.Stop()
			n.Close()
			return nil, fmt.Errorf("directory: %w", err)
		}
	}
	if cfg.DataAddr != "" {
		dopts := dataplane.Options{Logger: cfg.Logger, FederationKey: cfg.FederationKey, Parents: cfg.Parents, IntentHorizon: cfg.IntentHorizon,
			Policies: cfg.TrustPolicies, NoRouteAnnouncements: cfg.NoRouteAnnouncements}
		if s.Directory != nil {
			dopts.Directory = s.Directory
		}
		if s.Data, err = dataplane.Start(n, cfg.DataAddr, dopts); err != nil {
			srv.Stop()
			if s.Directory != nil {
				s.Directory.Close()
			}
			n.Close()
			return nil, fmt.Errorf("data plane: %w", err)
		}
	}
	go func() { s.done <- srv.Serve(grpcLn) }()
	if httpLn != nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg.MustRegister(n.Collectors()...)
		reg.MustRegister(n.OpsCollectors()...)
		if s.Data != nil {
			reg.MustRegister(s.Data.Collectors()...)
		}
		if s.Directory != nil {
			reg.MustRegister(s.Directory.Collectors()...)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("GET /readyz", s.ready)
		s.http = httpserve.New(mux, cfg.HTTP, n.log)
		go func() {
			if err := s.http.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
				s.done <- err
			}
		}()
	}
	return s, nil
}

// ready answers 200 once the cluster has a leader and this node has applied
// the federation's initial state.
func (s *Service) ready(w http.ResponseWriter, _ *http.Request) {
	if _, _, ok := s.Node.Leader(); !ok || !s.Node.fsm.Initialized() {
		http.Error(w, "not ready: no leader or federation not initialised", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// GRPCAddr is the control plane's listening address.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }

// Done reports a listener that stopped serving on its own.
func (s *Service) Done() <-chan error { return s.done }

// Close stops serving and closes the node.
func (s *Service) Close() error {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.http.Shutdown(ctx)
	}
	if s.Data != nil {
		_ = s.Data.Close()
	}
	if s.Directory != nil {
		_ = s.Directory.Close()
	}
	s.Server.Stop()
	return s.Node.Close()
}
