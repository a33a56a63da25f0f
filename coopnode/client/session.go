package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Session is a logged-in DID at one co-op node. Its methods send the session
// token as "Authorization: Bearer <token>". It is safe for concurrent use;
// Refresh replaces the token for calls that start after it returns.
//
// The gateway accepts each refresh token once: a second exchange of the same
// token closes the whole session (refresh_reused). Refresh therefore always
// sends the newest refresh token, one exchange at a time.
type Session struct {
	c      *Client
	did    identity.DID
	coopID string

	refreshing chan struct{} // holds a token while an exchange runs: refresh tokens are single-use

	mu        sync.RWMutex
	token     string
	refresh   string
	roles     []string
	expiresAt time.Time
}

// Login proves control of key to the gateway for coopID: it asks for a
// challenge, signs identity.AuthChallengePayload(coopID, nonce) with the
// auth-challenge tag and exchanges the signature for a session token.
// A DID without membership gets a session with no roles (it may apply).
func (c *Client) Login(ctx context.Context, key *identity.Key, coopID string) (*Session, error) {
	if key == nil {
		return nil, errors.New("login: no key")
	}
	if coopID == "" {
		return nil, errors.New("login: no co-op id")
	}
	did := key.DID()
	var ch Challenge
	if err := c.do(ctx, "POST", "/auth/challenge", "", ChallengeRequest{DID: did}, &ch); err != nil {
		return nil, fmt.Errorf("login %s: %w", did.Short(), err)
	}
	nonce, err := identity.DecodeB64(ch.Nonce)
	if err != nil || len(nonce) == 0 {
		return nil, fmt.Errorf("login %s: challenge nonce is not base64url: %q", did.Short(), ch.Nonce)
	}
	sig := key.Sign(identity.TagAuthChallenge, identity.AuthChallengePayload(coopID, nonce))
	start := c.now()
	var tr TokenResponse
	req := VerifyRequest{DID: did, Nonce: identity.B64(nonce), Signature: identity.B64(sig), CoopID: coopID}
	if err := c.do(ctx, "POST", "/auth/verify", "", req, &tr); err != nil {
		return nil, fmt.Errorf("login %s: %w", did.Short(), err)
	}
	s := &Session{c: c, did: did, coopID: coopID, refreshing: make(chan struct{}, 1)}
	if err := s.set(tr, start); err != nil {
		return nil, fmt.Errorf("login %s: %w", did.Short(), err)
	}
	return s, nil
}

// set installs a token response received for a request started at start.
func (s *Session) set(tr TokenResponse, start time.Time) error {
	if tr.Token == "" {
		return errors.New("gateway returned no token")
	}
	roles := tr.Roles
	if roles == nil {
		roles = []string{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.roles = tr.Token, roles
	if tr.RefreshToken != "" {
		s.refresh = tr.RefreshToken
	}
	s.expiresAt = time.Time{}
	if tr.ExpiresIn > 0 {
		s.expiresAt = start.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return nil
}

// Refresh exchanges the refresh token for a new token (POST /auth/refresh)
// and updates the session's token, roles and expiry. The gateway replaces the
// refresh token too, and accepts each once, so concurrent calls are
// serialised and a call that waited while another one renewed the session
// returns at once without a second exchange.
func (s *Session) Refresh(ctx context.Context) error {
	seen := s.RefreshToken()
	select {
	case s.refreshing <- struct{}{}:
		defer func() { <-s.refreshing }()
	case <-ctx.Done():
		return fmt.Errorf("refresh %s: %w", s.did.Short(), ctx.Err())
	}
	s.mu.RLock()
	rt, tok := s.refresh, s.token
	s.mu.RUnlock()
	if rt == "" {
		return errors.New("refresh: the gateway gave this session no refresh token; log in again")
	}
	if rt != seen {
		return nil // renewed by a concurrent Refresh while this one waited
	}
	start := s.c.now()
	var tr TokenResponse
	if err := s.c.do(ctx, "POST", "/auth/refresh", tok, RefreshRequest{RefreshToken: rt}, &tr); err != nil {
		return fmt.Errorf("refresh %s: %w", s.did.Short(), err)
	}
	if err := s.set(tr, start); err != nil {
		return fmt.Errorf("refresh %s: %w", s.did.Short(), err)
	}
	return nil
}

// Client returns the client the session was made with.
func (s *Session) Client() *Client { return s.c }

// DID returns the logged-in DID (the token's subject).
func (s *Session) DID() identity.DID { return s.did }

// CoopID returns the co-op the session was opened for.
func (s *Session) CoopID() string { return s.coopID }

// Token returns the current bearer token.
func (s *Session) Token() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.token
}

// RefreshToken returns the current refresh token ("" if none was issued).
func (s *Session) RefreshToken() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.refresh
}

// Roles returns the roles the gateway granted (empty, never nil, for a non-member).
func (s *Session) Roles() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.roles)
}

// HasRole reports whether the session holds role.
func (s *Session) HasRole(role string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Contains(s.roles, role)
}

// ExpiresAt returns when the token expires (zero if the gateway gave no expires_in).
func (s *Session) ExpiresAt() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.expiresAt
}

func (s *Session) do(ctx context.Context, method, path string, in, out any) error {
	return s.c.do(ctx, method, path, s.Token(), in, out)
}
