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
	// IssuedNano is the issue time in Unix nanoseconds. It decides only for
	// tokens without Gen, issued before session epochs existed (stillStands).
	IssuedNano int64 `json:"iat_ns,omitempty"`
	// Gen is the DID's session epoch at login (membership.SessionEpoch),
	// kept by every refresh. A revocation of the DID (member revoke,
	// emergency revoke) raises the epoch durably, in the transaction that
	// revokes, and a token is valid only while its Gen is the DID's epoch.
	//
	// An epoch, not a time: comparing issue times with the time of the
	// revocation cannot tell a token issued in the same clock tick as the
	// revocation, before it, from the re-admitted member's login just after
	// it (iat has whole seconds; even nanoseconds tie on a coarse clock),
	// and a clock stepped back would let a token issued before the
	// revocation look younger than it. The epoch is ordered by the ledger's
	// write transactions instead: a login reads it before it verifies the
	// signature, so a token either carries the epoch raised by a revocation
	// (and was issued after it) or an older one (and is refused).
	Gen uint64 `json:"gen,omitempty"`
	// DevSeq is the Seq of the device Dev (membership.Device.Seq): a device
	// added again under a revoked device's ID gets a new Seq, so it does
	// not revive the revoked one's sessions.
	DevSeq uint64 `json:"dsq,omitempty"`
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

// issue signs a token of type typ for session s (its DID, device, family
// and epoch), valid for ttl.
func (t *tokens) issue(s *caller, typ string, ttl time.Duration) (string, error) {
	now := t.clock()
	id := make([]byte, 16)
	rand.Read(id)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: string(t.key.DID()), Subject: string(s.DID), Audience: jwt.ClaimStrings{t.coop},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), ID: identity.B64(id),
		},
		Dev: s.Device, Typ: typ, Sid: s.Session, IssuedNano: now.UnixNano(), Gen: s.Gen, DevSeq: s.DeviceSeq,
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

// caller is the authenticated member behind a request: the session its
// token belongs to.
type caller struct {
	DID       identity.DID
	Device    string
	DeviceSeq uint64             // the device's Seq (dsq)
	Session   string             // the token's session family (sid)
	Gen       uint64             // the DID's session epoch at login (gen)
	Issued    time.Time          // when the session's token was issued
	Member    *membership.Member // nil until a rule needs the credential
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
	// ruleTreasurerRole: the treasurer role itself (the admin holds it).
	ruleTreasurerRole = authRule{member: true, roles: []string{membership.RoleTreasurer}}
)

var (
	errMissingToken = errf(http.StatusUnauthorized, "missing_token", "send Authorization: Bearer <token> from POST /auth/verify")
	errBadAuthz     = errf(http.StatusUnauthorized, "missing_token", `the Authorization header must be "Bearer <token>" (one Authorization header, the scheme in any case, then one or more spaces and the token)`)
	errBadBearer    = errf(http.StatusUnauthorized, "invalid_token", "the bearer token has characters a token cannot have (RFC 6750 §2.1 b64token)")
)

// bearer returns the request's access token: from the Authorization header,
// or, on the event stream's route only (browsers cannot set headers on a
// WebSocket), from the token query parameter when there is no such header.
//
// The header must be credentials = "Bearer" 1*SP b64token (RFC 6750 §2.1).
// The scheme is matched in any case (RFC 7235 §2.1: bearer, BEARER); one or
// more spaces, as that grammar says, but no tab, separate it from the token;
// the token is one b64token (no spaces, commas or quotes in it). The server
// has already trimmed the whitespace around the header's value.
func bearer(r *http.Request) (string, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) > 1:
		return "", errBadAuthz
	case len(hs) == 0 || hs[0] == "":
		if strings.HasPrefix(r.URL.Path, "/ws/") {
			if tok := r.URL.Query().Get("token"); tok != "" {
				return tok, nil
			}
		}
		return "", errMissingToken
	}
	const scheme = "Bearer"
	h := hs[0]
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", errBadAuthz
	}
	tok := strings.TrimLeft(h[len(scheme):], " ")
	if tok == "" {
		return "", errBadAuthz
	}
	if !isB64Token(tok) {
		return "", errBadBearer
	}
	return tok, nil
}

// isB64Token reports whether s is an RFC 6750 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// authenticate checks the token, then that its device and session still stand.
func (g *Gateway) authenticate(r *http.Request) (*caller, error) {
	raw, err := bearer(r)
	if err != nil {
		return nil, err
	}
	c, err := g.tokens.verify(raw, typAccess)
	if err != nil {
		return nil, err
	}
	return g.sessionStands(c)
}

func (g *Gateway) sessionStands(c *claims) (*caller, error) {
	who := &caller{DID: identity.DID(c.Subject), Device: c.Dev, DeviceSeq: c.DevSeq, Session: c.Sid, Gen: c.Gen, Issued: c.issued()}
	return who, g.stillStands(who)
}

var errSessionEpoch = errf(http.StatusUnauthorized, "session_revoked", "this session was opened before its DID was revoked (membership revoked, or an emergency revoke); log in again")

// stillStands checks that a caller's session family, device and session have
// not been revoked since it authenticated (open event streams re-check it).
// It reads only memory: it runs on every request.
func (g *Gateway) stillStands(c *caller) error {
	if g.families.isRevoked(c.Session) {
		return errSessionFamilyRevoked
	}
	if !g.deviceMayLogIn(c.DID, c.Device, c.DeviceSeq, g.cfg.Clock()) {
		return errf(http.StatusUnauthorized, "device_revoked", "the device this session was opened with has been revoked")
	}
	// The epoch, not Member: a non-member's emergency revoke counts too, and
	// a re-admission does not bring a revoked member's sessions back.
	epoch := g.cfg.Members.SessionEpoch(c.DID)
	if c.Gen != epoch {
		return errSessionEpoch
	}
	// An emergency revoke recorded before epochs existed has only its time;
	// every revocation since raises the epoch.
	if epoch == 0 && c.Issued.Before(g.cfg.Members.SessionsValidAfter(c.DID)) {
		return errSessionEpoch
	}
	return nil
}

// deviceMayLogIn reports whether did's device dev, numbered seq, may log in
// at now: the same device, not another added later under its ID.
func (g *Gateway) deviceMayLogIn(did identity.DID, dev string, seq uint64, now time.Time) bool {
	for _, d := range g.cfg.Members.LoginKeys(did, now) {
		if d.ID == dev && d.Seq == seq {
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
