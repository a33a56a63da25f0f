package coopnode_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/coopnodetest"
)

// TestForwardedClientAddress: a follower forwards a login to the leader
// with its client's address, so the leader's per-IP budget is the client's,
// not the follower's: one client spending its budget through a follower
// leaves another's through the same follower untouched, and a client that
// names another address in the forwarding header itself is still charged
// to its own.
func TestForwardedClientAddress(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	for i := range cc.Nodes {
		cc.Stop(i)
		// One request per address, refilled only after a quarter of an hour.
		cc.Configs[i].Gateway.RateLimits.PerIP, cc.Configs[i].Gateway.RateLimits.PerIPBurst = 0.001, 1
		cc.Restart(i)
	}
	l := cc.Leader()
	f := (l + 1) % 3
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	}
	// An empty challenge request: 400 once past the rate limit, 429 if not.
	challenge := func(c *http.Client, node int, header string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, cc.URL(node)+"/auth/challenge", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if header != "" {
			req.Header.Set("X-Icn-Forwarded", header)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	a, b := from("127.0.0.2"), from("127.0.0.3")
	if got := challenge(a, f, ""); got == http.StatusTooManyRequests {
		t.Fatal("the first request of a client through a follower is rate limited")
	}
	if got := challenge(a, f, ""); got != http.StatusTooManyRequests {
		t.Fatalf("a client's second request through the follower: %d, want 429", got)
	}
	if got := challenge(b, f, ""); got == http.StatusTooManyRequests {
		t.Fatal("another client through the same follower is rate limited: the leader charged the follower's address")
	}
	forged := "127.0.0.9 " + strconv.FormatInt(time.Now().Unix(), 10) + " AAAA"
	if got := challenge(a, l, forged); got != http.StatusTooManyRequests {
		t.Fatalf("a client naming another address itself: %d, want 429 (charged to its own)", got)
	}
}
