package hub

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestServiceHTTP runs a one-node cluster over the real TLS transport and
// checks /healthz, /readyz and the raft metrics on /metrics.
func TestServiceHTTP(t *testing.T) {
	t.Parallel()
	key, fed, op := newKey(t), newKey(t), newKey(t)
	raftLn, grpcLn, httpLn := listen(t), listen(t), listen(t)
	cfg := Config{DataDir: t.TempDir(), Key: key, RaftListener: raftLn, GRPCAddr: grpcLn.Addr().String(),
		Peers:            []Peer{{DID: key.DID(), RaftAddr: raftLn.Addr().String(), GRPCAddr: grpcLn.Addr().String()}},
		Federation:       FederationConfig{DID: fed.DID(), Name: "one", Currencies: []money.Currency{money.Hours}},
		HeartbeatTimeout: 200 * time.Millisecond}
	svc, err := StartService(cfg, []identity.DID{op.DID()}, grpcLn, httpLn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	base := "http://" + httpLn.Addr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	waitFor(t, 10*time.Second, "/readyz", func() bool { code, _ := get("/readyz"); return code == 200 })
	_, body := get("/metrics")
	for _, m := range []string{"icn_hub_raft_leader 1", "icn_hub_raft_applied_index", "icn_hub_raft_commit_index",
		"icn_hub_raft_term", "icn_hub_fsm_apply_seconds_bucket", "icn_hub_command_latency_seconds_count", "go_goroutines"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}
