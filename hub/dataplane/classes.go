package dataplane

import (
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

// Trust-class policies on the data plane. Each participant (a co-op node,
// a child or parent federation) is in the class of the federation's
// transitive trust in it, as the FSM computes it for credit policies and
// the min_trust check; the class's policy bounds the requests it sends (a
// token bucket of the class's rate and burst, per participant and hub
// node: every stream it opens is one request) and the frames it sends (a
// cap on its connection, so that a larger frame is refused before its body
// is read). A refusal is an ErrorReply with one of the codes below, counted
// in icn_trust_class_refusals_total{class,kind}.

// Error codes of the data plane's trust-class refusals.
const (
	ReplyRateLimited     = "rate_limited"      // over the class's request rate
	ReplyPayloadTooLarge = "payload_too_large" // a frame over the class's payload cap
)

// Kinds of icn_trust_class_refusals_total.
const (
	refusedRate    = "rate"
	refusedPayload = "payload"
)

// classGates holds each participant's class and request budget.
type classGates struct {
	fsm      *fsm.FSM
	policies trust.Policies
	clock    func() time.Time
	refusals *prometheus.CounterVec

	mu    sync.Mutex
	gates map[identity.DID]*classGate
}

// classGate is one participant's class, as of a trust generation, and its
// token bucket.
type classGate struct {
	mu    sync.Mutex
	gen   uint64
	set   bool
	class trust.Class
	lim   *rate.Limiter
}

func newClassGates(fsm *fsm.FSM, policies trust.Policies, clock func() time.Time) *classGates {
	g := &classGates{fsm: fsm, policies: policies, clock: clock, gates: map[identity.DID]*classGate{},
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icn_trust_class_refusals_total",
			Help: "Data-plane requests refused because their participant's trust class allows no more: kind rate (over the class's requests/s) or payload (a frame over the class's payload cap), by that class.",
		}, []string{"class", "kind"}),
	}
	for _, c := range trust.Classes() {
		for _, k := range []string{refusedRate, refusedPayload} {
			g.refusals.WithLabelValues(c.String(), k)
		}
	}
	return g
}

// gate returns did's gate with its class brought up to date: the FSM's
// trust generation moves whenever the trust graph may have changed, and
// only then is the class looked up again (under the FSM's lock).
func (g *classGates) gate(did identity.DID) (*classGate, trust.Class, trust.Policy) {
	g.mu.Lock()
	cg := g.gates[did]
	if cg == nil {
		cg = &classGate{}
		g.gates[did] = cg
	}
	g.mu.Unlock()
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if gen := g.fsm.TrustGen(); !cg.set || gen != cg.gen {
		class, at := g.fsm.TrustClass(did)
		pol := g.policies.For(class)
		now := g.clock()
		if cg.lim == nil {
			cg.lim = rate.NewLimiter(rate.Limit(pol.RequestsPerSecond), pol.Burst)
		} else if class != cg.class {
			// The tokens left carry over: a new class changes the rate
			// from now on, it neither refills nor empties the bucket.
			cg.lim.SetLimitAt(now, rate.Limit(pol.RequestsPerSecond))
			cg.lim.SetBurstAt(now, pol.Burst)
		}
		cg.gen, cg.set, cg.class = at, true, class
	}
	return cg, cg.class, g.policies.For(cg.class)
}

// policy returns did's class and its policy.
func (g *classGates) policy(did identity.DID) (trust.Class, trust.Policy) {
	_, c, p := g.gate(did)
	return c, p
}

// allow spends one request of the budget of the participant whose gate cg
// is, in class with policy pol (as gate returned them), or returns the
// refusal to send.
func (g *classGates) allow(cg *classGate, class trust.Class, pol trust.Policy) *refusal {
	now := g.clock()
	r := cg.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if wait == 0 {
		return nil
	}
	r.CancelAt(now) // a refused request costs nothing: the budget is for what is served
	g.refusals.WithLabelValues(class.String(), refusedRate).Inc()
	return &refusal{code: ReplyRateLimited, msg: fmt.Sprintf("over %d requests/s (burst %d), the rate of trust class %s; retry after %s",
		pol.RequestsPerSecond, pol.Burst, class, max(wait, time.Millisecond).Round(time.Millisecond))}
}

// tooLarge counts and words the refusal of a frame over the payload cap.
func (g *classGates) tooLarge(class trust.Class, pol trust.Policy) *refusal {
	g.refusals.WithLabelValues(class.String(), refusedPayload).Inc()
	return &refusal{code: ReplyPayloadTooLarge, msg: fmt.Sprintf("a message over %d bytes, the payload cap of trust class %s", pol.MaxPayloadBytes, class)}
}

// refusal is a trust-class refusal's ErrorReply.
type refusal struct{ code, msg string }
