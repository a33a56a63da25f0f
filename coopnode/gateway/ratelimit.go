package gateway

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/icn-coop/icn/trust"
)

// RateLimits bound requests per authenticated DID and, for callers without
// a membership (the public login routes, applicants), per client IP. Zero
// values take the defaults. Members of a trust class the co-op configures
// (MemberClasses) have their class's rate instead of PerDID.
type RateLimits struct {
	PerDID      float64 `toml:"per_did"`       // requests/s (default 200)
	PerDIDBurst int     `toml:"per_did_burst"` // (default 2× PerDID)
	// PerIP is the isolated trust class's rate for callers without a
	// membership, per client IP (default: the isolated class's, 10/s).
	PerIP      float64 `toml:"per_ip"`
	PerIPBurst int     `toml:"per_ip_burst"` // (default: one second's worth of PerIP)
}

// withDefaults fills the zero fields; isolated is the isolated class's
// policy in force.
func (l RateLimits) withDefaults(isolated trust.Policy) RateLimits {
	if l.PerDID <= 0 {
		l.PerDID = 200
	}
	if l.PerDIDBurst <= 0 {
		l.PerDIDBurst = int(2 * l.PerDID)
	}
	switch {
	case l.PerIP <= 0:
		l.PerIP = float64(isolated.RequestsPerSecond)
		if l.PerIPBurst <= 0 {
			l.PerIPBurst = isolated.Burst
		}
	case l.PerIPBurst <= 0:
		l.PerIPBurst = max(1, int(l.PerIP))
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
	return &limiter{cfg: cfg, clock: clock, m: map[string]*limitEntry{}}
}

// remoteIP is the address of r's connection, without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// wait spends one request of key's bucket (created with limit and burst on
// first use), or returns how long until one is available; a refused
// request spends nothing.
func (l *limiter) wait(key string, limit rate.Limit, burst int) time.Duration {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
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
	return delay
}
