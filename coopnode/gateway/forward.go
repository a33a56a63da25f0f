package gateway

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Cluster is what the gateway of a replicated co-op node asks of its Raft
// group (coopnode/cluster through the node). Nil in Config: a single node.
type Cluster interface {
	// Leader reports whether this node leads with its state current, and
	// otherwise the leader's gateway base URL ("" while none is known).
	Leader() (leading bool, api string)
	// ReadBarrier makes this node's next read linearizable (leader only).
	ReadBarrier(ctx context.Context) error
	// Retryable reports whether err means the write may be tried again on
	// the leader of the moment with the same id (leadership moved, or the
	// outcome of a proposal is unknown).
	Retryable(err error) bool
	// CaughtUp reports whether this node has caught up with the group since
	// it started (false while it restores and replays its log): /readyz
	// answers 503 catching_up until it has.
	CaughtUp() bool
}

// forwardedHeader marks a request a follower sent to the leader: a node
// that does not lead answers it 503 instead of sending it on, so two nodes
// with different ideas of the leader never bounce it between them. Its
// value names the client the follower forwards for (forwardedFor).
const forwardedHeader = "X-Icn-Forwarded"

// forwardMaxAge bounds how old a forwarded client address may be, and how
// far ahead of the leader's clock.
const forwardMaxAge = time.Minute

// forwardKeyOf derives the key that MACs forwarded client addresses from
// the co-op key every node of a replicated co-op holds.
func forwardKeyOf(k *identity.Key) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, k.Seed(), nil, "icn/v1/gateway-forward", 32)
	if err != nil {
		return nil, fmt.Errorf("gateway: forward key: %w", err)
	}
	return key, nil
}

func (g *Gateway) forwardMAC(r *http.Request, addr string, at int64) []byte {
	m := hmac.New(sha256.New, g.forwardKey)
	fmt.Fprintf(m, "%s\n%s\n%s\n%d", r.Method, r.URL.Path, addr, at)
	return m.Sum(nil)
}

// markForwarded sets r's forwardedHeader to "<client address> <unix
// seconds> <MAC>": the leader charges the request to that address's
// per-IP budget, not to this node's.
func (g *Gateway) markForwarded(r *http.Request) {
	addr, at := remoteIP(r), g.cfg.Clock().Unix()
	mac := base64.RawURLEncoding.EncodeToString(g.forwardMAC(r, addr, at))
	r.Header.Set(forwardedHeader, addr+" "+strconv.FormatInt(at, 10)+" "+mac)
}

// forwardedFor is the client address a node of this co-op forwarded r for,
// if r's forwardedHeader carries one whose MAC checks out and that is at
// most forwardMaxAge old. Only a holder of the co-op key can name another
// client than the connection's.
func (g *Gateway) forwardedFor(r *http.Request) (string, bool) {
	addr, rest, ok := strings.Cut(r.Header.Get(forwardedHeader), " ")
	if !ok || net.ParseIP(addr) == nil {
		return "", false
	}
	ts, mac64, ok := strings.Cut(rest, " ")
	at, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return "", false
	}
	if d := g.cfg.Clock().Sub(time.Unix(at, 0)); d > forwardMaxAge || d < -forwardMaxAge {
		return "", false
	}
	mac, err := base64.RawURLEncoding.DecodeString(mac64)
	if err != nil || !hmac.Equal(mac, g.forwardMAC(r, addr, at)) {
		return "", false
	}
	return addr, true
}

// clientIP is the address a request came from, without its port: the
// client a node of this co-op forwarded it for, else the connection's.
func (g *Gateway) clientIP(r *http.Request) string {
	if addr, ok := g.forwardedFor(r); ok {
		return addr
	}
	return remoteIP(r)
}

// retryLeader is the wait a client is told to make while the co-op's
// cluster elects a leader (raft's election timeout is about a second).
const retryLeader = time.Second

// errNoLeader answers what must reach the leader while none is known.
var errNoLeader = &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: retryLeader,
	Message: "the co-op's nodes are electing a leader; retry (a payment with the same id)"}

// needsLeader reports whether rt is served by the leader only: every write,
// and the reads that must be linearizable (a balance, a payment's status).
// Everything else (history, the directory, members, devices, statements,
// event feeds, backups) is read from this node's copy, which may trail the
// leader's by the entries not yet applied here.
func needsLeader(rt route) bool {
	return rt.Method != http.MethodGet || rt.Name == "balance" || rt.Name == "payment_status"
}

// leaderOnly serves rt on the leader: it returns false if this node leads
// (after a read barrier for a read), so the caller serves the request;
// otherwise it has answered, by forwarding the request to the leader's
// gateway or with an error. The leader authenticates forwarded requests
// itself: the token and signatures travel unchanged.
func (g *Gateway) leaderOnly(w http.ResponseWriter, r *http.Request, rt route) (answered bool) {
	leading, api := g.cfg.Cluster.Leader()
	if leading {
		if rt.Method != http.MethodGet {
			return false
		}
		if err := g.cfg.Cluster.ReadBarrier(r.Context()); err != nil {
			g.cfg.Logger.Debug("read barrier", "route", rt.Name, "err", err)
			writeError(w, errNoLeader)
			return true
		}
		return false
	}
	if api == "" || r.Header.Get(forwardedHeader) != "" {
		writeError(w, errNoLeader)
		return true
	}
	g.forward(w, r, api)
	return true
}

func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, api string) {
	p, err := g.proxies.get(api, g)
	if err != nil {
		g.cfg.Logger.Error("leader API address", "api", api, "err", err)
		writeError(w, errNoLeader)
		return
	}
	g.markForwarded(r)
	p.ServeHTTP(w, r)
}

// refusedHere sends a local read that this follower refused as
// unauthenticated or unauthorized to the leader instead, and reports
// whether it did: the follower's copy may not have applied yet the login,
// membership or device the caller just obtained from the leader (read your
// own writes). The leader's answer is final.
func (g *Gateway) refusedHere(w http.ResponseWriter, r *http.Request, err error) bool {
	ae := toAPIError(err)
	if ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	leading, api := g.cfg.Cluster.Leader()
	if leading || api == "" {
		return false
	}
	g.forward(w, r, api)
	return true
}

// proxies keeps one reverse proxy per leader address.
type proxies struct {
	mu sync.Mutex
	m  map[string]*httputil.ReverseProxy
}

func (ps *proxies) get(api string, g *Gateway) (*httputil.ReverseProxy, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.m[api]; p != nil {
		return p, nil
	}
	u, err := url.Parse(api)
	if err != nil {
		return nil, err
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		// The leader went away while answering: the client retries, here
		// or on another node, once a new leader is elected.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				g.cfg.Logger.Debug("forward to leader", "api", api, "err", err)
			}
			writeError(w, errNoLeader)
		},
	}
	if ps.m == nil {
		ps.m = map[string]*httputil.ReverseProxy{}
	}
	ps.m[api] = p
	return p, nil
}

// leaderChanged maps an error of a write the cluster could not finish on
// this node to the refusal a client retries.
func (g *Gateway) leaderChanged(err error) *apiError {
	if g.cfg.Cluster != nil && g.cfg.Cluster.Retryable(err) {
		return errNoLeader
	}
	return nil
}
