package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/icn-coop/icn/hub/ui"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startOneNode runs a one-node cluster over the real TLS transport with its
// HTTP endpoints and data plane, closed when the test ends.
func startOneNode(t *testing.T) (svc *Service, fed *identity.Key, httpLn net.Listener) {
	t.Helper()
	key, op := newKey(t), newKey(t)
	fed = newKey(t)
	raftLn, grpcLn := listen(t), listen(t)
	httpLn = listen(t)
	cfg := Config{DataDir: t.TempDir(), Key: key, RaftListener: raftLn, GRPCAddr: grpcLn.Addr().String(),
		Peers:            []Peer{{DID: key.DID(), RaftAddr: raftLn.Addr().String(), GRPCAddr: grpcLn.Addr().String()}},
		Federation:       FederationConfig{DID: fed.DID(), Name: "one", Currencies: []money.Currency{money.Hours}},
		DataAddr:         "127.0.0.1:0",
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
	return svc, fed, httpLn
}

// TestServiceHTTP runs a one-node cluster over the real TLS transport and
// checks /healthz, /readyz and the raft and data-plane metrics on /metrics.
func TestServiceHTTP(t *testing.T) {
	t.Parallel()
	_, _, httpLn := startOneNode(t)
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
		"icn_hub_raft_term", "icn_hub_fsm_apply_seconds_bucket", "icn_hub_command_latency_seconds_count", "go_goroutines",
		`icn_signature_verifications_total{component="dataplane",kind="intent"} 0`,
		`icn_signature_verifications_total{component="dataplane",kind="receipt"} 0`} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// TestServiceTreasurerPages: the hub's HTTP listener (metrics and health,
// unauthenticated) serves no settlement data: every path of the treasurer
// pages is a 404 there, while /metrics, /healthz and /readyz still answer.
// The pages are served from the control plane instead (ui.RemoteSource, as
// `icn settlement ui` does): with a registered co-op's key they show the
// period; with a key the hub does not know, every page is a 403 JSON error
// that carries no figures.
func TestServiceTreasurerPages(t *testing.T) {
	t.Parallel()
	svc, fed, httpLn := startOneNode(t)
	n := svc.Node
	waitFor(t, 10*time.Second, "leader", func() bool { return n.IsLeader() && n.fsm.Initialized() })
	ctx := context.Background()
	coops := setupFederation(t, ctx, n, fed, 2, 1_000_000)
	for i, units := range []int64{250, 100} {
		id := fmt.Sprintf("t%d", i)
		mustPropose(t, ctx, n, cmdPrepare(id, coops[i].DID(), coops[1-i].DID(), units, time.Now().Add(time.Hour).UnixNano()))
		mustPropose(t, ctx, n, cmdCommit(id))
	}
	if _, err := n.ClosePeriod(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the report signed", func() bool {
		rec, ok, _ := n.fsm.SettlementPeriod(1)
		return ok && len(rec.GetSignatures()) >= 1
	})
	get := func(base, path string) (int, string, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	paths := []string{"/ui/settlement/", "/ui/settlement/1", "/ui/settlement/2", "/ui/settlement/1/report.json",
		"/ui/settlement/1/view.json", "/ui/settlement/1/figures.csv", "/ui/settlement/1/instructions.csv", "/ui/", "/ui/settlement"}
	noData := func(what string, body []byte) {
		t.Helper()
		for _, c := range coops {
			if strings.Contains(string(body), string(c.DID())) || strings.Contains(string(body), "2.50") {
				t.Errorf("%s: the answer holds settlement data:\n%.300s", what, body)
				return
			}
		}
	}

	metrics := "http://" + httpLn.Addr().String()
	for _, p := range paths {
		code, _, b := get(metrics, p)
		if code != http.StatusNotFound {
			t.Errorf("metrics listener %s: %d, want 404", p, code)
		}
		noData("metrics listener "+p, b)
	}
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _, _ := get(metrics, p); code != http.StatusOK {
			t.Errorf("metrics listener %s: %d, want 200", p, code)
		}
	}

	pages := func(k *identity.Key) string {
		t.Helper()
		cfg, err := identity.TLSConfig(k, identity.Pin(n.DID()))
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		hs := httptest.NewServer(ui.Handler(ui.RemoteSource(icnv1.NewSettlementServiceClient(cc)), time.Now))
		t.Cleanup(hs.Close)
		return hs.URL
	}
	stranger := pages(newKey(t))
	for _, p := range paths[:7] {
		code, ct, b := get(stranger, p)
		if code != http.StatusForbidden || ct != "application/json" || !strings.Contains(string(b), `"code":"forbidden"`) {
			t.Errorf("unknown key %s: %d %s %s, want a 403 JSON error", p, code, ct, b)
		}
		noData("unknown key "+p, b)
	}

	coop := pages(coops[0])
	if code, ct, b := get(coop, "/ui/settlement/"); code != 200 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(b), `data-period="1"`) {
		t.Fatalf("index: %d %s", code, ct)
	}
	if code, ct, b := get(coop, "/ui/settlement/1"); code != 200 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(b), string(coops[1].DID())) {
		t.Fatalf("period page: %d %s", code, ct)
	}
	code, _, b := get(coop, "/ui/settlement/1/view.json")
	v, err := n.PeriodView(ctx, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want, err := settlement.ViewJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	var got, exp map[string]any
	if code != 200 || json.Unmarshal(b, &got) != nil || json.Unmarshal(want, &exp) != nil {
		t.Fatalf("view.json: %d %s", code, b)
	}
	if !reflect.DeepEqual(got["report"], exp["report"]) || !reflect.DeepEqual(got["statuses"], exp["statuses"]) || got["state"] != settlement.StateFinal {
		t.Fatalf("view.json differs from the node's view:\n%s\n%s", b, want)
	}
	if code, _, _ := get(coop, "/ui/settlement/2"); code != 404 {
		t.Fatalf("the open period's page: %d, want 404", code)
	}
}
