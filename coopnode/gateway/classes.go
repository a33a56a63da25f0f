package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

// Trust classes at the gateway: the authorization order's last step,
// "trust class allows" (DESIGN.md: JWT valid → DID matches → credential
// valid for this co-op → not revoked → role permits → trust class allows).
// Each caller falls in one of three tiers:
//
//   - A member whose class the co-op configures ([gateway.trust]: by DID,
//     else the highest class among its roles, else default_member_class)
//     gets that class's policy, per DID: its request rate and burst, and
//     its payload cap (never above max_body_bytes).
//   - A member without a configured class keeps the plain per-DID limit
//     (rate_limits.per_did, per_did_burst) and max_body_bytes.
//   - A caller the co-op has no trust in — the unauthenticated routes
//     (/auth/challenge, /auth/verify, /auth/refresh) and a token holder
//     without a valid membership (an applicant, a revoked member) — is
//     isolated: 10 requests/s per client IP (rate_limits.per_ip,
//     per_ip_burst), all such requests from one address sharing one
//     budget, since DIDs cost nothing to make. Its payload cap is the
//     isolated class's 1 KiB on the login routes, whose largest legitimate
//     bodies are about 300 bytes (verify) and 600 (refresh); a token
//     holder's signed documents get the known class's 10 KiB, the smallest
//     that fits them: a membership application with a 100-character name
//     in a four-byte script and a 252-byte e-mail is 1,151 bytes.
//
// Refusals are 429 rate_limited with Retry-After, and 413 body_too_large,
// each naming the class; both count in
// icn_trust_class_refusals_total{class,kind}.

// MemberClasses is the co-op's trust in its members (coop.toml
// [gateway.trust]). Class names: isolated, known, partner, federated.
type MemberClasses struct {
	// DefaultMemberClass is the class of every member that Members and
	// Roles do not place; empty: such members keep the per-DID limit.
	DefaultMemberClass string `toml:"default_member_class"`
	// Roles maps a role (member, moderator, treasurer) to a class; a
	// member with several gets the highest of theirs.
	Roles map[string]string `toml:"roles"`
	// Members maps a member's DID to its class, before Roles.
	Members map[string]string `toml:"members"`
	// Policies override the seed's table for the gateway
	// ([gateway.trust.policies.<class>]).
	Policies map[string]trust.PolicyOverride `toml:"policies"`
}

// Check validates the classes, DIDs and policies, naming the keys under
// section (e.g. "gateway.trust").
func (m MemberClasses) Check(section string) error {
	_, err := m.compile()
	if err != nil {
		return fmt.Errorf("%s: %w", section, err)
	}
	return nil
}

// memberClasses is MemberClasses parsed.
type memberClasses struct {
	policies trust.Policies
	def      *trust.Class
	roles    map[string]trust.Class
	members  map[identity.DID]trust.Class
}

func (m MemberClasses) compile() (*memberClasses, error) {
	p, err := trust.DefaultPolicies().Override(m.Policies, 0)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	out := &memberClasses{policies: p, roles: map[string]trust.Class{}, members: map[identity.DID]trust.Class{}}
	if m.DefaultMemberClass != "" {
		c, err := trust.ParseClass(m.DefaultMemberClass)
		if err != nil {
			return nil, fmt.Errorf("default_member_class: %w", err)
		}
		out.def = &c
	}
	for role, name := range m.Roles {
		if !slices.Contains([]string{membership.RoleMember, membership.RoleModerator, membership.RoleTreasurer}, role) {
			return nil, fmt.Errorf("roles: unknown role %.30q (member, moderator, treasurer)", role)
		}
		c, err := trust.ParseClass(name)
		if err != nil {
			return nil, fmt.Errorf("roles.%s: %w", role, err)
		}
		out.roles[role] = c
	}
	for did, name := range m.Members {
		d, _, err := identity.ParseDID(did)
		if err != nil {
			return nil, fmt.Errorf("members: %w", err)
		}
		c, err := trust.ParseClass(name)
		if err != nil {
			return nil, fmt.Errorf("members.%s: %w", d.Short(), err)
		}
		out.members[d] = c
	}
	return out, nil
}

// classOf is the configured class of member m, if any.
func (mc *memberClasses) classOf(m *membership.Member) (trust.Class, bool) {
	if c, ok := mc.members[m.DID]; ok {
		return c, true
	}
	best, found := trust.ClassIsolated, false
	for _, r := range m.Roles {
		if c, ok := mc.roles[r]; ok && (!found || c > best) {
			best, found = c, true
		}
	}
	if found {
		return best, true
	}
	if mc.def != nil {
		return *mc.def, true
	}
	return 0, false
}

// Kinds of icn_trust_class_refusals_total.
const (
	refusedRate    = "rate"
	refusedPayload = "payload"
)

func newClassRefusals(reg prometheus.Registerer) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icn_trust_class_refusals_total",
		Help: "Wallet API requests refused by the caller's trust class: kind rate (429 rate_limited) or payload (413 body_too_large), by class (isolated: unauthenticated callers and non-members).",
	}, []string{"class", "kind"})
	for _, c := range trust.Classes() {
		for _, k := range []string{refusedRate, refusedPayload} {
			v.WithLabelValues(c.String(), k)
		}
	}
	reg.MustRegister(v)
	return v
}

// budget is what the last authorization step holds a request to.
type budget struct {
	tier         tier
	key          string // the rate limiter's bucket
	limit        rate.Limit
	burst        int
	rateClass    trust.Class // with tierAnonymous, tierClass
	maxBody      int64
	payloadClass trust.Class // when maxBody is below max_body_bytes
}

// tier is which of the three a caller is in (see the top of this file).
type tier int

const (
	tierAnonymous tier = iota // no membership: isolated, per address
	tierDID                   // a member in no configured class: the per-DID limit
	tierClass                 // a member in a configured class
)

// whose names the budget for a 429's message.
func (b budget) whose() string {
	r := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", float64(b.limit)), "0"), ".")
	switch b.tier {
	case tierAnonymous:
		return fmt.Sprintf("requests from this address without a membership (trust class isolated: %s/s, burst %d)", r, b.burst)
	case tierClass:
		return fmt.Sprintf("requests for this member (trust class %s: %s/s, burst %d)", b.rateClass, r, b.burst)
	}
	return fmt.Sprintf("requests for this DID (%s/s, burst %d)", r, b.burst)
}

// budgetOf places the caller (nil: an unauthenticated route) in its tier.
func (g *Gateway) budgetOf(r *http.Request, c *caller) budget {
	var member *membership.Member
	if c != nil {
		if member = c.Member; member == nil {
			if m, err := g.cfg.Members.Authorize(c.DID, g.cfg.Clock()); err == nil {
				member = &m
			}
		}
	}
	l := g.limits.cfg
	if member == nil { // no trust: isolated, per address
		b := budget{tier: tierAnonymous, key: "ip:" + g.clientIP(r), limit: rate.Limit(l.PerIP), burst: l.PerIPBurst,
			rateClass: trust.ClassIsolated, payloadClass: trust.ClassIsolated}
		if c != nil {
			b.payloadClass = trust.ClassKnown // a token holder's signed documents (see the top of this file)
		}
		b.maxBody = min(g.cfg.MaxBody, int64(g.classes.policies.For(b.payloadClass).MaxPayloadBytes))
		return b
	}
	cl, ok := g.classes.classOf(member)
	if !ok { // no trust configured: the plain per-DID limit
		return budget{tier: tierDID, key: "did:" + string(c.DID), limit: rate.Limit(l.PerDID), burst: l.PerDIDBurst, maxBody: g.cfg.MaxBody}
	}
	pol := g.classes.policies.For(cl)
	return budget{tier: tierClass, key: "class:" + cl.String() + ":" + string(c.DID), limit: rate.Limit(pol.RequestsPerSecond), burst: pol.Burst,
		rateClass: cl, payloadClass: cl, maxBody: min(g.cfg.MaxBody, int64(pol.MaxPayloadBytes))}
}

// classAllows is the authorization's last step: the caller's request rate
// and payload cap (c nil: an unauthenticated route). It bounds r's body for
// the handler.
func (g *Gateway) classAllows(r *http.Request, c *caller) error {
	b := g.budgetOf(r, c)
	if wait := g.limits.wait(b.key, b.limit, b.burst); wait > 0 {
		g.metrics.rateLimited.Inc()
		if b.tier != tierDID {
			g.metrics.classRefusals.WithLabelValues(b.rateClass.String(), refusedRate).Inc()
		}
		ae := errf(http.StatusTooManyRequests, "rate_limited", "too many %s; retry after %s", b.whose(), max(wait, time.Millisecond).Round(time.Millisecond))
		ae.RetryAfter = wait
		return ae
	}
	if b.maxBody >= g.cfg.MaxBody {
		return nil // decode applies max_body_bytes
	}
	tooLarge := func() *apiError {
		g.metrics.classRefusals.WithLabelValues(b.payloadClass.String(), refusedPayload).Inc()
		return errf(http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds %d bytes, the payload cap of trust class %s", b.maxBody, b.payloadClass)
	}
	if r.ContentLength > b.maxBody {
		return tooLarge()
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &cappedBody{ReadCloser: http.MaxBytesReader(nil, r.Body, b.maxBody), refuse: tooLarge}
	}
	return nil
}

// cappedBody turns reading past its cap into the class's 413.
type cappedBody struct {
	io.ReadCloser
	refuse func() *apiError
	err    *apiError
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.ReadCloser.Read(p)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		b.err = b.refuse()
		return n, b.err
	}
	return n, err
}
