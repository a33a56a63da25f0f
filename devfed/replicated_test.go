package devfed

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/internal/testutil"
)

// TestReplicatedDevCoop runs coop-a on three nodes: dev.json lists its
// three gateways; a member of coop-a pays coop-b through each of them (a
// follower forwards to the leader, whose hub peer routes the payment); the
// federation comes back on the same directory with the same gateways.
func TestReplicatedDevCoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub cluster and four co-op nodes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	opts := Options{DataDir: dir, Replicas: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := m.Coops[0], m.Coops[1]
	if len(a.Gateways) != 3 || !slices.Contains(a.Gateways, a.GatewayURL) || len(b.Gateways) != 0 || len(f.Groups[0]) != 3 {
		t.Fatalf("dev.json: coop-a gateways %v (url %s), coop-b %v", a.Gateways, a.GatewayURL, b.Gateways)
	}
	checkRegistered(t, f)
	// The hub peer runs on the leader alone: one gateway of three reports
	// its link connected.
	testutil.WaitFor(t, 30*time.Second, "one gateway's hub link connected", func() bool {
		n := 0
		for _, gw := range a.Gateways {
			if strings.Contains(metrics(t, gw), "\nicn_hubpeer_connected 1\n") { // the sample, not its HELP line
				n++
			}
		}
		return n == 1
	})
	bob := login(t, ctx, b, b.Members[1])
	for i, gw := range a.Gateways {
		c := a
		c.GatewayURL = gw
		alice := login(t, ctx, c, a.Members[0])
		res := alice.pay(t, ctx, bob, "1.00")
		testutil.WaitFor(t, 30*time.Second, "payment "+res.ID+" through gateway "+gw+" committed", func() bool {
			r, err := alice.sess.PaymentStatus(ctx, a.ID, res.ID)
			if err == nil && r.Status == "rejected" {
				t.Fatalf("payment through %s rejected: %s", gw, r.Reason)
			}
			return err == nil && r.Status == "committed"
		})
		if got := alice.balance(t, ctx); got != []string{"49.00", "48.00", "47.00"}[i] {
			t.Fatalf("alice's balance through %s: %s", gw, got)
		}
	}
	f.Stop()

	f, err = Start(ctx, opts)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer f.Stop()
	if got := f.Manifest.Coops[0].Gateways; len(got) != 3 {
		t.Fatalf("after restart: gateways %v", got)
	}
	alice := login(t, ctx, f.Manifest.Coops[0], a.Members[0])
	if got := alice.balance(t, ctx); got != "47.00" {
		t.Fatalf("alice's balance after the restart: %s, want 47.00", got)
	}
}

func metrics(t *testing.T, gw string) string {
	t.Helper()
	resp, err := http.Get(gw + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
