package gateway

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/icn-coop/icn/identity"
)

// RateLimits bound requests per authenticated DID and, on the public login
// routes, per client IP. Zero values take the defaults.
type RateLimits struct {
	PerDID      float64 `toml:"per_did"`       // requests/s (default 200)
	PerDIDBurst int     `toml:"per_did_burst"` // (default 2× PerDID)
	PerIP       float64 `toml:"per_ip"`        // requests/s on public routes (default 20)
	PerIPBurst  int     `toml:"per_ip_burst"`  // (default 3× PerIP)
}

func (l RateLimits) withDefaults() RateLimits {
	if l.PerDID <= 0 {
		l.PerDID = 200
	}
	if l.PerDIDBurst <= 0 {
		l.PerDIDBurst = int(2 * l.PerDID)
	}
	if l.PerIP <= 0 {
		l.PerIP = 20
	}
	if l.PerIPBurst <= 0 {
		l.PerIPBurst = int(3 * l.PerIP)
	}
	return l
}

type limiter struct {
	cfg   RateLimits
	clock func() time.Time
	mu    sync.Mutex
	m     map[string]*limitEntry
}

type limitEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const limiterPruneAt = 50_000

func newLimiter(cfg RateLimits, clock func() time.Time) *limiter {
	return &limiter{cfg: cfg.withDefaults(), clock: clock, m: map[string]*limitEntry{}}
}

func (l *limiter) allowDID(did identity.DID) error {
	return l.allow("did:"+string(did), rate.Limit(l.cfg.PerDID), l.cfg.PerDIDBurst)
}

func (l *limiter) allowIP(r *http.Request) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return l.allow("ip:"+host, rate.Limit(l.cfg.PerIP), l.cfg.PerIPBurst)
}

func (l *limiter) allow(key string, limit rate.Limit, burst int) error {
	now := l.clock()
	l.mu.Lock()
	e := l.m[key]
	if e == nil {
		if len(l.m) >= limiterPruneAt {
			for k, old := range l.m {
				if now.Sub(old.seen) > 10*time.Minute {
					delete(l.m, k)
				}
			}
		}
		e = &limitEntry{lim: rate.NewLimiter(limit, burst)}
		l.m[key] = e
	}
	e.seen = now
	res := e.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay > 0 {
		res.CancelAt(now)
	}
	l.mu.Unlock()
	if delay > 0 {
		ae := errf(http.StatusTooManyRequests, "rate_limited", "too many requests; retry after %s", delay.Round(time.Millisecond))
		ae.RetryAfter = delay
		return ae
	}
	return nil
}
