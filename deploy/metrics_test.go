package deploy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/devfed"
	"github.com/icn-coop/icn/internal/keyfile"
)

// tool returns the path of a command the deploy checks need, or skips the
// test without it (fails when ICN_REQUIRE_DEPLOY_TOOLS=1, as in CI).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("ICN_REQUIRE_DEPLOY_TOOLS") == "1" {
		t.Fatalf("%s not found (ICN_REQUIRE_DEPLOY_TOOLS=1): make deploy-deps installs Debian's %s", name, pkg)
	}
	t.Skipf("%s not found: make deploy-deps installs Debian's %s", name, pkg)
	return ""
}

func runTool(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestMetricsPassPromtool: every /metrics the project serves — a hub
// node's HTTP listener and a co-op node's gateway — passes promtool check
// metrics (Prometheus's naming and help lint) after traffic has touched
// every route kind: logins, payments inside and across co-ops.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := devfed.Start(ctx, devfed.Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	m := f.Manifest
	a, b := m.Coops[0], m.Coops[1]
	key, err := keyfile.Read(a.Members[0].KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.New(a.GatewayURL).Login(ctx, key, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Pay(ctx, client.PaymentIntent{To: b.Members[0].DID, ToCoop: b.ID, Amount: "0.25"}, key); err != nil || r.Status != "committed" {
		t.Fatalf("cross-co-op payment: %v %v", r, err)
	}
	urls := []string{a.GatewayURL + "/metrics", b.GatewayURL + "/metrics"}
	for _, n := range m.Hub.Nodes {
		urls = append(urls, "http://"+n.HTTP+"/metrics")
	}
	for _, u := range urls {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("icn_")) {
			t.Fatalf("%s: %s\n%.300s", u, resp.Status, body)
		}
		if out, err := runTool(t, body, promtool, "check", "metrics"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("promtool check metrics %s: %v\n%s", u, err, out)
		}
		t.Logf("%s: %d bytes, promtool check metrics clean", u, len(body))
	}
}
