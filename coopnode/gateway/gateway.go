package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/vouch"
	"github.com/icn-coop/icn/coopnode/wallet"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

// Config configures a Gateway.
type Config struct {
	CoopID  string
	Key     *identity.Key // the node's key: signs tokens
	Ledger  *ledger.Store
	Members *membership.Store
	// Router sends payments to other co-ops (nil: they are rejected with
	// no_route).
	Router Router
	// Governance keeps the co-op's proposals, votes and dues (nil: the
	// governance routes answer not_found).
	Governance *govern.Store
	// Vouch keeps the co-op's member trust and recoveries (nil: those
	// routes answer not_found).
	Vouch *vouch.Store
	// Statements serves the co-op's settlement statements (nil: none).
	Statements Statements
	// HubLink reads the link to the hub cluster for /readyz (nil: no hub
	// configured).
	HubLink func() HubLink
	// TokenTTL is the life of an access token (1 h); RefreshTTL of a refresh token (24 h).
	TokenTTL, RefreshTTL time.Duration
	Limits               RateLimits
	// Classes is the co-op's trust in its members: their trust classes and
	// the class policies (classes.go). The zero value configures none.
	Classes MemberClasses
	// MaxBody bounds request bodies (16 KiB).
	MaxBody int64
	// IntentHorizon bounds how far ahead a payment intent may expire
	// (payment.DefaultHorizon).
	IntentHorizon time.Duration
	// Cluster is the node's Raft group when the co-op is replicated (nil:
	// a single node): writes and linearizable reads go to its leader
	// (forward.go).
	Cluster Cluster
	// ClusterAdmin serves the cluster routes (clusterops.go; nil: they
	// answer 404 not_replicated).
	ClusterAdmin ClusterAdmin
	Clock        func() time.Time
	Logger       *slog.Logger
	Registry     *prometheus.Registry // metrics land here; a fresh one if nil
}

// Gateway serves the wallet API.
type Gateway struct {
	cfg        Config
	mux        *http.ServeMux
	tokens     *tokens
	challenges *challenges
	families   *families // revoked session families (sessions.go)
	limits     *limiter
	classes    *memberClasses
	metrics    *metrics
	proxies    proxies // to the leader's gateway (forward.go)
	forwardKey []byte  // MACs the client address a follower forwards for (forward.go)
}

// New returns a gateway over cfg's ledger and membership store. The ledger
// must have been opened with Buckets among its Options.Buckets.
func New(cfg Config) (*Gateway, error) {
	if cfg.CoopID == "" || cfg.Key == nil || cfg.Ledger == nil || cfg.Members == nil {
		return nil, errors.New("gateway: CoopID, Key, Ledger and Members are required")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 24 * time.Hour
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 10
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	classes, err := cfg.Classes.compile()
	if err != nil {
		return nil, fmt.Errorf("gateway: trust classes: %w", err)
	}
	g := &Gateway{
		cfg:        cfg,
		mux:        http.NewServeMux(),
		tokens:     newTokens(cfg.Key, cfg.CoopID, cfg.Clock),
		challenges: newChallenges(cfg.Clock),
		families:   newFamilies(),
		limits:     newLimiter(cfg.Limits.withDefaults(classes.policies.For(trust.ClassIsolated)), cfg.Clock),
		classes:    classes,
		metrics:    newMetrics(cfg.Registry),
	}
	if g.forwardKey, err = forwardKeyOf(cfg.Key); err != nil {
		return nil, err
	}
	if err := g.loadSessions(); err != nil {
		return nil, err
	}
	cfg.Ledger.SetCommitHook(g.metrics.observeBatch)
	for _, rt := range g.allRoutes() {
		g.mux.Handle(rt.Method+" "+rt.Pattern, g.wrap(rt))
	}
	g.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	g.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	g.mux.HandleFunc("GET /readyz", g.readyz)
	g.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapiJSON)
	})
	wh, err := wallet.New(wallet.Config{CoopID: cfg.CoopID, Currencies: cfg.Ledger.Currencies})
	if err != nil {
		return nil, err
	}
	g.mux.Handle(wallet.Prefix, wh) // the web wallet: its pages and its JS client
	g.mux.Handle(strings.TrimSuffix(wallet.Prefix, "/"), wh)
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, "not_found", "no route %s %s; see /openapi.json", r.Method, r.URL.Path))
	})
	return g, nil
}

// MaxBody is the cap on request bodies in effect (Config.MaxBody or its
// default), for the server in front to refuse a larger declared body at once.
func (g *Gateway) MaxBody() int64 { return g.cfg.MaxBody }

// ServeHTTP makes the gateway an http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// route is one API endpoint. auth says who may call it; the handler gets the
// authenticated caller (nil for public routes).
type route struct {
	Method, Pattern string
	Name            string // metrics label
	Auth            authRule
	Handle          func(w http.ResponseWriter, r *http.Request, c *caller) error
}

func (g *Gateway) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if g.cfg.Cluster != nil && needsLeader(rt) && g.leaderOnly(sw, r, rt) {
			g.metrics.observeRequest(rt.Name, sw.status, time.Since(start))
			return
		}
		err := g.serve(sw, r, rt)
		if err != nil && g.cfg.Cluster != nil && !sw.wrote && g.refusedHere(sw, r, err) {
			g.metrics.observeRequest(rt.Name, sw.status, time.Since(start))
			return
		}
		if err != nil {
			ae := g.leaderChanged(err)
			if ae == nil {
				ae = toAPIError(err)
			}
			if ae.Status >= 500 {
				g.cfg.Logger.Error("request failed", "route", rt.Name, "err", err)
			}
			if !sw.wrote {
				writeError(sw, ae)
			}
		}
		g.metrics.observeRequest(rt.Name, sw.status, time.Since(start))
	})
}

// serve runs DESIGN.md's authorization order, then the handler: JWT valid
// → DID matches → credential valid for this co-op → not revoked → role
// permits (authenticate, authorize) → trust class allows (classAllows).
// Public routes have only the last step.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, rt route) error {
	if rt.Auth.public {
		if err := g.classAllows(r, nil); err != nil {
			return err
		}
		return rt.Handle(w, r, nil)
	}
	c, err := g.authenticate(r)
	if err != nil {
		return err
	}
	if err := g.authorize(r, c, rt.Auth); err != nil {
		return err
	}
	if err := g.classAllows(r, c); err != nil {
		return err
	}
	return rt.Handle(w, r, c)
}

// decode reads a JSON body strictly: bounded size, no unknown fields, one value.
func (g *Gateway) decode(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, g.cfg.MaxBody))
	if err != nil {
		if ae, ok := errors.AsType[*apiError](err); ok { // a trust class's payload cap (classes.go)
			return ae
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds %d bytes", g.cfg.MaxBody)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) { // the server's read timeout
			return errf(http.StatusRequestTimeout, "request_timeout", "the request body did not arrive within the server's read timeout")
		}
		return errf(http.StatusBadRequest, "invalid_request", "reading the body: %v", err)
	}
	return decodeStrict(body, v)
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errf(http.StatusBadRequest, "invalid_request", "malformed JSON: %v", err)
	}
	if dec.More() {
		return errf(http.StatusBadRequest, "invalid_request", "trailing data after the JSON object")
	}
	return nil
}

// b64Field decodes a required base64url field, naming it in the error.
func b64Field(name, s string) ([]byte, error) {
	if s == "" {
		return nil, errf(http.StatusBadRequest, "invalid_request", "%s is required", name)
	}
	b, err := identity.DecodeB64(s)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "invalid_encoding", "%s is not base64url without padding", name)
	}
	return b, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and the WebSocket upgrade reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func pathCoopMismatch(g *Gateway, r *http.Request) error {
	if c := r.PathValue("coop"); c != "" && c != g.cfg.CoopID {
		return errf(http.StatusNotFound, "unknown_coop", "this node serves co-op %q, not %q", g.cfg.CoopID, c)
	}
	return nil
}
