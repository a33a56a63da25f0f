package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// claimsOf decodes a token's claims without verifying it.
func claimsOf(t *testing.T, tok string) claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %.20q... is not a JWS", tok)
	}
	b, err := identity.DecodeB64(parts[1])
	var c claims
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		t.Fatalf("token claims: %v", err)
	}
	return c
}

// restart stops the gateway and opens the ledger file, the membership store
// and a new gateway again, as a node restart does (same key, same clock).
func (e *testEnv) restart() {
	e.t.Helper()
	e.srv.Close()
	if err := e.ledger.Close(); err != nil {
		e.t.Fatal(err)
	}
	led := openTestLedger(e.t, e.path)
	mem, err := membership.New(led, membership.Options{CoopID: testCoop, CoopKey: e.nodeKey, Clock: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Ledger, cfg.Members = led, mem
	g, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.g, e.ledger, e.members = g, led, mem
	e.srv = httptest.NewServer(g)
	e.t.Cleanup(e.srv.Close)
	e.cl = client.New(e.srv.URL)
}

// bucketLen counts the records in one of the gateway's buckets.
func (e *testEnv) bucketLen(name []byte) int {
	e.t.Helper()
	n := 0
	if err := e.ledger.State().View(func(tx *store.View) error {
		n = tx.Bucket(name).KeyN()
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// sessionEnv is a gateway with alice a member, and a check that a token opens
// her balance (200) or is refused with a code.
func sessionEnv(t *testing.T) (*testEnv, *identity.Key, func(what, tok string, status int, code string)) {
	t.Helper()
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	alice := newKey(t)
	e.join(e.login(e.admin), alice, "alice")
	balance := "/ledger/" + testCoop + "/balance/" + string(alice.DID())
	check := func(what, tok string, status int, code string) {
		t.Helper()
		st, body := e.do("GET", balance, tok, nil)
		if status == http.StatusOK {
			if st != http.StatusOK {
				t.Errorf("%s: balance %d %s, want 200", what, st, body)
			}
			return
		}
		wantErr(t, what, st, body, status, code)
	}
	return e, alice, check
}

// mustRefresh refreshes and fails the test unless the answer is a new pair.
func (e *testEnv) mustRefresh(what, tok string) client.TokenResponse {
	e.t.Helper()
	st, tr, body := e.refresh(tok)
	if st != http.StatusOK || tr.Token == "" || tr.RefreshToken == "" {
		e.t.Fatalf("%s: %d %s", what, st, body)
	}
	return tr
}

// TestRefreshSingleUse: a login's tokens carry a session id (sid) that every
// refresh keeps and a token id (jti) of their own; a refresh token is
// exchanged once; its second exchange is 401 refresh_reused and revokes the
// whole family: the login's tokens and the ones the first exchange gave are
// 401 session_revoked, for access and refresh alike, while another login of
// the same member, its refreshes and a new login go on working.
func TestRefreshSingleUse(t *testing.T) {
	e, alice, check := sessionEnv(t)
	s1, s2 := e.login(alice), e.login(alice)

	a1, r1, other := claimsOf(t, s1.Token()), claimsOf(t, s1.RefreshToken()), claimsOf(t, s2.RefreshToken())
	if a1.Sid == "" || a1.Sid != r1.Sid || r1.ID == "" || a1.ID == r1.ID || a1.Typ != typAccess || r1.Typ != typRefresh {
		t.Fatalf("login's tokens: access sid %q jti %q, refresh sid %q jti %q", a1.Sid, a1.ID, r1.Sid, r1.ID)
	}
	if other.Sid == "" || other.Sid == r1.Sid {
		t.Fatalf("two logins share sid %q", other.Sid)
	}

	tr1 := e.mustRefresh("first exchange", s1.RefreshToken())
	a2, r2 := claimsOf(t, tr1.Token), claimsOf(t, tr1.RefreshToken)
	if a2.Sid != r1.Sid || r2.Sid != r1.Sid || r2.ID == "" || r2.ID == r1.ID {
		t.Fatalf("refreshed tokens: sid %q/%q jti %q, want sid %q and a new jti", a2.Sid, r2.Sid, r2.ID, r1.Sid)
	}
	check("access token from the exchange", tr1.Token, 200, "")

	if got := e.metric("icn_gateway_refresh_reused_total"); got != "0" {
		t.Errorf("icn_gateway_refresh_reused_total before any reuse: %s", got)
	}
	st, _, body := e.refresh(s1.RefreshToken())
	wantErr(t, "second exchange of the login's refresh token", st, body, 401, "refresh_reused")
	if got := e.metric("icn_gateway_refresh_reused_total"); got != "1" {
		t.Errorf("icn_gateway_refresh_reused_total after one reuse: %s, want 1", got)
	}
	if !strings.Contains(string(body), "log in again") {
		t.Errorf("refresh_reused message does not say to log in again: %s", body)
	}
	check("access token from the first exchange", tr1.Token, 401, "session_revoked")
	check("login's access token", s1.Token(), 401, "session_revoked")
	st, _, body = e.refresh(tr1.RefreshToken)
	wantErr(t, "refresh token from the first exchange", st, body, 401, "session_revoked")
	st, _, body = e.refresh(s1.RefreshToken())
	wantErr(t, "third exchange of the login's refresh token", st, body, 401, "session_revoked")

	// The member's other session is untouched, and she can log in again.
	check("other session's access token", s2.Token(), 200, "")
	trB := e.mustRefresh("other session's refresh", s2.RefreshToken())
	check("other session's refreshed access token", trB.Token, 200, "")
	trB2 := e.mustRefresh("other session's second refresh", trB.RefreshToken)
	check("other session's twice-refreshed access token", trB2.Token, 200, "")
	check("new login", e.login(alice).Token(), 200, "")

	// The Go client keeps the newest refresh token, so refreshing twice works.
	s3 := e.login(alice)
	for i := range 3 {
		if err := s3.Refresh(context.Background()); err != nil {
			t.Fatalf("client refresh %d: %v", i, err)
		}
	}
	check("client session after three refreshes", s3.Token(), 200, "")
}

// TestRefreshConcurrent: simultaneous exchanges of one refresh token give
// exactly one new pair; the others are refused as reuse (or, once the family
// is revoked, as a revoked session), and the family is revoked, the winner's
// new tokens included. The Go client's Session, shared by goroutines that all
// refresh at once, exchanges each token once and keeps its session.
func TestRefreshConcurrent(t *testing.T) {
	e, alice, check := sessionEnv(t)
	hc := e.srv.Client()
	post := func(tok string) (int, []byte, error) {
		body, _ := json.Marshal(map[string]string{"refresh_token": tok})
		resp, err := hc.Post(e.srv.URL+"/auth/refresh", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	for round, n := range []int{2, 2, 2, 2, 8} {
		s := e.login(alice)
		type answer struct {
			st   int
			body []byte
			err  error
		}
		answers := make([]answer, n)
		testutil.Together(n, func(i int) {
			st, body, err := post(s.RefreshToken())
			answers[i] = answer{st, body, err}
		})
		var won []byte
		reused := 0
		for _, a := range answers {
			switch {
			case a.err != nil:
				t.Fatalf("round %d: %v", round, a.err)
			case a.st == http.StatusOK:
				if won != nil {
					t.Fatalf("round %d: two exchanges of one refresh token succeeded", round)
				}
				won = a.body
			case a.st == 401 && errCode(a.body) == "refresh_reused":
				reused++
			case a.st == 401 && errCode(a.body) == "session_revoked":
			default:
				t.Fatalf("round %d: %d %s", round, a.st, a.body)
			}
		}
		if won == nil || reused == 0 || (n == 2 && reused != 1) {
			t.Fatalf("round %d: %d exchanges, one success %v, %d refresh_reused", round, n, won != nil, reused)
		}
		var tr client.TokenResponse
		if err := json.Unmarshal(won, &tr); err != nil {
			t.Fatal(err)
		}
		check("winner's access token", tr.Token, 401, "session_revoked")
		st, _, body := e.refresh(tr.RefreshToken)
		wantErr(t, "winner's refresh token", st, body, 401, "session_revoked")
	}

	s := e.login(alice)
	errs := make([]error, 8)
	testutil.Together(8, func(i int) { errs[i] = s.Refresh(context.Background()) })
	for _, err := range errs {
		if err != nil {
			t.Errorf("client session refreshed by 8 goroutines: %v", err)
		}
	}
	check("client session after concurrent refreshes", s.Token(), 200, "")
	if err := s.Refresh(context.Background()); err != nil {
		t.Errorf("client session's next refresh: %v", err)
	}
}

// TestRefreshReuseAfterRestart: what the gateway learnt about refresh tokens
// is kept in the ledger file: after a restart, a token exchanged before it is
// still refused as reuse (and its family revoked), and a family revoked before
// it is still revoked, also after a second restart.
func TestRefreshReuseAfterRestart(t *testing.T) {
	e, alice, check := sessionEnv(t)
	s1 := e.login(alice)
	tr1 := e.mustRefresh("exchange before the restart", s1.RefreshToken())
	s2 := e.login(alice)
	tr2 := e.mustRefresh("exchange before the restart", s2.RefreshToken())
	st, _, body := e.refresh(s2.RefreshToken())
	wantErr(t, "reuse before the restart", st, body, 401, "refresh_reused")

	e.restart()
	check("session still open", tr1.Token, 200, "")
	check("family revoked before the restart", tr2.Token, 401, "session_revoked")
	st, _, body = e.refresh(tr2.RefreshToken)
	wantErr(t, "refresh in a family revoked before the restart", st, body, 401, "session_revoked")
	st, _, body = e.refresh(s1.RefreshToken())
	wantErr(t, "token exchanged before the restart, again", st, body, 401, "refresh_reused")
	check("family of the token reused after the restart", tr1.Token, 401, "session_revoked")

	e.restart()
	check("family revoked after the first restart", tr1.Token, 401, "session_revoked")
	check("family revoked before the first restart", tr2.Token, 401, "session_revoked")
	s3 := e.login(alice)
	check("new login", s3.Token(), 200, "")
	check("new login's refresh", e.mustRefresh("new login's refresh", s3.RefreshToken()).Token, 200, "")
}

// TestRefreshRecordsPruned: used refresh tokens and revoked families are kept
// only as long as their tokens could be presented: a refresh deletes the
// records of expired tokens, a revocation those of ended families, and a
// restart both; the in-memory set of revoked families shrinks with them.
func TestRefreshRecordsPruned(t *testing.T) {
	e, alice, check := sessionEnv(t)
	used, fams := func() int { return e.bucketLen(bktRefreshUsed) }, func() int { return e.bucketLen(bktSessionsRevoked) }
	revokedSIDs := func() []string {
		return slices.Sorted(func(yield func(string) bool) {
			for sid := range e.g.families.snapshot() {
				if !yield(sid) {
					return
				}
			}
		})
	}
	reuse := func() string { // opens a session, and reuses its refresh token
		t.Helper()
		s := e.login(alice)
		e.mustRefresh("first exchange", s.RefreshToken())
		st, _, body := e.refresh(s.RefreshToken())
		wantErr(t, "reuse", st, body, 401, "refresh_reused")
		return claimsOf(t, s.Token()).Sid
	}

	tok := e.login(alice).RefreshToken()
	for i := range 5 {
		tok = e.mustRefresh("chain", tok).RefreshToken
		if got := used(); got != i+1 {
			t.Fatalf("after %d refreshes: %d used-token records", i+1, got)
		}
	}
	sidA := reuse()
	if used() != 6 || fams() != 1 || !slices.Equal(revokedSIDs(), []string{sidA}) {
		t.Fatalf("after a reuse: %d used, %d families, in memory %v", used(), fams(), revokedSIDs())
	}

	// A day and more on, every token above has expired.
	e.clock.Advance(24*time.Hour + 2*time.Minute)
	e.mustRefresh("refresh a day on", e.login(alice).RefreshToken())
	if used() != 1 {
		t.Errorf("a refresh a day on left %d used-token records, want 1 (its own)", used())
	}
	sidB := reuse()
	if fams() != 1 || !slices.Equal(revokedSIDs(), []string{sidB}) {
		t.Errorf("a revocation a day on left %d families, in memory %v; want only %q", fams(), revokedSIDs(), sidB)
	}
	if used() != 2 {
		t.Errorf("%d used-token records, want 2", used())
	}

	e.clock.Advance(24*time.Hour + 2*time.Minute)
	e.restart()
	if used() != 0 || fams() != 0 || len(revokedSIDs()) != 0 {
		t.Errorf("a restart a day on left %d used, %d families, in memory %v", used(), fams(), revokedSIDs())
	}
	check("login after the restart", e.login(alice).Token(), 200, "")
}

// TestRefreshWithoutIDs: a refresh token signed by the node but lacking a
// token id (jti) or a session id (sid), as issued before single-use refresh
// tokens, is refused as invalid_token.
func TestRefreshWithoutIDs(t *testing.T) {
	e, alice, _ := sessionEnv(t)
	now := e.clock.Now()
	sign := func(id, sid string) string {
		c := claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: string(e.nodeKey.DID()), Subject: string(alice.DID()), Audience: jwt.ClaimStrings{testCoop},
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), ID: id,
			},
			Dev: "primary", Typ: typRefresh, Sid: sid, IssuedNano: now.UnixNano(),
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(e.nodeKey.PrivateKey())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct{ name, id, sid string }{{"no jti", "", "s1"}, {"no sid", "j1", ""}, {"neither", "", ""}} {
		st, _, body := e.refresh(sign(tc.id, tc.sid))
		wantErr(t, tc.name, st, body, 401, "invalid_token")
	}
	if n := e.bucketLen(bktRefreshUsed); n != 0 {
		t.Errorf("refused tokens left %d used-token records", n)
	}
	// The same token with both ids is accepted: the refusals were for the ids.
	e.mustRefresh("token with both ids", sign("j1", "s1"))
}
