package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/internal/testutil"
)

// TestHealth: icn health finds the node from its coop.toml (HTTPS when the
// gateway serves TLS) or hub.toml, or asks --url; it fails on a node that is
// not there, a non-200 answer and a file that is neither configuration.
func TestHealth(t *testing.T) {
	dir := t.TempDir()
	crt, key, _ := testutil.WriteCert(t, dir, "gw")
	cfg := coopnode.Config{CoopID: "coop-h", DataDir: t.TempDir(), Admin: string(genKey(t).DID()),
		Gateway: coopnode.GatewayConfig{TLSCertFile: crt, TLSKeyFile: key}}
	n := serveNode(t, cfg)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(n.URL(), "https://"))
	coopTOML := filepath.Join(dir, "coop.toml")
	writeFile(t, coopTOML, fmt.Sprintf("coop_id = %q\ndata_dir = %q\nadmin = %q\n[gateway]\nlisten = \"0.0.0.0:%s\"\ntls_cert_file = %q\ntls_key_file = %q\n",
		cfg.CoopID, cfg.DataDir, cfg.Admin, port, crt, key))

	out := mustICN(t, "health", "--config", coopTOML)
	wantContains(t, "health of a co-op node", out, "https://127.0.0.1:"+port+"/healthz", "ok")
	t.Setenv(envConfig, coopTOML)
	out = mustICN(t, "health", "--ready")
	wantContains(t, "readiness of a co-op node", out, "/readyz", `"status":"ready"`)

	hubHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, "not ready: no leader or federation not initialised", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer hubHTTP.Close()
	hubTOML := filepath.Join(dir, "hub.toml")
	writeFile(t, hubTOML, fmt.Sprintf("data_dir = %q\noperators = [%q]\n[http]\nlisten = %q\n[federation]\ndid = %q\n",
		t.TempDir(), genKey(t).DID(), strings.TrimPrefix(hubHTTP.URL, "http://"), genKey(t).DID()))
	out = mustICN(t, "health", "--config", hubTOML)
	wantContains(t, "health of a hub", out, hubHTTP.URL+"/healthz: ok")
	if _, err := runICN(t, "health", "--config", hubTOML, "--ready"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("readiness of a hub without a leader: %v, want a 503 error", err)
	}
	mustICN(t, "health", "--url", hubHTTP.URL+"/healthz")

	bogus := filepath.Join(dir, "bogus.toml")
	writeFile(t, bogus, "colour = \"blue\"\n")
	t.Setenv(envConfig, "")
	for _, args := range [][]string{
		{"health"},
		{"health", "--config", bogus},
		{"health", "--config", hubTOML, "--url", hubHTTP.URL},
		{"health", "--url", "http://" + freeAddr(t) + "/healthz"},
	} {
		if _, err := runICN(t, args...); err == nil {
			t.Errorf("icn %s succeeded", strings.Join(args, " "))
		}
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a TCP address nothing listens on (a moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKeygenFrom: icn keygen --from copies a key that keyfile.Read refuses
// for its mode (a Kubernetes Secret mounted group-readable) into a 0600
// file with the same DID.
func TestKeygenFrom(t *testing.T) {
	dir := t.TempDir()
	k := genKey(t)
	src := filepath.Join(dir, "secret.key")
	if err := keyfile.Write(src, k); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o440); err != nil {
		t.Fatal(err)
	}
	if _, err := keyfile.Read(src); err == nil {
		t.Fatal("a 0440 key file was read: the test's premise is gone")
	}
	dst := filepath.Join(dir, "node.key")
	out := mustICN(t, "keygen", "--from", src, "--out", dst)
	if strings.TrimSpace(out) != string(k.DID()) {
		t.Fatalf("printed %q, want %s", out, k.DID())
	}
	got, err := keyfile.Read(dst)
	if err != nil || got.DID() != k.DID() {
		t.Fatalf("copied key: %v %v", got, err)
	}
	writeFile(t, filepath.Join(dir, "junk.key"), "{}")
	if _, err := runICN(t, "keygen", "--from", filepath.Join(dir, "junk.key"), "--out", filepath.Join(dir, "x.key")); err == nil {
		t.Error("a junk key file was copied")
	}
}
