package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/devfed"
	"github.com/icn-coop/icn/internal/testutil"
)

// TestCoopStatusAndPayeeHistory runs a dev federation in this process:
// `icn coop status` shows each co-op node connected to a node of the hub
// cluster, with the leader, open transfers and the ledger head; and after a
// payment from coop-a to coop-b, `icn wallet history` of the payee names
// the paying member and co-op (before, it showed the clearing account and
// the hub node's DID).
func TestCoopStatusAndPayeeHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub cluster and two co-op nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	f, err := devfed.Start(ctx, devfed.Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	m := f.Manifest
	hubDIDs := map[string]bool{}
	for _, n := range m.Hub.Nodes {
		hubDIDs[string(n.DID)] = true
	}
	a, b := m.Coops[0], m.Coops[1]
	for _, c := range []devfed.ManifestCoop{a, b} {
		var rd client.Readiness
		testutil.WaitFor(t, 20*time.Second, c.ID+" connected with the leader known", func() bool {
			out, err := runICN(t, "coop", "status", "--gateway", c.GatewayURL, "-o", "json")
			rd = client.Readiness{}
			return err == nil && json.Unmarshal([]byte(out), &rd) == nil && rd.Leader != ""
		})
		if rd.Status != "ready" || rd.Hub != "connected" || !hubDIDs[rd.HubNode] || !hubDIDs[rd.Leader] ||
			rd.Registered == nil || !*rd.Registered || rd.Coop != c.ID || rd.LedgerHead == "" {
			t.Errorf("%s status: %+v", c.ID, rd)
		}
		out := mustICN(t, "coop", "status", "--gateway", c.GatewayURL)
		wantContains(t, c.ID+" status table", out, "status          ready", "hub link        connected since ",
			"hub node        did:icn:", "leader          did:icn:", "registered      yes", "open transfers  0", "ledger head     #")
	}

	alice, bob := a.Members[0], b.Members[1]
	out := mustICN(t, "wallet", "pay", "--dev", dir, "--key", alice.KeyFile, "--to", string(bob.DID), "--to-coop", b.ID,
		"--amount", "2.50", "--memo", "across", "-o", "json")
	var res client.PaymentResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Status != client.StatusCommitted {
		t.Fatalf("pay: %s %v", out, err)
	}
	// The payee's node applies the outcome just after the payer's has it.
	var row string
	testutil.WaitFor(t, 10*time.Second, "the payee's history shows the payment committed", func() bool {
		out := mustICN(t, "wallet", "history", "--dev", dir, "--key", bob.KeyFile)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, res.ID) && strings.Contains(l, "committed") {
				row = l
				return true
			}
		}
		return false
	})
	if want := alice.DID.Short() + " @" + a.ID; !strings.Contains(row, want) || !strings.Contains(row, "+2.50") {
		t.Errorf("the payee's history row %q does not show +2.50 from %s", row, want)
	}
	out = mustICN(t, "wallet", "history", "--dev", dir, "--key", bob.KeyFile, "-o", "json")
	var h client.History
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.Entries {
		if e.ID == res.ID && (e.From != alice.DID || e.FromCoop != a.ID || e.To != bob.DID || e.ToCoop != b.ID) {
			t.Errorf("payee's JSON history row %+v, want from %s @ %s", e, alice.DID, a.ID)
		}
	}
}

// TestCoopStatusDegraded: `icn coop status --config coop.toml` finds the
// gateway from the config; a node whose hub cluster is unreachable is shown
// degraded, and the command exits non-zero.
func TestCoopStatusDegraded(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hubAddr := udp.LocalAddr().String()
	udp.Close() // nothing listens there
	dir := t.TempDir()
	cfg := coopnode.Config{CoopID: "coop-d", DataDir: dir, Admin: string(genKey(t).DID()),
		Hub: coopnode.HubConfig{Federation: string(genKey(t).DID()),
			Nodes: []coopnode.HubNodeConfig{{DID: string(genKey(t).DID()), Addr: hubAddr}}}}
	n := serveNode(t, cfg)

	_, port, _ := net.SplitHostPort(strings.TrimPrefix(n.URL(), "http://"))
	toml := fmt.Sprintf("coop_id = %q\ndata_dir = %q\nadmin = %q\n[gateway]\nlisten = \"0.0.0.0:%s\"\nplain_http = true\n", cfg.CoopID, dir, cfg.Admin, port)
	path := filepath.Join(t.TempDir(), "coop.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runICN(t, "coop", "status", "--config", path)
	if err == nil || !strings.Contains(err.Error(), "degraded") {
		t.Fatalf("status of a node without its hub: err %v, want one saying degraded\n%s", err, out)
	}
	wantContains(t, "degraded status", out, "coop            coop-d", "status          degraded", "registered      no",
		"open transfers  0", "gateway         http://127.0.0.1:"+port)
	if !strings.Contains(out, "hub link        connecting") && !strings.Contains(out, "hub link        disconnected") {
		t.Errorf("hub link neither connecting nor disconnected:\n%s", out)
	}

	for _, args := range [][]string{
		{"coop", "status"},
		{"coop", "status", "--gateway", "ftp://x"},
		{"coop", "status", "--gateway", n.URL(), "--config", path},
		{"coop", "status", "--gateway", n.URL(), "-o", "yaml"},
	} {
		if _, err := runICN(t, args...); err == nil {
			t.Errorf("icn %s succeeded", strings.Join(args, " "))
		}
	}
}

// serveNode opens and serves a co-op node on 127.0.0.1:0 until the test ends.
func serveNode(t *testing.T, cfg coopnode.Config) *coopnode.Node {
	t.Helper()
	cfg.Gateway.Listen = "127.0.0.1:0"
	if cfg.Gateway.RateLimits.PerIP == 0 {
		// Each icn wallet command logs in again, and a test runs dozens of
		// them from one address in a fraction of a second: far past the
		// isolated class's 10 logins/s a deployed gateway allows per address.
		cfg.Gateway.RateLimits.PerIP = 1e6
	}
	n, err := coopnode.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Listen(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return n
}
