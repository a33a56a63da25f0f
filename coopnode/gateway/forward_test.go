package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Which routes a follower sends to the leader: every write, and the reads
// that must be linearizable; the other reads come from its own copy.
func TestNeedsLeader(t *testing.T) {
	linearizable := map[string]bool{"balance": true, "payment_status": true}
	g := &Gateway{}
	seen := 0
	for _, rt := range g.allRoutes() {
		want := rt.Method != http.MethodGet || linearizable[rt.Name]
		if got := needsLeader(rt); got != want {
			t.Errorf("%s %s (%s): needsLeader = %v, want %v", rt.Method, rt.Pattern, rt.Name, got, want)
		}
		if linearizable[rt.Name] {
			seen++
		}
	}
	if seen != len(linearizable) {
		t.Fatalf("found %d of the %d linearizable reads among the routes: a route was renamed", seen, len(linearizable))
	}
	for _, name := range []string{"history", "directory", "member_get", "events", "statements", "device_list", "backup", "cluster_status"} {
		for _, rt := range g.allRoutes() {
			if rt.Name == name && needsLeader(rt) {
				t.Errorf("%s is served by the leader; it should be a local read", name)
			}
		}
	}
}

// fakeCluster is a follower's or leader's view of a group, for the gateway.
type fakeCluster struct {
	mu      sync.Mutex
	leading bool
	api     string
	barrier error
}

func (f *fakeCluster) set(leading bool, api string, barrier error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leading, f.api, f.barrier = leading, api, barrier
}

func (f *fakeCluster) Leader() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leading, f.api
}

func (f *fakeCluster) ReadBarrier(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.barrier
}
func (f *fakeCluster) Retryable(err error) bool { return errors.Is(err, errFakeLeaderLost) }
func (f *fakeCluster) CaughtUp() bool           { return true }

var errFakeLeaderLost = errors.New("leadership lost")

// A follower sends what needs the leader to the leader's gateway, marked
// as forwarded; with no leader known, or a request already forwarded, it
// answers 503 unavailable with Retry-After; a leader whose read barrier
// fails answers a linearizable read the same way.
func TestForwardToLeader(t *testing.T) {
	_, leader := newTestGateway(t, nil)
	var forwarded atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(forwardedHeader) != "" {
			forwarded.Add(1)
		}
		leader.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	fc := &fakeCluster{}
	_, follower := newTestGateway(t, func(c *Config) { c.Cluster = fc })
	challenge := map[string]string{"did": string(leader.admin.DID())}

	st := follower.doResp("POST", "/auth/challenge", "", challenge)
	if st.StatusCode != http.StatusServiceUnavailable || st.Header.Get("Retry-After") != "1" {
		t.Fatalf("no leader known: %d Retry-After %q, want 503 with Retry-After 1", st.StatusCode, st.Header.Get("Retry-After"))
	}
	st.Body.Close()

	fc.set(false, front.URL, nil)
	code, b := follower.do("POST", "/auth/challenge", "", challenge)
	if code != http.StatusOK || forwarded.Load() != 1 {
		t.Fatalf("forwarded challenge: %d %s (forwarded %d), want 200 from the leader", code, b, forwarded.Load())
	}
	// The leader logs in its own admin; the follower does not know it: a
	// local read it refuses goes to the leader (whose login the follower's
	// copy has not applied yet, as it were).
	s := leader.login(leader.admin)
	before := forwarded.Load()
	if code, b := follower.do("GET", "/ledger/"+testCoop+"/balance/"+string(leader.admin.DID()), s.Token(), nil); code != http.StatusOK || forwarded.Load() != before+1 {
		t.Fatalf("balance through the follower: %d %s, want the leader's 200", code, b)
	}
	if code, b := follower.do("GET", "/ledger/"+testCoop+"/history/"+string(leader.admin.DID()), s.Token(), nil); code != http.StatusOK || forwarded.Load() != before+2 {
		t.Fatalf("history refused by the follower: %d %s, want it answered by the leader", code, b)
	}
	// A caller the follower knows is served from its own copy (logged in
	// while it led).
	fc.set(true, front.URL, nil)
	fs := follower.login(follower.admin)
	fc.set(false, front.URL, nil)
	before = forwarded.Load()
	if code, b := follower.do("GET", "/ledger/"+testCoop+"/history/"+string(follower.admin.DID()), fs.Token(), nil); code != http.StatusOK || forwarded.Load() != before {
		t.Fatalf("a follower's own member's history: %d %s (forwarded %d), want a local 200", code, b, forwarded.Load()-before)
	}

	req, _ := http.NewRequest("POST", follower.srv.URL+"/auth/challenge", strings.NewReader(`{"did":"`+string(leader.admin.DID())+`"}`))
	req.Header.Set(forwardedHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a forwarded request at a follower: %d, want 503 (never sent on)", resp.StatusCode)
	}

	fc.set(true, front.URL, errFakeLeaderLost)
	if code, b := follower.do("GET", "/ledger/"+testCoop+"/balance/"+string(follower.admin.DID()), fs.Token(), nil); code != http.StatusServiceUnavailable || errCode(b) != "unavailable" {
		t.Fatalf("balance behind a failed read barrier: %d %s, want 503 unavailable", code, b)
	}
}

// forwardGateway is just enough of a gateway for the forwarding header:
// its key and a clock at now.
func forwardGateway(t testing.TB, seed byte, now time.Time) *Gateway {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	key, err := forwardKeyOf(k)
	if err != nil {
		t.Fatal(err)
	}
	return &Gateway{cfg: Config{Clock: func() time.Time { return now }}, forwardKey: key}
}

// The leader takes a forwarded client address only from a header the
// co-op's key MACed, for this method and path, within forwardMaxAge.
func TestForwardedFor(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	follower := forwardGateway(t, 1, now)
	req := func(method, path string) *http.Request {
		r := httptest.NewRequest(method, path, nil)
		r.RemoteAddr = "198.51.100.7:4711"
		return r
	}
	marked := req(http.MethodPost, "/auth/challenge")
	follower.markForwarded(marked)
	header := marked.Header.Get(forwardedHeader)
	for _, tc := range []struct {
		name   string
		leader *Gateway
		r      *http.Request
		header string
		want   string // "" = refused: the connection's address counts
	}{
		{"as forwarded", forwardGateway(t, 1, now), req(http.MethodPost, "/auth/challenge"), header, "198.51.100.7"},
		{"a minute later", forwardGateway(t, 1, now.Add(forwardMaxAge)), req(http.MethodPost, "/auth/challenge"), header, "198.51.100.7"},
		{"too old", forwardGateway(t, 1, now.Add(forwardMaxAge+time.Second)), req(http.MethodPost, "/auth/challenge"), header, ""},
		{"from the future", forwardGateway(t, 1, now.Add(-forwardMaxAge-time.Second)), req(http.MethodPost, "/auth/challenge"), header, ""},
		{"another co-op's key", forwardGateway(t, 2, now), req(http.MethodPost, "/auth/challenge"), header, ""},
		{"another path", forwardGateway(t, 1, now), req(http.MethodPost, "/auth/verify"), header, ""},
		{"another method", forwardGateway(t, 1, now), req(http.MethodPut, "/auth/challenge"), header, ""},
		{"another address", forwardGateway(t, 1, now), req(http.MethodPost, "/auth/challenge"), "203.0.113.1" + header[strings.Index(header, " "):], ""},
		{"the old marker", forwardGateway(t, 1, now), req(http.MethodPost, "/auth/challenge"), "1", ""},
		{"no MAC", forwardGateway(t, 1, now), req(http.MethodPost, "/auth/challenge"), header[:strings.LastIndex(header, " ")], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Header.Set(forwardedHeader, tc.header)
			got, ok := tc.leader.forwardedFor(tc.r)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("forwardedFor = %q, %v; want %q", got, ok, tc.want)
			}
			want := tc.want
			if want == "" {
				want = "198.51.100.7" // the test's requests come from there
			}
			if ip := tc.leader.clientIP(tc.r); ip != want {
				t.Fatalf("clientIP = %q, want %q", ip, want)
			}
		})
	}
}

// FuzzForwardedFor: no header a client can write panics the leader or
// names an address without the co-op's key.
func FuzzForwardedFor(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	g := forwardGateway(f, 1, now)
	f.Add("198.51.100.7 1800000000 AAAA")
	f.Add("::1 1800000000 " + strings.Repeat("A", 43))
	f.Add("1")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodPost, "/auth/challenge", nil)
		r.Header.Set(forwardedHeader, header)
		if addr, ok := g.forwardedFor(r); ok {
			t.Fatalf("a forged header named %q", addr)
		}
	})
}
