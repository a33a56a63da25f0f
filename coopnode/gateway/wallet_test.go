package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/icn-coop/icn/coopnode/wallet"
)

// TestWalletMounted: the gateway serves the web wallet under /wallet/ with
// its security headers, and /wallet redirects there.
func TestWalletMounted(t *testing.T) {
	_, e := newTestGateway(t, nil)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path   string
		status int
		ctype  string
		body   string
	}{
		{"/wallet/", 200, "text/html; charset=utf-8", `<script type="module" src="wallet.js">`},
		{"/wallet/icn.js", 200, "text/javascript; charset=utf-8", "export class ICNClient"},
		{"/wallet/config.json", 200, "application/json", `"coop":"` + testCoop + `"`},
		{"/wallet", 301, "", ""},
		{"/wallet/missing", 404, "application/json", `"not_found"`},
	} {
		resp, err := noFollow.Get(e.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype) || !strings.Contains(string(b), tc.body) {
			t.Errorf("GET %s: %d %q, want %d %q with %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype, tc.body)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != wallet.CSP {
			t.Errorf("GET %s: CSP %q", tc.path, got)
		}
	}
}
