package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// testKey returns a fixed key (seed byte b repeated).
func testKey(t *testing.T, b byte) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// nonce is 32 bytes whose base64 would need padding and uses '-' and '_'.
var nonce = bytes.Repeat([]byte{0xfb, 0xff, 0xbf, 0xfe}, 8)

var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))

// readBody reads r's body, failing the test on error.
func readBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
	}
	return b
}

// objectKeys returns the sorted keys of the JSON object b.
func objectKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", b, err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkB64 checks that s is base64url without padding and returns its bytes.
func checkB64(t *testing.T, what, s string) []byte {
	t.Helper()
	if strings.ContainsAny(s, "=+/") {
		t.Errorf("%s %q: not base64url without padding", what, s)
	}
	b, err := identity.DecodeB64(s)
	if err != nil {
		t.Errorf("%s %q: %v", what, s, err)
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// loginHandlers installs /auth/challenge and /auth/verify on mux for key and coop.
func loginHandlers(t *testing.T, mux *http.ServeMux, key *identity.Key, coop string) {
	mux.HandleFunc("POST /auth/challenge", func(w http.ResponseWriter, r *http.Request) {
		body := readBody(t, r)
		if want := `{"did":"` + string(key.DID()) + `"}`; string(body) != want {
			t.Errorf("challenge body = %s, want %s", body, want)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("challenge Content-Type = %q", ct)
		}
		if a := r.Header.Get("Authorization"); a != "" {
			t.Errorf("challenge sent Authorization %q", a)
		}
		writeJSON(w, 200, `{"nonce":"`+identity.B64(nonce)+`","expires_at":"2025-03-04T04:11:07Z"}`)
	})
	mux.HandleFunc("POST /auth/verify", func(w http.ResponseWriter, r *http.Request) {
		body := readBody(t, r)
		if got, want := objectKeys(t, body), []string{"coop_id", "did", "nonce", "signature"}; !slices.Equal(got, want) {
			t.Errorf("verify fields = %v, want %v", got, want)
		}
		var req struct{ DID, Nonce, Signature, Coop_ID string }
		json.Unmarshal(body, &req)
		if req.DID != string(key.DID()) || req.Coop_ID != coop {
			t.Errorf("verify did/coop = %q/%q", req.DID, req.Coop_ID)
		}
		n := checkB64(t, "nonce", req.Nonce)
		if !bytes.Equal(n, nonce) {
			t.Errorf("verify nonce = %x, want %x", n, nonce)
		}
		sig := checkB64(t, "signature", req.Signature)
		// The signature covers "icn/v1/auth-challenge\n" + coop + "\n" + nonce.
		msg := append([]byte("icn/v1/auth-challenge\n"+coop+"\n"), nonce...)
		if !ed25519.Verify(key.Public(), msg, sig) {
			t.Errorf("login signature does not verify over TAG\\nCOOP\\nNONCE")
		}
		writeJSON(w, 200, `{"token":"tok-1","expires_in":3600,"refresh_token":"ref-1","roles":["member","moderator"]}`)
	})
}

// requireAuth checks the bearer token of r.
func requireAuth(t *testing.T, r *http.Request, tok string) {
	t.Helper()
	if got := r.Header.Get("Authorization"); got != "Bearer "+tok {
		t.Errorf("%s %s: Authorization = %q, want %q", r.Method, r.URL.Path, got, "Bearer "+tok)
	}
}

func newTestServer(t *testing.T, mux *http.ServeMux) *Client {
	t.Helper()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return New(srv.URL+"/", WithClock(func() time.Time { return fixedNow }))
}

func login(t *testing.T, c *Client, key *identity.Key, coop string) *Session {
	t.Helper()
	s, err := c.Login(context.Background(), key, coop)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return s
}

func TestNew(t *testing.T) {
	c := New("http://gw.example:8080/prefix/")
	if c.BaseURL() != "http://gw.example:8080/prefix" {
		t.Errorf("BaseURL = %q", c.BaseURL())
	}
	tr, ok := c.HTTPClient().Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost < 256 {
		t.Errorf("transport not tuned for concurrency: %#v", c.HTTPClient().Transport)
	}
	if c.HTTPClient().Timeout != 0 {
		t.Error("http.Client.Timeout must be zero (it would cut event feeds)")
	}
}

func TestLogin(t *testing.T) {
	key := testKey(t, 1)
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "coop-a")
	c := newTestServer(t, mux)
	s := login(t, c, key, "coop-a")
	if s.Token() != "tok-1" || s.RefreshToken() != "ref-1" || s.DID() != key.DID() || s.CoopID() != "coop-a" {
		t.Errorf("session = token %q refresh %q did %q coop %q", s.Token(), s.RefreshToken(), s.DID(), s.CoopID())
	}
	if !slices.Equal(s.Roles(), []string{"member", "moderator"}) || !s.HasRole("moderator") || s.HasRole("treasurer") {
		t.Errorf("roles = %v", s.Roles())
	}
	if want := fixedNow.Add(time.Hour); !s.ExpiresAt().Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", s.ExpiresAt(), want)
	}
}

func TestLoginNoRoles(t *testing.T) {
	key := testKey(t, 2)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/challenge", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"nonce":"`+identity.B64(nonce)+`","expires_at":"x"}`)
	})
	mux.HandleFunc("POST /auth/verify", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"token":"t","expires_in":3600,"refresh_token":"r","roles":null}`)
	})
	s := login(t, newTestServer(t, mux), key, "c")
	if r := s.Roles(); r == nil || len(r) != 0 {
		t.Errorf("roles = %#v, want empty non-nil", r)
	}
}

func TestLoginErrors(t *testing.T) {
	key := testKey(t, 3)
	for _, tc := range []struct {
		name      string
		challenge func(w http.ResponseWriter)
		wantCode  string
	}{
		{"bad nonce", func(w http.ResponseWriter) { writeJSON(w, 200, `{"nonce":"abc=","expires_at":"x"}`) }, ""},
		{"unknown did", func(w http.ResponseWriter) {
			writeJSON(w, 400, `{"error":{"code":"invalid_did","message":"DID must start with did:icn:"}}`)
		}, "invalid_did"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("POST /auth/challenge", func(w http.ResponseWriter, r *http.Request) { tc.challenge(w) })
			_, err := newTestServer(t, mux).Login(context.Background(), key, "c")
			if err == nil {
				t.Fatal("Login succeeded")
			}
			if got := ErrorCode(err); got != tc.wantCode {
				t.Errorf("ErrorCode = %q, want %q (%v)", got, tc.wantCode, err)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	key := testKey(t, 4)
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "coop-a")
	mux.HandleFunc("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		if body := readBody(t, r); string(body) != `{"refresh_token":"ref-1"}` {
			t.Errorf("refresh body = %s", body)
		}
		writeJSON(w, 200, `{"token":"tok-2","expires_in":60,"refresh_token":"ref-2","roles":["member"]}`)
	})
	mux.HandleFunc("GET /payments/coop-a/p1", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-2")
		writeJSON(w, 200, `{"id":"p1","status":"committed"}`)
	})
	c := newTestServer(t, mux)
	s := login(t, c, key, "coop-a")
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Token() != "tok-2" || s.RefreshToken() != "ref-2" || !slices.Equal(s.Roles(), []string{"member"}) ||
		!s.ExpiresAt().Equal(fixedNow.Add(time.Minute)) {
		t.Errorf("after refresh: %q %q %v %v", s.Token(), s.RefreshToken(), s.Roles(), s.ExpiresAt())
	}
	if _, err := s.PaymentStatus(context.Background(), "coop-a", "p1"); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshSingleUse: against a gateway that accepts each refresh token
// once, Refresh always sends the newest token, and concurrent Refresh calls on
// one session never send the same token twice (they would close the session).
func TestRefreshSingleUse(t *testing.T) {
	key := testKey(t, 15)
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "c") // its refresh token is "ref-1"
	var mu sync.Mutex
	current, n, reused := "ref-1", 1, 0
	mux.HandleFunc("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		var req RefreshRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		defer mu.Unlock()
		if req.RefreshToken != current {
			reused++
			writeJSON(w, 401, `{"error":{"code":"refresh_reused","message":"x"}}`)
			return
		}
		n++
		current = fmt.Sprintf("ref-%d", n)
		writeJSON(w, 200, fmt.Sprintf(`{"token":"tok-%d","expires_in":3600,"refresh_token":%q,"roles":["member"]}`, n, current))
	})
	s := login(t, newTestServer(t, mux), key, "c")
	for i := 0; i < 2; i++ {
		if err := s.Refresh(context.Background()); err != nil {
			t.Fatalf("sequential refresh %d: %v", i, err)
		}
	}
	if s.RefreshToken() != "ref-3" || s.Token() != "tok-3" {
		t.Fatalf("after two refreshes: %q %q, want tok-3 ref-3", s.Token(), s.RefreshToken())
	}
	errs := make([]error, 8)
	testutil.Together(8, func(i int) { errs[i] = s.Refresh(context.Background()) })
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if reused != 0 {
		t.Errorf("%d refresh tokens were sent twice", reused)
	}
	if s.RefreshToken() != current || n < 4 {
		t.Errorf("session holds %q after %d exchanges; the gateway's newest is %q", s.RefreshToken(), n-1, current)
	}
}

// TestRefreshWaitHonoursContext: a Refresh waiting for another one's
// exchange gives up when its context ends, without sending anything.
func TestRefreshWaitHonoursContext(t *testing.T) {
	key := testKey(t, 16)
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "c")
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	mux.HandleFunc("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		writeJSON(w, 200, `{"token":"tok-2","expires_in":3600,"refresh_token":"ref-2","roles":["member"]}`)
	})
	s := login(t, newTestServer(t, mux), key, "c")
	first := make(chan error, 1)
	go func() { first <- s.Refresh(context.Background()) }()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first refresh never reached the gateway")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a waiting refresh with an ended context: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil || s.RefreshToken() != "ref-2" {
		t.Fatalf("first refresh: %v, token %q", err, s.RefreshToken())
	}
	if len(arrived) != 0 {
		t.Errorf("the waiting refresh sent %d requests", len(arrived))
	}
}

// intentFields are the intent JSON keys fixed by API.md.
var intentFields = []string{"amount", "created_at", "currency", "expires_at", "from", "id", "memo", "to", "to_coop"}

func TestPay(t *testing.T) {
	payer, payee := testKey(t, 5), testKey(t, 6)
	var sent []byte // intent bytes the server received
	mux := http.NewServeMux()
	loginHandlers(t, mux, payer, "coop-a")
	mux.HandleFunc("POST /ledger/coop-a/payment", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-1")
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		body := readBody(t, r)
		if got, want := objectKeys(t, body), []string{"intent", "signature"}; !slices.Equal(got, want) {
			t.Errorf("payment fields = %v, want %v", got, want)
		}
		var req struct{ Intent, Signature string }
		json.Unmarshal(body, &req)
		sent = checkB64(t, "intent", req.Intent)
		sig := checkB64(t, "signature", req.Signature)
		// Verify by hand over TAG \n PAYLOAD with the exact bytes sent.
		if !ed25519.Verify(payer.Public(), append([]byte("icn/v1/payment-intent\n"), sent...), sig) {
			t.Error("payment signature does not verify over TAG\\nINTENT with the intent bytes sent")
		}
		if identity.Verify(payer.Public(), identity.TagAuthChallenge, sent, sig) == nil {
			t.Error("payment signature verifies under another tag")
		}
		writeJSON(w, 201, `{"id":"x","status":"committed","reason":"","entry_hash":"abc123"}`)
	})
	c := newTestServer(t, mux)
	s := login(t, c, payer, "coop-a")

	res, err := s.Pay(context.Background(), PaymentIntent{To: payee.DID(), Amount: "2.50", Memo: "bread & <jam>"}, payer)
	if err != nil {
		t.Fatal(err)
	}
	if *res != (PaymentResult{ID: "x", Status: StatusCommitted, EntryHash: "abc123"}) {
		t.Errorf("result = %+v", res)
	}
	if got := objectKeys(t, sent); !slices.Equal(got, intentFields) {
		t.Errorf("intent fields = %v, want %v", got, intentFields)
	}
	var in PaymentIntent
	if err := json.Unmarshal(sent, &in); err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(in.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("id %q is not a UUIDv7", in.ID)
	}
	want := PaymentIntent{
		ID: in.ID, From: payer.DID(), To: payee.DID(), ToCoop: "coop-a", Amount: "2.50", Currency: "hours",
		Memo: "bread & <jam>", CreatedAt: "2025-03-04T04:06:07Z", ExpiresAt: "2025-03-04T04:11:07Z",
	}
	if in != want {
		t.Errorf("intent = %+v\nwant     %+v", in, want)
	}

	// Caller-chosen fields are sent as given (a retry reuses the id).
	given := PaymentIntent{ID: "01J-fixed", From: payer.DID(), To: payee.DID(), ToCoop: "coop-b", Amount: "0.01",
		Currency: "hours", CreatedAt: "2025-01-01T00:00:00Z", ExpiresAt: "2025-01-01T00:01:00Z"}
	if _, err := s.Pay(context.Background(), given, payer); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(given)
	if !bytes.Equal(sent, wantJSON) {
		t.Errorf("intent bytes = %s, want %s", sent, wantJSON)
	}
}

func TestPayRejectedIsAResult(t *testing.T) {
	key := testKey(t, 7)
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "c")
	mux.HandleFunc("POST /ledger/c/payment", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"id":"p","status":"rejected","reason":"credit_limit"}`)
	})
	s := login(t, newTestServer(t, mux), key, "c")
	res, err := s.Pay(context.Background(), PaymentIntent{To: testKey(t, 8).DID(), Amount: "1"}, key)
	if err != nil || res.Status != StatusRejected || res.Reason != "credit_limit" {
		t.Errorf("Pay = %+v, %v", res, err)
	}
}

func TestAPIError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   APIError
	}{
		{"json", 400, nil, `{"error":{"code":"invalid_amount","message":"more decimal places than the currency allows"}}`,
			APIError{Status: 400, Code: "invalid_amount", Message: "more decimal places than the currency allows"}},
		{"rate limited", 429, http.Header{"Retry-After": {"7"}}, `{"error":{"code":"rate_limited","message":"slow down"}}`,
			APIError{Status: 429, Code: "rate_limited", Message: "slow down", RetryAfter: 7 * time.Second}},
		{"retry date", 503, http.Header{"Retry-After": {fixedNow.Add(90 * time.Second).UTC().Format(http.TimeFormat)}}, `{"error":{"code":"unavailable","message":"m"}}`,
			APIError{Status: 503, Code: "unavailable", Message: "m", RetryAfter: 90 * time.Second}},
		{"plain text", 502, nil, "bad gateway\n", APIError{Status: 502, Message: "bad gateway"}},
		{"forbidden", 403, nil, `{"error":{"code":"forbidden","message":"role moderator required"}}`,
			APIError{Status: 403, Code: "forbidden", Message: "role moderator required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(t, 9)
			mux := http.NewServeMux()
			loginHandlers(t, mux, key, "c")
			mux.HandleFunc("GET /ledger/c/balance/{did}", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			s := login(t, newTestServer(t, mux), key, "c")
			_, err := s.Balance(context.Background(), "c", key.DID(), "hours")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if *ae != tc.want {
				t.Errorf("APIError = %+v, want %+v", *ae, tc.want)
			}
			if ErrorCode(err) != tc.want.Code {
				t.Errorf("ErrorCode = %q", ErrorCode(err))
			}
			if !strings.Contains(err.Error(), tc.want.Message) {
				t.Errorf("Error() = %q lacks the message", err.Error())
			}
		})
	}
}

func TestReads(t *testing.T) {
	key := testKey(t, 10)
	did := string(key.DID())
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "coop-a")
	mux.HandleFunc("GET /ledger/coop-a/balance/{did}", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-1")
		if r.PathValue("did") != did || r.URL.RawQuery != "currency=hours" {
			t.Errorf("balance path %q query %q", r.URL.Path, r.URL.RawQuery)
		}
		writeJSON(w, 200, `{"did":"`+did+`","currency":"hours","balance":"-2.00","available":"98.00","credit_limit":"100.00"}`)
	})
	mux.HandleFunc("GET /ledger/coop-a/history/{did}", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-1")
		q := r.URL.Query()
		if r.PathValue("did") != did || q.Get("limit") != "2" || q.Get("before") != "cur/1+x" {
			t.Errorf("history path %q query %q", r.URL.Path, r.URL.RawQuery)
		}
		writeJSON(w, 200, `{"entries":[{"id":"p1","from":"`+did+`","to":"did:icn:x","from_coop":"coop-a","to_coop":"coop-b",
			"amount":"2.00","currency":"hours","memo":"m","status":"committed","created_at":"2025-03-04T04:06:07Z","entry_hash":"h1"}],"next":"cur2"}`)
	})
	mux.HandleFunc("GET /payments/coop-a/{id}", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-1")
		writeJSON(w, 200, `{"id":"`+r.PathValue("id")+`","status":"pending","reason":""}`)
	})
	s := login(t, newTestServer(t, mux), key, "coop-a")
	ctx := context.Background()

	b, err := s.Balance(ctx, "coop-a", key.DID(), "hours")
	if err != nil {
		t.Fatal(err)
	}
	if *b != (Balance{DID: key.DID(), Currency: "hours", Balance: "-2.00", Available: "98.00", CreditLimit: "100.00"}) {
		t.Errorf("balance = %+v", b)
	}
	h, err := s.History(ctx, "coop-a", key.DID(), 2, "cur/1+x")
	if err != nil {
		t.Fatal(err)
	}
	wantEntry := HistoryEntry{ID: "p1", From: key.DID(), To: "did:icn:x", FromCoop: "coop-a", ToCoop: "coop-b", Amount: "2.00",
		Currency: "hours", Memo: "m", Status: "committed", CreatedAt: "2025-03-04T04:06:07Z", EntryHash: "h1"}
	if h.Next != "cur2" || len(h.Entries) != 1 || h.Entries[0] != wantEntry {
		t.Errorf("history = %+v", h)
	}
	p, err := s.PaymentStatus(ctx, "coop-a", "0195-abc")
	if err != nil || *p != (PaymentResult{ID: "0195-abc", Status: StatusPending}) {
		t.Errorf("status = %+v, %v", p, err)
	}
}

func TestMembership(t *testing.T) {
	mod, applicant := testKey(t, 11), testKey(t, 12)
	mux := http.NewServeMux()
	loginHandlers(t, mux, mod, "coop-a")
	var revoked string
	mux.HandleFunc("POST /membership/coop-a/invites", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-1")
		writeJSON(w, 201, `{"code":"inv-123"}`)
	})
	mux.HandleFunc("POST /membership/coop-a/applications", func(w http.ResponseWriter, r *http.Request) {
		body := readBody(t, r)
		if got, want := objectKeys(t, body), []string{"application", "signature"}; !slices.Equal(got, want) {
			t.Errorf("application request fields = %v, want %v", got, want)
		}
		var req struct{ Application, Signature string }
		json.Unmarshal(body, &req)
		app := checkB64(t, "application", req.Application)
		sig := checkB64(t, "signature", req.Signature)
		if err := identity.Verify(applicant.Public(), identity.TagMembershipApplication, app, sig); err != nil {
			t.Errorf("application signature: %v", err)
		}
		want := `{"did":"` + string(applicant.DID()) + `","invite_code":"inv-123","name":"Ana","email":"ana@example.org"}`
		if string(app) != want {
			t.Errorf("application = %s, want %s", app, want)
		}
		writeJSON(w, 201, `{"id":"app-1","status":"pending"}`)
	})
	mux.HandleFunc("POST /membership/coop-a/applications/app-1/approve", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-1")
		writeJSON(w, 200, `{"credential":{"payload":"e30","signer":"did:icn:x","signature":"AA"}}`)
	})
	mux.HandleFunc("GET /membership/coop-a/members/{did}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"did":"`+r.PathValue("did")+`","roles":["member"],"status":"active","credential":{"k":1}}`)
	})
	mux.HandleFunc("DELETE /membership/coop-a/members/{did}", func(w http.ResponseWriter, r *http.Request) {
		requireAuth(t, r, "tok-1")
		revoked = r.PathValue("did")
		w.WriteHeader(200)
	})
	s := login(t, newTestServer(t, mux), mod, "coop-a")
	ctx := context.Background()

	code, err := s.CreateInvite(ctx, "coop-a")
	if err != nil || code != "inv-123" {
		t.Fatalf("CreateInvite = %q, %v", code, err)
	}
	ar, err := s.Apply(ctx, "coop-a", applicant, Application{InviteCode: code, Name: "Ana", Email: "ana@example.org"})
	if err != nil || *ar != (ApplicationResult{ID: "app-1", Status: "pending"}) {
		t.Fatalf("Apply = %+v, %v", ar, err)
	}
	ap, err := s.Approve(ctx, "coop-a", "app-1")
	if err != nil || !json.Valid(ap.Credential) || !bytes.Contains(ap.Credential, []byte(`"signer"`)) {
		t.Fatalf("Approve = %s, %v", ap.Credential, err)
	}
	m, err := s.Member(ctx, "coop-a", applicant.DID())
	if err != nil || m.DID != applicant.DID() || m.Status != "active" || !reflect.DeepEqual(m.Roles, []string{"member"}) {
		t.Fatalf("Member = %+v, %v", m, err)
	}
	if err := s.RevokeMember(ctx, "coop-a", applicant.DID()); err != nil || revoked != string(applicant.DID()) {
		t.Fatalf("RevokeMember: %v (revoked %q)", err, revoked)
	}
}

// TestConcurrentPay shares one session between many goroutines while the
// token is refreshed (run with -race).
func TestConcurrentPay(t *testing.T) {
	key := testKey(t, 13)
	mux := http.NewServeMux()
	loginHandlers(t, mux, key, "c")
	var mu sync.Mutex
	ids := map[string]bool{}
	mux.HandleFunc("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"token":"tok-1","expires_in":3600,"refresh_token":"ref-1","roles":["member"]}`)
	})
	mux.HandleFunc("POST /ledger/c/payment", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Intent, Signature string }
		json.NewDecoder(r.Body).Decode(&req)
		b, _ := identity.DecodeB64(req.Intent)
		sig, _ := identity.DecodeB64(req.Signature)
		if err := identity.Verify(key.Public(), identity.TagPaymentIntent, b, sig); err != nil {
			writeJSON(w, 401, `{"error":{"code":"invalid_signature","message":"x"}}`)
			return
		}
		var in PaymentIntent
		json.Unmarshal(b, &in)
		mu.Lock()
		ids[in.ID] = true
		mu.Unlock()
		writeJSON(w, 201, `{"id":"`+in.ID+`","status":"committed"}`)
	})
	s := login(t, newTestServer(t, mux), key, "c")
	to := testKey(t, 14).DID()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%50 == 0 {
				if err := s.Refresh(context.Background()); err != nil {
					errs <- err
				}
			}
			res, err := s.Pay(context.Background(), PaymentIntent{To: to, Amount: "0.01"}, key)
			if err != nil {
				errs <- err
			} else if res.Status != StatusCommitted {
				errs <- errors.New(res.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(ids) != 200 {
		t.Errorf("%d distinct payment ids, want 200", len(ids))
	}
}

func TestNewPaymentID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewPaymentID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Fatalf("%q is not a UUIDv7", id)
		}
		if seen[id] || id < prev {
			t.Fatalf("%q repeated or out of order after %q", id, prev)
		}
		seen[id], prev = true, id
	}
}
