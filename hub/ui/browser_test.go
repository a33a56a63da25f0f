package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/icn-coop/icn/hub/ui"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

// browserPath finds a Chromium or Chrome binary. Without one the test is
// skipped, unless ICN_REQUIRE_BROWSER=1 (CI), where it fails.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no chromium, chromium-browser or google-chrome binary: install one with `make browser-deps` (apt-get install chromium)"
	if os.Getenv("ICN_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; ICN_REQUIRE_BROWSER=1 makes this a failure")
	}
	t.Skip(msg)
	return ""
}

// pageData is what the test reads from the rendered page through its
// data-* hooks.
type pageData struct {
	Figures []struct {
		DID, Currency, Field, Value, Text string
	}
	Totals []struct {
		Currency, Field, Value string
	}
	QuorumReached string
	Nodes         map[string]string
	Scripts       int
	Title         string
	HeaderNoWrap  string // computed white-space of a table header: "nowrap" only if the style sheet applied under the CSP
	HostileShown  bool
}

const readHooks = `(() => {
  const up = (e, a) => e.closest('[' + a + ']').getAttribute(a);
  const v = document.getElementById('verification');
  return {
    figures: [...document.querySelectorAll('tr[data-did][data-currency] [data-field]')].map(e => ({
      did: up(e, 'data-did'), currency: up(e, 'data-currency'), field: e.dataset.field,
      value: e.dataset.value, text: e.textContent.trim()})),
    totals: [...document.querySelectorAll('tr[data-totals] [data-field]')].map(e => ({
      currency: up(e, 'data-currency'), field: e.dataset.field, value: e.dataset.value})),
    quorumReached: v.dataset.quorumReached,
    nodes: Object.fromEntries([...v.querySelectorAll('[data-node]')].map(e => [e.dataset.node, e.dataset.sigStatus])),
    scripts: document.scripts.length,
    title: document.title,
    headerNoWrap: getComputedStyle(document.querySelector('thead th')).whiteSpace,
    hostileShown: document.body.innerText.includes(` + "`" + hostileName + "`" + `),
  };
})()`

// openPage opens url in headless Chromium (exe) and reads the page's data-*
// hooks; the returned browser context stays open until the test ends.
func openPage(t *testing.T, exe, url string) (context.Context, pageData) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1024))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#verification"))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[pageData](readHooks))
	if err != nil {
		t.Fatalf("read hooks: %v", err)
	}
	return bctx, got
}

// TestBrowserPeriodPage opens a period page in headless Chromium, reads
// every figure through the data-* hooks and checks it against view.json
// from the same server; checks the verification panel, CSP-allowed styling,
// inert hostile names, and takes a screenshot and a PDF print.
func TestBrowserPeriodPage(t *testing.T) {
	t.Parallel()
	exe := browserPath(t)
	src := newSource(t)
	hs := httptest.NewServer(ui.Handler(src, clock)) // 127.0.0.1, a free port
	t.Cleanup(hs.Close)
	srv := hs.URL

	bctx, got := openPage(t, exe, srv+"/ui/settlement/1")

	// The API: view.json from the same server.
	var api struct {
		Report     json.RawMessage        `json:"report"`
		Signatures []settlement.Signature `json:"signatures"`
		HubNodes   []identity.DID         `json:"hub_nodes"`
		Quorum     int                    `json:"quorum"`
	}
	if err := json.Unmarshal(httpGet(t, srv+"/ui/settlement/1/view.json"), &api); err != nil {
		t.Fatal(err)
	}
	rep, err := settlement.ParseReport(api.Report)
	if err != nil {
		t.Fatal(err)
	}

	type key struct{ did, currency, field string }
	want := map[key]string{}
	for _, f := range rep.Figures {
		c, _ := rep.Totals(f.Currency)
		want[key{string(f.DID), f.Currency, "sent"}] = money.FromUnits(f.Sent, c.Currency).String()
		want[key{string(f.DID), f.Currency, "received"}] = money.FromUnits(f.Received, c.Currency).String()
		want[key{string(f.DID), f.Currency, "net"}] = money.FromUnits(f.Net, c.Currency).String()
		want[key{string(f.DID), f.Currency, "sent_count"}] = strconv.Itoa(f.SentCount)
		want[key{string(f.DID), f.Currency, "received_count"}] = strconv.Itoa(f.ReceivedCount)
	}
	for _, c := range rep.Currencies {
		want[key{"", c.Currency.Code, "transfers"}] = strconv.Itoa(c.Transfers)
		want[key{"", c.Currency.Code, "volume"}] = money.FromUnits(c.Volume, c.Currency).String()
		want[key{"", c.Currency.Code, "net_debit"}] = money.FromUnits(c.NetDebit, c.Currency).String()
		want[key{"", c.Currency.Code, "liquidity_saving"}] = c.LiquiditySavingString()
	}
	seen := map[key]string{}
	for _, f := range got.Figures {
		k := key{f.DID, f.Currency, f.Field}
		if _, dup := seen[k]; dup {
			t.Errorf("figure %v twice on the page", k)
		}
		seen[k] = f.Value
		if f.Text != f.Value {
			t.Errorf("figure %v shows %q but its hook says %q", k, f.Text, f.Value)
		}
	}
	for _, f := range got.Totals {
		seen[key{"", f.Currency, f.Field}] = f.Value
	}
	if len(seen) != len(want) {
		t.Errorf("page has %d figures, view.json %d", len(seen), len(want))
	}
	for k, w := range want {
		if seen[k] != w {
			t.Errorf("%v: page %q, view.json %q", k, seen[k], w)
		}
	}
	if len(rep.Currencies) < 2 || len(got.Figures) == 0 {
		t.Errorf("want a multi-currency period with figures: %d currencies, %d figures", len(rep.Currencies), len(got.Figures))
	}

	// Verification: 2 of 3 valid, the third invalid; the page agrees with
	// VerifySignatures over the API's data.
	valid, final, err := settlement.VerifySignatures(rep, api.Signatures, api.HubNodes, api.Quorum)
	if err != nil || !final || len(valid) != 2 {
		t.Fatalf("API signatures: %d valid, final %v, %v", len(valid), final, err)
	}
	if got.QuorumReached != "true" {
		t.Errorf("page shows quorum reached %q", got.QuorumReached)
	}
	nodes := src.nodes
	for d, w := range map[identity.DID]string{nodes[0].DID(): "valid", nodes[1].DID(): "valid", nodes[2].DID(): "invalid"} {
		if got.Nodes[string(d)] != w {
			t.Errorf("node %s shown %q, want %q", d.Short(), got.Nodes[string(d)], w)
		}
	}

	// Safety and styling.
	if got.Scripts != 0 || got.Title == "pwned" || !got.HostileShown {
		t.Errorf("hostile name: %d scripts, title %q, shown as text %v", got.Scripts, got.Title, got.HostileShown)
	}
	if got.HeaderNoWrap != "nowrap" {
		t.Errorf("style sheet not applied (blocked by the CSP?): white-space %q", got.HeaderNoWrap)
	}

	dir := os.Getenv("ICN_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot: %d bytes, not a PNG", len(png))
	}
	shot := filepath.Join(dir, "settlement-period-1.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	// Print: the print style sheet hides navigation and downloads.
	var printNav string
	var pdf []byte
	err = chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		printNav, err = chromedp.Evaluate[string](`getComputedStyle(document.querySelector('nav')).display`)(ctx, tg)
		return err
	}), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, page.PrintToPDF, page.PrintToPDFParams{})
		pdf = res.Data
		return err
	}))
	if err != nil {
		t.Fatalf("print: %v", err)
	}
	if printNav != "none" {
		t.Errorf("nav in print: display %q, want none", printNav)
	}
	if len(pdf) < 1000 || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("PDF: %d bytes", len(pdf))
	}
	out := filepath.Join(dir, "settlement-period-1.pdf")
	if err := os.WriteFile(out, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("pdf: %s (%d bytes)", out, len(pdf))
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}
