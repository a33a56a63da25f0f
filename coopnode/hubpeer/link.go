package hubpeer

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/routing"
)

// LinkState is the state of a co-op node's link to its hub cluster.
type LinkState string

// Link states.
const (
	// LinkConnecting: no connection yet since the start, or moving to the
	// hub leader; no attempt has failed since.
	LinkConnecting LinkState = "connecting"
	// LinkConnected: a hub node admitted this node's key at the handshake,
	// so it is a registered participant of the federation.
	LinkConnected LinkState = "connected"
	// LinkDisconnected: the connection was lost or the hub cluster is
	// unreachable; the node retries with backoff. Payments to other co-ops
	// are held and answered pending meanwhile.
	LinkDisconnected LinkState = "disconnected"
	// LinkRefused: the hub refused this node's key at the handshake: its
	// DID is not (or no longer) a registered participant of the federation.
	// The node keeps retrying, so registering it is enough.
	LinkRefused LinkState = "refused"
)

// LinkStatus is the link to the hub cluster as the node last saw it.
type LinkStatus struct {
	State LinkState
	// Hub is the hub node connected to (while connected), else the last one
	// connected to ("" if none yet).
	Hub identity.DID
	// Addr is the data-plane address connected to or last tried.
	Addr string
	// Leader is the hub leader as last learned: the node that answered the
	// last transfer request, or the one a follower named ("" if unknown).
	Leader identity.DID
	// Registered: a hub node admitted this node's key at the last handshake
	// that got an answer (false before any, and after a refusal).
	Registered bool
	// Since is when State last changed.
	Since time.Time
	// Attempts is how many connection attempts failed in a row (0 while
	// connected); LastError is the last one's error.
	Attempts  int
	LastError string
}

// defaultLinkLogEvery bounds how often a link that stays down is logged.
const defaultLinkLogEvery = time.Minute

// link follows the Peer's events: it keeps the LinkStatus, logs each change
// of state once (and a summary at most every logEvery while a failure
// lasts), and exports the state as metrics.
type link struct {
	self     identity.DID
	log      *slog.Logger
	clock    func() time.Time
	logEvery time.Duration

	mu      sync.Mutex
	st      LinkStatus
	cause   string    // why attempts fail (cause*), "" while connected or connecting
	lastLog time.Time // of the last line about the current failure
}

func newLink(self identity.DID, log *slog.Logger, clock func() time.Time, logEvery time.Duration) *link {
	if logEvery <= 0 {
		logEvery = defaultLinkLogEvery
	}
	return &link{self: self, log: log, clock: clock, logEvery: logEvery, st: LinkStatus{State: LinkConnecting, Since: clock()}}
}

func (l *link) status() LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// set moves to state s at now; it reports whether that is a change.
func (l *link) set(s LinkState, now time.Time) bool {
	if l.st.State == s {
		return false
	}
	l.st.State, l.st.Since = s, now
	return true
}

// Why attempts to connect fail, as logged: a change of cause is news.
const (
	causeUnreachable = "unreachable"
	causeRefused     = "refused"
	causeWrongKey    = "wrong_key"
)

// onEvent is the Peer's OnEvent: it runs on the Peer's goroutine, in order.
func (l *link) onEvent(e routing.PeerEvent) {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case routing.PeerConnected:
		args := []any{"hub", e.DID, "addr", e.Addr}
		if l.st.State != LinkConnecting { // after an outage
			args = append(args, "failed_attempts", l.st.Attempts, "down_for", now.Sub(l.st.Since).Round(time.Millisecond))
		}
		l.set(LinkConnected, now)
		l.st.Hub, l.st.Addr, l.st.Registered, l.st.Attempts, l.st.LastError = e.DID, e.Addr, true, 0, ""
		l.cause = ""
		l.log.Info("connected to hub: registered as a participant", args...)
	case routing.PeerDisconnected:
		l.st.Addr = e.Addr
		if e.Err == nil { // Follow: moving to the leader
			l.set(LinkConnecting, now)
			l.log.Info("leaving hub node for the leader", "hub", e.DID, "addr", e.Addr)
			return
		}
		l.set(LinkDisconnected, now)
		l.st.LastError, l.lastLog, l.cause = e.Err.Error(), now, causeUnreachable
		l.log.Warn("lost connection to hub; reconnecting with backoff", "hub", e.DID, "addr", e.Addr, "err", e.Err)
	case routing.PeerDialFailed:
		l.st.Attempts++
		l.st.Addr, l.st.LastError = e.Addr, e.Err.Error()
		l.log.Debug("hub connection attempt failed", "addr", e.Addr, "attempt", l.st.Attempts, "retry_in", e.Backoff, "err", e.Err)
		cause, state := causeUnreachable, LinkDisconnected
		switch {
		case errors.Is(e.Err, routing.ErrRefused):
			cause, state, l.st.Registered = causeRefused, LinkRefused, false
		case errors.Is(e.Err, identity.ErrPeer):
			cause = causeWrongKey
		}
		l.set(state, now)
		if cause == l.cause && now.Sub(l.lastLog) < l.logEvery {
			return // said already, not long ago
		}
		args := []any{"addr", e.Addr, "err", e.Err}
		if cause == l.cause { // a summary of the same failure
			args = append(args, "failed_attempts", l.st.Attempts, "for", now.Sub(l.st.Since).Round(time.Second))
		} else {
			args = append(args, "retry_in", e.Backoff.Round(time.Millisecond))
		}
		still := ""
		if cause == l.cause {
			still = "still "
		}
		switch cause {
		case causeRefused:
			l.log.Warn("hub "+still+"refuses this node: its DID is not a registered participant of the federation "+
				"(the federation operator adds it with icn federation coop add); retrying with backoff", append(args, "did", l.self)...)
		case causeWrongKey:
			l.log.Warn("hub node "+still+"presents a key that is not one of the hub DIDs configured in [[hub.nodes]]; retrying with backoff", args...)
		default:
			l.log.Warn("hub "+still+"unreachable; retrying with backoff", args...)
		}
		l.cause, l.lastLog = cause, now
	}
}

// onLeader records the hub leader as learned from an answer; a change is
// logged once.
func (l *link) onLeader(d identity.DID) {
	if d == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.Leader == d {
		return
	}
	l.st.Leader = d
	l.log.Info("hub leader", "leader", d)
}

// linkCollectors export the state of the link status reads.
func linkCollectors(status func() LinkStatus, openTransfers func() float64) []prometheus.Collector {
	gauge := func(name, help string, f func(LinkStatus) bool) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if f(status()) {
				return 1
			}
			return 0
		})
	}
	return []prometheus.Collector{
		gauge("icn_hubpeer_connected", "1 while the co-op node has a connection to a node of its hub cluster, else 0.",
			func(s LinkStatus) bool { return s.State == LinkConnected }),
		gauge("icn_hubpeer_registered", "1 if the hub admitted this node's key at the last handshake that got an answer (a registered participant), 0 before any and after a refusal.",
			func(s LinkStatus) bool { return s.Registered }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "icn_hubpeer_open_transfers",
			Help: "Two-phase payments (holds and pending credits) waiting for the hub's outcome."}, openTransfers),
	}
}
