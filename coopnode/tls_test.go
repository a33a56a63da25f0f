package coopnode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/internal/httpserve"
	"github.com/icn-coop/icn/internal/testutil"
)

// tlsNode serves a node whose gateway reads its certificate from
// dir/gw.crt and dir/gw.key, checking them for changes every check.
func tlsNode(t *testing.T, dir string, check time.Duration) *Node {
	t.Helper()
	cfg := Config{CoopID: "riverside", DataDir: t.TempDir(), Admin: string(newKey(t).DID()), Gateway: GatewayConfig{
		Listen: "127.0.0.1:0", TLSCertFile: filepath.Join(dir, "gw.crt"), TLSKeyFile: filepath.Join(dir, "gw.key")}}
	n, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	n.certCheck = check
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
			t.Errorf("serve: %v", err)
		}
	})
	return n
}

// useCert makes cn's certificate the gateway's, replacing the files the way
// a certificate manager does: write beside, then rename over.
func useCert(t *testing.T, dir, cn string) *x509.CertPool {
	t.Helper()
	crt, key, pool := testutil.WriteCert(t, dir, cn)
	for src, dst := range map[string]string{crt: "gw.crt", key: "gw.key"} {
		if err := os.Rename(src, filepath.Join(dir, dst)); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// get asks url through tr and returns the common name of the certificate
// the server presented and whether the connection was reused.
func get(t *testing.T, tr *http.Transport, url string) (cn string, reused bool, resp *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp.TLS.PeerCertificates[0].Subject.CommonName, reused, resp
}

// TestGatewayServesTLS13WithHSTS: with tls_cert_file and tls_key_file the
// gateway speaks HTTPS, TLS 1.3 only, and every answer carries
// Strict-Transport-Security; a TLS 1.2 client is refused.
func TestGatewayServesTLS13WithHSTS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pool := useCert(t, dir, "gw-a")
	n := tlsNode(t, dir, time.Hour)
	if !strings.HasPrefix(n.URL(), "https://") {
		t.Fatalf("URL %s, want https://", n.URL())
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
		_, _, resp := get(t, tr, n.URL()+path)
		if resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("%s: TLS version %x, want 1.3", path, resp.TLS.Version)
		}
		if h := resp.Header.Get("Strict-Transport-Security"); h != httpserve.HSTS {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", path, h, httpserve.HSTS)
		}
	}
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}}
	defer old.CloseIdleConnections()
	if _, err := (&http.Client{Transport: old}).Get(n.URL() + "/healthz"); err == nil {
		t.Error("a TLS 1.2 client got an answer")
	}
	plain := strings.Replace(n.URL(), "https://", "http://", 1)
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP to the TLS port answered 200")
		}
	}
}

// TestGatewayReloadsCertificateKeepingConnections: a SIGHUP-style reload
// (ReloadTLS) and a replaced pair of files (the watcher) each give new
// connections the new certificate while a kept-alive connection made before
// goes on serving requests; a broken file keeps the certificate in use.
func TestGatewayReloadsCertificateKeepingConnections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pools := []*x509.CertPool{useCert(t, dir, "gw-a")}
	n := tlsNode(t, dir, 20*time.Millisecond)
	trust := func() *tls.Config {
		c := &tls.Config{InsecureSkipVerify: true} // checked by hand against every pool below
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			var err error
			for _, p := range pools {
				if _, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: p}); err == nil {
					return nil
				}
			}
			return err
		}
		return c
	}
	kept := &http.Transport{TLSClientConfig: trust()}
	defer kept.CloseIdleConnections()
	if cn, _, _ := get(t, kept, n.URL()+"/healthz"); cn != "gw-a" {
		t.Fatalf("first certificate %s, want gw-a", cn)
	}

	pools = append(pools, useCert(t, dir, "gw-b"))
	changed, err := n.ReloadTLS()
	if err != nil || !changed {
		t.Fatalf("ReloadTLS: changed %v, err %v", changed, err)
	}
	if cn, reused, _ := get(t, kept, n.URL()+"/healthz"); cn != "gw-a" || !reused {
		t.Fatalf("kept-alive connection after the reload: certificate %s, reused %v; want gw-a on the same connection", cn, reused)
	}
	fresh := func() string {
		tr := &http.Transport{TLSClientConfig: trust()}
		defer tr.CloseIdleConnections()
		cn, _, _ := get(t, tr, n.URL()+"/healthz")
		return cn
	}
	if cn := fresh(); cn != "gw-b" {
		t.Fatalf("new connection after the reload: certificate %s, want gw-b", cn)
	}

	// The watcher notices replaced files by itself.
	pools = append(pools, useCert(t, dir, "gw-c"))
	testutil.WaitFor(t, 10*time.Second, "the watcher to load gw-c", func() bool { return fresh() == "gw-c" })
	if cn, reused, _ := get(t, kept, n.URL()+"/healthz"); cn != "gw-a" || !reused {
		t.Fatalf("kept-alive connection after the file change: certificate %s, reused %v", cn, reused)
	}

	// A half-written certificate is refused; the one in use stays.
	if err := os.WriteFile(filepath.Join(dir, "gw.crt"), []byte("-----BEGIN CERTIFICATE-----\nMIIB"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "gw.crt") {
		t.Fatalf("reload of a broken certificate: %v, want an error naming gw.crt", err)
	}
	if cn := fresh(); cn != "gw-c" {
		t.Fatalf("after a failed reload: certificate %s, want gw-c still", cn)
	}
}
