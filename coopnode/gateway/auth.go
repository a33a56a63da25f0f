package gateway

import (
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
)

// claims are what a token says. Roles are not in the token: they are read
// from the membership records on every request, so a revocation bites at once.
type claims struct {
	jwt.RegisteredClaims
	Dev string `json:"dev"` // device whose key logged in
	Typ string `json:"typ"` // "access" or "refresh"
	// Sid is the session family: set at login, kept by every refresh, so
	// reuse of a refresh token can revoke every token descended from that
	// login (sessions.go). The jti (RegisteredClaims.ID) is unique per token.
	Sid string `json:"sid,omitempty"`
	// IssuedNano is the issue time in Unix nanoseconds: iat has whole
	// seconds only, too coarse to tell a session opened just after an
	// emergency revoke from one opened just before it.
	IssuedNano int64 `json:"iat_ns,omitempty"`
}

// issued is when the token was issued, as precisely as it says.
func (c *claims) issued() time.Time {
	if c.IssuedNano != 0 {
		return time.Unix(0, c.IssuedNano)
	}
	return c.IssuedAt.Time
}

const (
	typAccess  = "access"
	typRefresh = "refresh"
)

// tokens issues and verifies EdDSA JWTs signed by the node key. Verified
// access tokens are cached until they expire, so a busy client pays for one
// signature check per token rather than one per request.
type tokens struct {
	key    *identity.Key
	coop   string
	clock  func() time.Time
	parser *jwt.Parser
	mu     sync.Mutex
	cache  map[string]*claims
}

const tokenCacheMax = 100_000

func newTokens(key *identity.Key, coop string, clock func() time.Time) *tokens {
	return &tokens{
		key: key, coop: coop, clock: clock, cache: map[string]*claims{},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(string(key.DID())), jwt.WithAudience(coop),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(clock),
		),
	}
}

func (t *tokens) issue(did identity.DID, dev, sid, typ string, ttl time.Duration) (string, error) {
	now := t.clock()
	id := make([]byte, 16)
	rand.Read(id)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: string(t.key.DID()), Subject: string(did), Audience: jwt.ClaimStrings{t.coop},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), ID: identity.B64(id),
		},
		Dev: dev, Typ: typ, Sid: sid, IssuedNano: now.UnixNano(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(t.key.PrivateKey())
}

func (t *tokens) verify(raw, typ string) (*claims, error) {
	now := t.clock()
	var c *claims
	var ok bool
	if typ == typAccess { // the cache holds only access tokens: never answer a refresh from it
		t.mu.Lock()
		c, ok = t.cache[raw]
		t.mu.Unlock()
	}
	if ok {
		if now.Before(c.ExpiresAt.Time) {
			return c, nil
		}
		t.mu.Lock()
		delete(t.cache, raw)
		t.mu.Unlock()
		return nil, errf(http.StatusUnauthorized, "token_expired", "the token has expired; log in again or refresh")
	}
	c = &claims{}
	_, err := t.parser.ParseWithClaims(raw, c, func(*jwt.Token) (any, error) { return t.key.Public(), nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errf(http.StatusUnauthorized, "token_expired", "the token has expired; log in again or refresh")
	case err != nil:
		return nil, errf(http.StatusUnauthorized, "invalid_token", "the token is not valid for this co-op node")
	case c.Typ != typ:
		return nil, errf(http.StatusUnauthorized, "invalid_token", "a %s token was sent where a %s token is needed", c.Typ, typ)
	}
	if _, _, err := identity.ParseDID(c.Subject); err != nil {
		return nil, errf(http.StatusUnauthorized, "invalid_token", "the token's subject is not a DID")
	}
	if typ == typAccess {
		t.mu.Lock()
		if len(t.cache) >= tokenCacheMax {
			clear(t.cache)
		}
		t.cache[raw] = c
		t.mu.Unlock()
	}
	return c, nil
}

// challenges holds outstanding login nonces: single use, short-lived, bounded.
type challenges struct {
	clock func() time.Time
	mu    sync.Mutex
	m     map[string]challenge
}

type challenge struct {
	did     identity.DID
	expires time.Time
}

const (
	challengeTTL = 5 * time.Minute
	challengeMax = 100_000
)

func newChallenges(clock func() time.Time) *challenges {
	return &challenges{clock: clock, m: map[string]challenge{}}
}

func (cs *challenges) create(did identity.DID) (nonce []byte, expires time.Time, err error) {
	nonce = make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, time.Time{}, err
	}
	now := cs.clock()
	expires = now.Add(challengeTTL)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.m) >= challengeMax {
		for k, c := range cs.m {
			if now.After(c.expires) {
				delete(cs.m, k)
			}
		}
		if len(cs.m) >= challengeMax {
			return nil, time.Time{}, errf(http.StatusServiceUnavailable, "busy", "too many logins in progress; retry shortly")
		}
	}
	cs.m[string(nonce)] = challenge{did: did, expires: expires}
	return nonce, expires, nil
}

// take consumes a nonce whatever happens next, so each can be tried once.
func (cs *challenges) take(nonce []byte, did identity.DID) error {
	cs.mu.Lock()
	c, ok := cs.m[string(nonce)]
	delete(cs.m, string(nonce))
	cs.mu.Unlock()
	if !ok || c.did != did {
		return errf(http.StatusUnauthorized, "invalid_challenge", "unknown or already used nonce; request a new challenge")
	}
	if cs.clock().After(c.expires) {
		return errf(http.StatusUnauthorized, "challenge_expired", "the challenge expired; request a new one")
	}
	return nil
}

// caller is the authenticated member behind a request.
type caller struct {
	DID     identity.DID
	Device  string
	Session string             // the token's session family (sid)
	Issued  time.Time          // when the session's token was issued
	Member  *membership.Member // nil until a rule needs the credential
}

func (c *caller) hasRole(roles ...string) bool {
	if c.Member == nil {
		return false
	}
	for _, r := range roles {
		if slices.Contains(c.Member.Roles, r) {
			return true
		}
	}
	return false
}

// authRule says who may call a route.
type authRule struct {
	public bool     // no token (rate-limited per IP)
	member bool     // needs a valid credential for this co-op
	roles  []string // needs one of these roles
	// selfOr: the {did} in the path must be the caller, unless the caller
	// holds one of these roles.
	selfOr []string
	self   bool
}

var (
	rulePublic    = authRule{public: true}
	ruleToken     = authRule{}
	ruleMember    = authRule{member: true}
	ruleModerator = authRule{member: true, roles: []string{membership.RoleModerator}}
	ruleSelfOrMod = authRule{member: true, self: true, selfOr: []string{membership.RoleModerator, membership.RoleTreasurer}}
	ruleSelf      = authRule{self: true}
	ruleTreasurer = authRule{member: true, roles: []string{membership.RoleTreasurer, membership.RoleModerator}}
)

func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if strings.HasPrefix(r.URL.Path, "/ws/") {
		return r.URL.Query().Get("token")
	}
	return ""
}

// authenticate checks the token, then that its device and session still stand.
func (g *Gateway) authenticate(r *http.Request) (*caller, error) {
	raw := bearer(r)
	if raw == "" {
		return nil, errf(http.StatusUnauthorized, "missing_token", "send Authorization: Bearer <token> from POST /auth/verify")
	}
	c, err := g.tokens.verify(raw, typAccess)
	if err != nil {
		return nil, err
	}
	return g.sessionStands(c)
}

func (g *Gateway) sessionStands(c *claims) (*caller, error) {
	who := &caller{DID: identity.DID(c.Subject), Device: c.Dev, Session: c.Sid, Issued: c.issued()}
	return who, g.stillStands(who)
}

// stillStands checks that a caller's session family, device and session have
// not been revoked since it authenticated (open event streams re-check it).
func (g *Gateway) stillStands(c *caller) error {
	if g.families.isRevoked(c.Session) { // memory only: this runs on every request
		return errSessionFamilyRevoked
	}
	if !g.deviceMayLogIn(c.DID, c.Device, g.cfg.Clock()) {
		return errf(http.StatusUnauthorized, "device_revoked", "the device this session was opened with has been revoked")
	}
	// SessionsValidAfter, not Member: a non-member's emergency revoke counts too.
	if c.Issued.Before(g.cfg.Members.SessionsValidAfter(c.DID)) {
		return errf(http.StatusUnauthorized, "session_revoked", "sessions opened before an emergency revoke are closed; log in again")
	}
	return nil
}

func (g *Gateway) deviceMayLogIn(did identity.DID, dev string, now time.Time) bool {
	for _, d := range g.cfg.Members.LoginKeys(did, now) {
		if d.ID == dev {
			return true
		}
	}
	return false
}

// authorize applies rule in DESIGN.md's order after authentication.
func (g *Gateway) authorize(r *http.Request, c *caller, rule authRule) error {
	if err := pathCoopMismatch(g, r); err != nil {
		return err
	}
	other := false
	if rule.self {
		if p := r.PathValue("did"); p != "" && identity.DID(p) != c.DID {
			other = true
			if len(rule.selfOr) == 0 {
				return errf(http.StatusForbidden, "forbidden", "this route acts only on the caller's own DID")
			}
		}
	}
	if rule.member || other {
		m, err := g.cfg.Members.Authorize(c.DID, g.cfg.Clock())
		if err != nil {
			return err
		}
		c.Member = &m
	}
	if len(rule.roles) > 0 && !c.hasRole(rule.roles...) {
		return errf(http.StatusForbidden, "forbidden_role", "this needs the role %s", strings.Join(rule.roles, " or "))
	}
	if other && !c.hasRole(rule.selfOr...) {
		return errf(http.StatusForbidden, "forbidden", "members may act only on their own DID; this needs the role %s", strings.Join(rule.selfOr, " or "))
	}
	return nil
}
