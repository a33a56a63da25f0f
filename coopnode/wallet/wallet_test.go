package wallet

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/skip2/go-qrcode"
	"golang.org/x/net/html"

	"github.com/icn-coop/icn/money"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := New(Config{CoopID: "riverside", Currencies: func() money.Currencies {
		return money.Currencies{"hours": money.Hours, "kwh": {Code: "kwh", Scale: 3}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, method, u string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestHeaders checks that every answer under /wallet/, errors included,
// carries the CSP and the other security headers, with the right type.
func TestHeaders(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/wallet/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/wallet/", 200, "text/html; charset=utf-8"},
		{"GET", "/wallet/index.html", 200, "text/html; charset=utf-8"},
		{"GET", "/wallet/icn.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/wallet/icn-store.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/wallet/wallet.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/wallet/wallet.css", 200, "text/css; charset=utf-8"},
		{"GET", "/wallet/config.json", 200, "application/json"},
		{"GET", "/wallet/qr.png?text=hello", 200, "image/png"},
		{"GET", "/wallet/qr.png", 400, "application/json"},
		{"GET", "/wallet/nope.js", 404, "application/json"},
		{"GET", "/wallet/../gateway.go", 404, "application/json"},
		{"POST", "/wallet/", 405, "application/json"},
		{"GET", "/wallet", 301, ""},
	} {
		resp, body := get(t, tc.method, srv.URL+tc.path, nil)
		name := tc.method + " " + tc.path
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, tc.status)
		}
		for k, v := range Headers {
			if k == "Cross-Origin-Resource-Policy" && tc.path == "/wallet/icn.js" {
				v = "cross-origin" // the library, for other sites' apps
			}
			if resp.Header.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", name, k, resp.Header.Get(k), v)
			}
		}
		if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", name, resp.Header.Get("Content-Type"), tc.ctype)
		}
		if tc.status >= 400 {
			var eb struct {
				Error struct{ Code, Message string }
			}
			if json.Unmarshal(body, &eb) != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Errorf("%s: error body %q", name, body)
			}
		}
		if tc.method == "HEAD" && len(body) != 0 {
			t.Errorf("HEAD answered a body")
		}
	}
	if resp, _ := get(t, "GET", srv.URL+"/wallet", nil); resp.Header.Get("Location") != "/wallet/" {
		t.Errorf("/wallet redirects to %q", resp.Header.Get("Location"))
	}
	// The client library may be imported by other sites' apps.
	if resp, _ := get(t, "GET", srv.URL+"/wallet/icn.js", nil); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("icn.js: Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if resp, _ := get(t, "GET", srv.URL+"/wallet/", nil); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the page is readable cross-origin")
	}
	// Revalidation: the ETag is the content's.
	resp, _ := get(t, "GET", srv.URL+"/wallet/icn.js", nil)
	etag := resp.Header.Get("ETag")
	if resp, _ := get(t, "GET", srv.URL+"/wallet/icn.js", http.Header{"If-None-Match": {etag}}); etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %q: %d, want 304", etag, resp.StatusCode)
	}
}

// TestCSPIsStrict reads the policy itself: nothing inline or evaluated, no
// other origin, no framing, Trusted Types required.
func TestCSPIsStrict(t *testing.T) {
	dirs := map[string]string{}
	for _, d := range strings.Split(CSP, ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), " ")
		dirs[name] = val
	}
	want := map[string]string{
		"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'",
		"base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'",
		"require-trusted-types-for": "'script'", "trusted-types": "'none'",
	}
	for k, v := range want {
		if dirs[k] != v {
			t.Errorf("%s %q, want %q", k, dirs[k], v)
		}
	}
	if strings.Contains(CSP, "unsafe") || strings.Contains(CSP, "*") || strings.Contains(CSP, "data:") {
		t.Errorf("CSP allows too much: %s", CSP)
	}
}

// TestPageHasNoInlineCode parses the page: every script is an external
// module, no element has an event-handler or style attribute, no <style>,
// and every file it references is served.
func TestPageHasNoInlineCode(t *testing.T) {
	srv := newServer(t)
	_, page := get(t, "GET", srv.URL+"/wallet/", nil)
	z := html.NewTokenizer(bytes.NewReader(page))
	scripts, refs := 0, []string{}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		attrs := map[string]string{}
		for _, a := range tok.Attr {
			attrs[a.Key] = a.Val
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
				t.Errorf("<%s %s=%q>: inline code or style", tok.Data, a.Key, a.Val)
			}
			if (a.Key == "href" || a.Key == "src") && strings.HasPrefix(strings.ToLower(a.Val), "javascript:") {
				t.Errorf("<%s %s=%q>", tok.Data, a.Key, a.Val)
			}
		}
		switch tok.Data {
		case "script":
			scripts++
			if attrs["src"] == "" || attrs["type"] != "module" {
				t.Errorf("script %v: want an external module", attrs)
			}
			// the next token must be the end tag: no inline body
			if z.Next() != html.EndTagToken {
				t.Errorf("script %v has a body", attrs)
			}
			refs = append(refs, attrs["src"])
		case "style":
			t.Error("a <style> element")
		case "link":
			refs = append(refs, attrs["href"])
		case "a":
			if h := attrs["href"]; h != "#" && !strings.Contains(h, ":") {
				refs = append(refs, h)
			}
		}
	}
	if scripts != 1 {
		t.Errorf("%d scripts, want the one module", scripts)
	}
	for _, r := range refs {
		u := srv.URL + path.Join("/wallet/", r)
		if resp, _ := get(t, "GET", u, nil); resp.StatusCode != 200 {
			t.Errorf("the page references %s: %d", r, resp.StatusCode)
		}
	}
	// The module's imports are served too.
	for _, f := range []string{"wallet.js", "icn.js", "icn-store.js"} {
		_, js := get(t, "GET", srv.URL+"/wallet/"+f, nil)
		for _, line := range strings.Split(string(js), "\n") {
			if strings.HasPrefix(line, "import ") {
				from := line[strings.LastIndex(line, "from '")+6:]
				from = from[:strings.Index(from, "'")]
				if resp, _ := get(t, "GET", srv.URL+path.Join("/wallet/", from), nil); resp.StatusCode != 200 {
					t.Errorf("%s imports %s: %d", f, from, resp.StatusCode)
				}
			}
			if strings.Contains(line, "innerHTML") || strings.Contains(line, "eval(") || strings.Contains(line, "new Function") {
				t.Errorf("%s: %s", f, strings.TrimSpace(line))
			}
		}
	}
}

// TestConfig is what the page learns of its co-op.
func TestConfig(t *testing.T) {
	srv := newServer(t)
	_, body := get(t, "GET", srv.URL+"/wallet/config.json", nil)
	if string(body) != `{"coop":"riverside","currencies":[{"code":"hours","scale":2},{"code":"kwh","scale":3}]}` {
		t.Errorf("config.json %s", body)
	}
}

// TestConfigFollowsCurrencies: config.json lists the currencies in force
// when it is asked (a replicated co-op's table follows its leader), and its
// ETag changes with them.
func TestConfigFollowsCurrencies(t *testing.T) {
	var cs atomic.Pointer[money.Currencies]
	cs.Store(&money.Currencies{"hours": money.Hours})
	h, err := New(Config{CoopID: "riverside", Currencies: func() money.Currencies { return *cs.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	resp1, body := get(t, "GET", srv.URL+"/wallet/config.json", nil)
	if string(body) != `{"coop":"riverside","currencies":[{"code":"hours","scale":2}]}` {
		t.Fatalf("config.json %s", body)
	}
	cs.Store(&money.Currencies{"hours": money.Hours, "kwh": {Code: "kwh", Scale: 3}})
	resp2, body := get(t, "GET", srv.URL+"/wallet/config.json", nil)
	if string(body) != `{"coop":"riverside","currencies":[{"code":"hours","scale":2},{"code":"kwh","scale":3}]}` {
		t.Fatalf("config.json after a currency was recorded: %s", body)
	}
	if e1, e2 := resp1.Header.Get("ETag"), resp2.Header.Get("ETag"); e1 == "" || e1 == e2 {
		t.Fatalf("ETags %q and %q: want two different ones", e1, e2)
	}
}

// TestQR renders a payment request and reads the PNG back module by
// module: it is the library's QR code of exactly that text (so a scanner
// reads the text back), with its quiet zone.
func TestQR(t *testing.T) {
	srv := newServer(t)
	text := "icn:pay?to=did%3Aicn%3A8GRNrPz6HA&coop=riverside&amount=2.50&currency=hours&memo=caf%C3%A9+%26+cake"
	resp, body := get(t, "GET", srv.URL+"/wallet/qr.png?"+url.Values{"text": {text}}.Encode(), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("qr.png: %d %s", resp.StatusCode, body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bits := q.Bitmap() // with the 4-module quiet zone
	if img.Bounds().Dx() != len(bits)*QRModulePixels || img.Bounds().Dy() != len(bits)*QRModulePixels {
		t.Fatalf("image %v, want %d modules of %d px", img.Bounds(), len(bits), QRModulePixels)
	}
	for y, row := range bits {
		for x, dark := range row {
			r, _, _, _ := img.At(x*QRModulePixels+QRModulePixels/2, y*QRModulePixels+QRModulePixels/2).RGBA()
			if (r < 0x8000) != dark {
				t.Fatalf("module (%d,%d): dark %v in the image, %v in the code", x, y, r < 0x8000, dark)
			}
		}
	}
	for _, row := range bits[:4] {
		for _, dark := range row {
			if dark {
				t.Fatal("no quiet zone")
			}
		}
	}
	// A different text is a different code.
	other, _ := QR(text + "x")
	if bytes.Equal(other, body) {
		t.Error("two texts, one image")
	}
	for _, bad := range []string{"", strings.Repeat("a", MaxQRText+1)} {
		if resp, body := get(t, "GET", srv.URL+"/wallet/qr.png?"+url.Values{"text": {bad}}.Encode(), nil); resp.StatusCode != 400 || !strings.Contains(string(body), "invalid_request") {
			t.Errorf("text of %d bytes: %d %s", len(bad), resp.StatusCode, body)
		}
	}
}
