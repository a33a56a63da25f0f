package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/vouch"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

const testCoop = "coop-t"

// testClock is the wall clock shifted by an offset that a test can move, or,
// once frozen, a fixed instant (plus the offset).
type testClock struct{ off, frozen atomic.Int64 }

func (c *testClock) Now() time.Time {
	if f := c.frozen.Load(); f != 0 {
		return time.Unix(0, f).Add(time.Duration(c.off.Load()))
	}
	return time.Now().Add(time.Duration(c.off.Load()))
}

func (c *testClock) Advance(d time.Duration)  { c.off.Add(int64(d)) }
func (c *testClock) Set(offset time.Duration) { c.off.Store(int64(offset)) }

// Freeze stops the clock at its current reading: every later Now returns the
// same instant until Advance or Set moves it.
func (c *testClock) Freeze() { c.frozen.Store(time.Now().UnixNano()) }

// testEnv is a gateway on a real ledger and membership store, served over
// real HTTP, with a bootstrapped admin.
type testEnv struct {
	t       *testing.T
	g       *Gateway
	srv     *httptest.Server
	ledger  *ledger.Store
	members *membership.Store
	nodeKey *identity.Key
	admin   *identity.Key
	clock   *testClock
	cl      *client.Client
	path    string // the ledger file
	cfg     Config // the gateway's configuration, for restart
}

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestGateway builds a gateway for testCoop; mod may adjust its Config.
// Every account may go 100.00 hours below zero.
func newTestGateway(t *testing.T, mod func(*Config)) (*Gateway, *testEnv) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	led := openTestLedger(t, path)
	nodeKey, admin := newKey(t), newKey(t)
	// One clock for the gateway and the membership store, as in a node, so
	// that moving it moves token expiry and a rotation's grace period alike.
	clock := &testClock{}
	mem, err := membership.New(led, membership.Options{CoopID: testCoop, CoopKey: nodeKey, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Bootstrap(context.Background(), admin.DID(), "admin"); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		CoopID: testCoop, Key: nodeKey, Ledger: led, Members: mem, Clock: clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, &testEnv{t: t, g: g, srv: srv, ledger: led, members: mem, nodeKey: nodeKey, admin: admin,
		clock: clock, cl: client.New(srv.URL), path: path, cfg: cfg}
}

// openTestLedger opens the ledger file at path as a node does, with the
// membership's and the gateway's buckets; the test closes it at its end.
// Every account may go 100.00 hours below zero.
func openTestLedger(t *testing.T, path string) *ledger.Store {
	t.Helper()
	limit, err := money.Parse("100", money.Hours)
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.Open(ledger.Options{
		Path: path, Buckets: slices.Concat(membership.Buckets, Buckets, govern.Buckets, vouch.Buckets),
		DefaultLimits: map[string]money.Amount{money.Hours.Code: limit},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	return led
}

func (e *testEnv) login(k *identity.Key) *client.Session {
	e.t.Helper()
	s, err := e.cl.Login(context.Background(), k, testCoop)
	if err != nil {
		e.t.Fatalf("login: %v", err)
	}
	return s
}

// join makes k a member through the API: invite, apply, approve.
func (e *testEnv) join(adminS *client.Session, k *identity.Key, name string) {
	e.t.Helper()
	ctx := context.Background()
	code, err := adminS.CreateInvite(ctx, testCoop)
	if err != nil {
		e.t.Fatal(err)
	}
	app, err := e.login(k).Apply(ctx, testCoop, k, client.Application{InviteCode: code, Name: name, Email: name + "@example.org"})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := adminS.Approve(ctx, testCoop, app.ID); err != nil {
		e.t.Fatal(err)
	}
}

// loginDevice logs did in with a device key that is not the DID's own key.
func (e *testEnv) loginDevice(did identity.DID, k *identity.Key) (int, client.TokenResponse, string) {
	e.t.Helper()
	var ch client.Challenge
	if st, body := e.do("POST", "/auth/challenge", "", map[string]any{"did": did}); st != 200 {
		e.t.Fatalf("challenge: %d %s", st, body)
	} else if err := json.Unmarshal(body, &ch); err != nil {
		e.t.Fatal(err)
	}
	nonce, _ := identity.DecodeB64(ch.Nonce)
	sig := k.Sign(identity.TagAuthChallenge, identity.AuthChallengePayload(testCoop, nonce))
	st, body := e.do("POST", "/auth/verify", "", map[string]any{"did": did, "nonce": ch.Nonce, "signature": identity.B64(sig), "coop_id": testCoop})
	var tr client.TokenResponse
	json.Unmarshal(body, &tr)
	return st, tr, errCode(body)
}

// do sends one request; body is JSON-encoded unless it is a []byte or nil.
func (e *testEnv) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	resp := e.doResp(method, path, token, body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b
}

func (e *testEnv) doResp(method, path, token string, body any) *http.Response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// errCode returns error.code of an error body, "" if there is none.
func errCode(body []byte) string {
	var eb errorBody
	json.Unmarshal(body, &eb)
	return eb.Error.Code
}

// signedDoc is {"request": b64, "signature": b64} for a device request signed by k.
func signedDoc(k *identity.Key, tag identity.Tag, req any) map[string]string {
	b, _ := json.Marshal(req)
	return map[string]string{"request": identity.B64(b), "signature": identity.B64(k.Sign(tag, b))}
}

// intentBody signs in as-is and returns the payment request body.
func intentBody(k *identity.Key, in client.PaymentIntent) map[string]string {
	b, _ := json.Marshal(in)
	return map[string]string{"intent": identity.B64(b), "signature": identity.B64(k.Sign(identity.TagPaymentIntent, b))}
}

// intent returns a fresh, current intent from -> to in testCoop.
func intent(id string, from, to identity.DID, amount string) client.PaymentIntent {
	now := time.Now().UTC()
	return client.PaymentIntent{ID: id, From: from, To: to, ToCoop: testCoop, Amount: amount, Currency: "hours",
		Memo: "test", CreatedAt: client.FormatTime(now), ExpiresAt: client.FormatTime(now.Add(5 * time.Minute))}
}
