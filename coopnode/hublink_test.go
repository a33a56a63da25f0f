package coopnode

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/identity"
)

func genDID(t *testing.T) string {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return string(k.DID())
}

// TestNodeReportsHubLink: a node whose hub cluster is unreachable serves,
// says so on /readyz (degraded, still 200) and exports the link on
// /metrics (icn_hubpeer_connected 0 and friends).
func TestNodeReportsHubLink(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hubAddr := c.LocalAddr().String()
	c.Close() // nothing listens there
	cfg := Config{CoopID: "coop-r", DataDir: t.TempDir(), Admin: genDID(t),
		Hub: HubConfig{Federation: genDID(t), Nodes: []HubNodeConfig{{DID: genDID(t), Addr: hubAddr}}}}
	cfg.Gateway.Listen = "127.0.0.1:0"
	n, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Listen(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(n.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The first attempt waits out the handshake timeout (5 s): the link is
	// connecting until then, disconnected after; degraded either way.
	code, body := get("/readyz")
	var rd gateway.Readiness
	if code != http.StatusOK || json.Unmarshal([]byte(body), &rd) != nil {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if rd.Status != "degraded" || (rd.Hub != "connecting" && rd.Hub != "disconnected") || rd.Registered == nil || *rd.Registered || rd.Coop != "coop-r" {
		t.Errorf("/readyz %+v", rd)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{"\nicn_hubpeer_connected 0\n", "\nicn_hubpeer_registered 0\n", "\nicn_hubpeer_open_transfers 0\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}
