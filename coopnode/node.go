// Package coopnode assembles a co-op node: the member ledger, the membership
// store and the wallet gateway, served over HTTP.
package coopnode

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/hubpeer"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/vouch"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/diskstat"
	"github.com/icn-coop/icn/internal/httpserve"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/routing"
)

// governanceTick is how often the node closes proposals past their
// deadline and checks for dues (a deadline is therefore applied to
// payments up to this late; governance commands apply it at once).
const governanceTick = 10 * time.Second

// renewalTick is how often the node looks for credentials to renew (a scan
// of the membership cache; it submits only when one is due).
const renewalTick = time.Minute

// Node is a running co-op node.
type Node struct {
	Config  Config
	Key     *identity.Key
	Ledger  *ledger.Store
	Members *membership.Store
	// Governance keeps proposals, votes and dues; its scheduler runs while
	// the node serves.
	Governance *govern.Store
	// Vouch keeps member trust (vouches, the credit gate) and recoveries.
	Vouch   *vouch.Store
	Gateway *gateway.Gateway
	// Hub is the link to the hub cluster (nil when none is configured, and
	// on a replicated node, whose leader runs it: see replicated.go).
	Hub *hubpeer.Client
	// Cluster is the node's member of the co-op's Raft group (nil: a single node).
	Cluster *cluster.Cluster
	repl    *replicated
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	// certs is the gateway's TLS certificate when it serves HTTPS;
	// certCheck how often its files are checked for changes (0: the
	// default, httpserve.DefaultCertCheck).
	certs     *httpserve.CertFiles
	certCheck time.Duration
}

// Open opens the node's stores and key (creating them on first start) and
// makes sure the configured admin is a moderator. It does not listen yet.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	key, err := keyfile.LoadOrCreate(cfg.KeyFile, func() (*identity.Key, error) { return identity.GenerateKey(rand.Reader) })
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	opts, err := cfg.LedgerOptions()
	if err != nil {
		return nil, err
	}
	opts.Path, opts.Logger = cfg.LedgerPath(), log
	if err := cfg.prepareReplica(&opts, log); err != nil {
		return nil, err
	}
	led, err := ledger.Open(opts)
	if err != nil {
		return nil, err
	}
	n := &Node{Config: cfg, Key: key, Ledger: led, log: log}
	err = n.prepareReplicated()
	if err == nil {
		err = n.openRest(ctx)
	}
	if err == nil && n.repl != nil {
		err = n.openCluster()
	}
	if err != nil {
		led.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) openRest(ctx context.Context) error {
	var err error
	n.Members, err = membership.New(n.Ledger, membership.Options{CoopID: n.Config.CoopID, CoopKey: n.Key,
		CredentialTTL: time.Duration(n.Config.Membership.CredentialTTL), RenewBefore: time.Duration(n.Config.Membership.RenewBefore)})
	if err != nil {
		return fmt.Errorf("membership: %w", err)
	}
	if admin := identity.DID(n.Config.Admin); n.repl == nil { // a cluster's leader does it (lead)
		if _, err := n.Members.Bootstrap(ctx, admin, n.Config.AdminName); err != nil {
			return fmt.Errorf("bootstrap admin %s: %w", admin, err)
		}
	}
	n.Governance, err = govern.New(n.Ledger, n.Members, govern.Options{CoopID: n.Config.CoopID, Key: n.Key, Logger: n.log,
		Policy: n.Config.GovernancePolicy})
	if err != nil {
		return err
	}
	policy, err := n.Config.CreditPolicy.Policy()
	if err != nil {
		return err
	}
	n.Vouch, err = vouch.New(n.Ledger, n.Members, vouch.Options{CoopID: n.Config.CoopID, Policy: policy, Logger: n.log})
	if err != nil {
		return err
	}
	if n.repl == nil { // a cluster's leader does it (lead)
		if _, err := n.Ledger.RecordCurrencies(ctx); err != nil {
			return fmt.Errorf("[[currencies]]: %w", err)
		}
		if _, err := n.Vouch.RecordPolicy(ctx); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		diskstat.New(n.Config.DataDir))
	var router gateway.Router
	var statements gateway.Statements
	var hubLink func() gateway.HubLink
	switch {
	case n.repl != nil:
		hubpeer.RegisterHandlers(n.Ledger) // every node applies them; the leader runs the peer
		if len(n.Config.Hub.Nodes) > 0 {
			lh := leaderHub{n}
			router, statements, hubLink = lh, lh, lh.link
			reg.MustRegister(hubpeer.CollectorsOf(n.repl.hub.Load, n.Ledger)...)
		}
	case len(n.Config.Hub.Nodes) > 0:
		hcfg := n.hubConfig()
		reg.MustRegister(hcfg.Signatures)
		n.Hub, err = hubpeer.Start(hcfg)
		if err != nil {
			return err
		}
		reg.MustRegister(n.Hub.Collectors()...)
		router, statements, hubLink = n.Hub, n.Hub, n.hubLink
	}
	var cl gateway.Cluster
	var ca gateway.ClusterAdmin
	if n.repl != nil {
		cl, ca = clusterView{n}, clusterView{n}
	}
	n.Gateway, err = gateway.New(gateway.Config{
		CoopID: n.Config.CoopID, Key: n.Key, Ledger: n.Ledger, Members: n.Members, Governance: n.Governance, Vouch: n.Vouch, Router: router, Statements: statements,
		HubLink: hubLink, TokenTTL: time.Duration(n.Config.Gateway.TokenTTL), RefreshTTL: time.Duration(n.Config.Gateway.RefreshTTL),
		MaxBody: n.Config.Gateway.MaxBodyBytes, Limits: n.Config.Gateway.RateLimits, Classes: n.Config.Gateway.Trust,
		IntentHorizon: time.Duration(n.Config.Gateway.IntentHorizon), Cluster: cl, ClusterAdmin: ca,
		Logger: n.log, Registry: reg,
	})
	return err
}

// hubConfig is the hub peer's configuration.
func (n *Node) hubConfig() hubpeer.Config {
	hc := n.Config.Hub
	hubs := make([]hubpeer.Hub, len(hc.Nodes))
	for i, h := range hc.Nodes {
		hubs[i] = hubpeer.Hub{DID: identity.DID(h.DID), Addr: h.Addr}
	}
	sigs := routing.NewSignatureCounter("hubpeer", routing.SignedIntent)
	return hubpeer.Config{
		CoopID: n.Config.CoopID, Key: n.Key, Hubs: hubs, Federation: identity.DID(hc.Federation),
		Ledger: n.Ledger, Members: memberCheck{n.Members, sigs}, Logger: n.log, Signatures: sigs,
		IntentHorizon: time.Duration(n.Config.Gateway.IntentHorizon),
	}
}

// Listen binds the gateway's address (":0" picks a free port; see URL).
// The server bounds every request by the [gateway] timeouts and refuses a
// declared body over max_body_bytes at once (internal/httpserve).
func (n *Node) Listen() error {
	ln := n.Config.GatewayListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", n.Config.Gateway.Listen); err != nil {
			return fmt.Errorf("gateway listen %s: %w", n.Config.Gateway.Listen, err)
		}
	}
	var err error
	var h http.Handler = n.Gateway
	if gw := n.Config.Gateway; gw.ServesTLS() {
		if n.certs, err = httpserve.LoadCertFiles(gw.TLSCertFile, gw.TLSKeyFile, n.log); err != nil {
			ln.Close()
			return fmt.Errorf("gateway: %w", err)
		}
		ln, h = tls.NewListener(ln, n.certs.Config()), httpserve.WithHSTS(h)
	}
	n.ln = ln
	n.srv = httpserve.New(h, n.Config.Gateway.limits(n.Gateway.MaxBody()), n.log)
	return nil
}

// URL is the gateway's base URL once listening.
func (n *Node) URL() string {
	if n.certs != nil {
		return "https://" + n.ln.Addr().String()
	}
	return "http://" + n.ln.Addr().String()
}

// ReloadTLS reads the gateway's certificate and key files again (what
// SIGHUP does): new connections get the new certificate, open ones keep
// theirs. It reports whether the certificate changed; without TLS it does
// nothing. On error the certificate in use stays.
func (n *Node) ReloadTLS() (bool, error) {
	if n.certs == nil {
		return false, nil
	}
	return n.certs.Reload()
}

// Serve serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 10 s), and closes the ledger
// after its last write is durable.
func (n *Node) Serve(ctx context.Context) error {
	if n.ln == nil {
		if err := n.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- n.srv.Serve(n.ln) }()
	if n.repl != nil {
		n.startLeading(ctx)
	}
	if n.certs != nil {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go n.certs.Watch(wctx, n.certCheck)
	}
	// The schedulers: governance deadlines and dues, credential renewal.
	// They stop before the stores close.
	// On a replicated node the leader runs them (startLeading).
	gctx, stopGov := context.WithCancel(ctx)
	govDone := make(chan struct{})
	if n.repl == nil {
		go func() { defer close(govDone); n.runSchedulers(gctx) }()
	} else {
		close(govDone)
	}
	defer func() { stopGov(); <-govDone }()
	n.log.Info("co-op node serving", "coop", n.Config.CoopID, "did", n.Key.DID(), "url", n.URL(), "tls", n.certs != nil)
	select {
	case err := <-errc:
		stopGov()
		<-govDone
		n.closeStores()
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		n.srv.Close()
	}
	<-errc
	stopGov()
	<-govDone
	n.closeStores()
	n.log.Info("co-op node stopped", "coop", n.Config.CoopID)
	return nil
}

// runSchedulers runs the governance scheduler (deadlines, dues) and the
// credential renewal until ctx ends: on a single node while it serves, on a
// replicated one while it leads, since both propose commands.
func (n *Node) runSchedulers(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.Members.RunRenewals(ctx, renewalTick, n.log) }()
	n.Governance.Run(ctx, governanceTick)
	wg.Wait()
}

func (n *Node) closeStores() {
	if n.Hub != nil {
		_ = n.Hub.Close()
	}
	if err := n.stopReplicated(); err != nil {
		n.log.Error("leaving the co-op cluster", "err", err)
	}
	if err := n.Ledger.Close(); err != nil {
		n.log.Error("closing ledger", "err", err)
	}
}

// Close releases a node that was opened but never served.
func (n *Node) Close() error {
	if n.Hub != nil {
		_ = n.Hub.Close()
	}
	return errors.Join(n.stopReplicated(), n.Ledger.Close())
}

// hubLink reads the hub link for the gateway's /readyz.
func (n *Node) hubLink() gateway.HubLink { return linkOf(n.Hub) }

func linkOf(hc *hubpeer.Client) gateway.HubLink {
	l := hc.Link()
	return gateway.HubLink{State: string(l.State), Node: string(l.Hub), Addr: l.Addr, Leader: string(l.Leader),
		Registered: l.Registered, Since: l.Since, FailedAttempts: l.Attempts, LastError: l.LastError}
}

// memberCheck adapts the membership store to what the hub peer asks; sigs
// counts the keys SignerOf tries.
type memberCheck struct {
	s    *membership.Store
	sigs *routing.SignatureCounter
}

func (m memberCheck) IsMember(did identity.DID, now time.Time) bool {
	_, err := m.s.Authorize(did, now)
	return err == nil
}

func (m memberCheck) SignerOf(member identity.DID, intent, sig []byte, now time.Time) (identity.DID, bool) {
	for _, d := range m.s.LoginKeys(member, now) {
		m.sigs.Inc(routing.SignedIntent)
		if identity.Verify(d.PublicKey, identity.TagPaymentIntent, intent, sig) == nil {
			return identity.DIDFromKey(d.PublicKey), true
		}
	}
	return "", false
}
