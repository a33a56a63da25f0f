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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
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

// console collects what a page reports as an error: console.error calls,
// uncaught exceptions and error log entries (a Content-Security-Policy
// violation, a resource that failed to load).
type console struct {
	mu   sync.Mutex
	errs []string
}

func (c *console) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, s)
}

// errors returns the errors reported so far.
func (c *console) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// openURL opens url in headless Chromium (exe), waits for the element sel
// and returns the browser context (open until the test ends) with the
// page's console, watched from before the navigation.
func openURL(t *testing.T, exe, url, sel string) (context.Context, *console) {
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
	c := &console{}
	err := chromedp.Listen(bctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				c.add("console." + string(e.Type))
			}
		case *runtime.EventExceptionThrown:
			c.add("exception: " + e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && !strings.HasSuffix(e.Entry.URL, "/favicon.ico") {
				c.add(string(e.Entry.Source) + ": " + e.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatalf("watch the console: %v", err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(sel))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return bctx, c
}

// openPage opens a period page at url and reads its data-* hooks; the page
// must report no console error.
func openPage(t *testing.T, exe, url string) (context.Context, pageData) {
	t.Helper()
	bctx, c := openURL(t, exe, url, "#verification")
	got, err := chromedp.Run(bctx, chromedp.Evaluate[pageData](readHooks))
	if err != nil {
		t.Fatalf("read hooks: %v", err)
	}
	if errs := c.errors(); len(errs) > 0 {
		t.Errorf("%s: console errors %q", url, errs)
	}
	return bctx, got
}

// indexData is what the test reads from the index page.
type indexData struct {
	Periods []struct {
		Period, State string
		Fields        map[string]string
		Links         []string
	}
	Charts []struct {
		Currency      string
		Width, Height float64
		Rows          []struct {
			DID, Label string
			Bars       []struct {
				Period, Value string
				Height        float64
			}
		}
	}
	Scripts      int
	Title        string
	HeaderNoWrap string
}

const readIndex = `(() => ({
  periods: [...document.querySelectorAll('tr[data-period]')].map(tr => ({
    period: tr.dataset.period, state: tr.dataset.state,
    fields: Object.fromEntries([...tr.querySelectorAll('[data-field]')].map(e =>
      [e.dataset.field + (e.dataset.currency ? ':' + e.dataset.currency : ''), e.dataset.value])),
    links: [...tr.querySelectorAll('a[download]')].map(a => a.getAttribute('href'))})),
  charts: [...document.querySelectorAll('section[data-trend]')].map(s => {
    const svg = s.querySelector('svg'), r = svg.getBoundingClientRect();
    return {currency: s.dataset.trend, width: r.width, height: r.height,
      rows: [...svg.querySelectorAll('g[data-did]')].map(g => ({did: g.dataset.did,
        label: [...g.querySelector('text').childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join(''),
        bars: [...g.querySelectorAll('rect[data-period]')].map(b => ({period: b.dataset.period, value: b.dataset.value,
          height: b.getBoundingClientRect().height}))}))};
  }),
  scripts: document.scripts.length,
  title: document.title,
  headerNoWrap: getComputedStyle(document.querySelector('thead th')).whiteSpace,
}))()`

// openIndex opens the index page at url and reads it; the page must report
// no console error, run no script and be styled (the CSP let its style
// sheet apply).
func openIndex(t *testing.T, exe, url string) (context.Context, indexData) {
	t.Helper()
	bctx, c := openURL(t, exe, url, "table.periods")
	got, err := chromedp.Run(bctx, chromedp.Evaluate[indexData](readIndex))
	if err != nil {
		t.Fatalf("read the index: %v", err)
	}
	if errs := c.errors(); len(errs) > 0 {
		t.Errorf("%s: console errors %q", url, errs)
	}
	if got.Scripts != 0 || got.Title == "pwned" || got.HeaderNoWrap != "nowrap" {
		t.Errorf("%s: %d scripts, title %q, header white-space %q", url, got.Scripts, got.Title, got.HeaderNoWrap)
	}
	return bctx, got
}

// checkTrends checks the index's trend charts against the views of the
// periods they chart: one chart per currency, one row per co-op labelled
// with its name (or short DID), one bar per period with the co-op's net
// (0 without a figure), drawn with a height exactly when the net is not 0.
func checkTrends(t *testing.T, got indexData, views ...settlement.View) {
	t.Helper()
	type key struct{ currency, did, period string }
	want := map[key]string{}
	labels := map[string]string{}
	dids := map[string]map[string]bool{}
	for _, v := range views {
		for _, f := range v.Report.Figures {
			if dids[f.Currency] == nil {
				dids[f.Currency] = map[string]bool{}
			}
			dids[f.Currency][string(f.DID)] = true
			c, _ := v.Report.Totals(f.Currency)
			want[key{f.Currency, string(f.DID), strconv.FormatUint(v.Report.Period, 10)}] = money.FromUnits(f.Net, c.Currency).String()
			labels[string(f.DID)] = v.Names[f.DID]
			if labels[string(f.DID)] == "" {
				labels[string(f.DID)] = f.DID.Short()
			}
		}
	}
	if len(got.Charts) != len(dids) {
		t.Fatalf("%d trend charts, want one per currency (%d)", len(got.Charts), len(dids))
	}
	for _, ch := range got.Charts {
		if ch.Width <= 0 || ch.Height <= 0 {
			t.Errorf("%s chart drawn %vx%v", ch.Currency, ch.Width, ch.Height)
		}
		if len(ch.Rows) != len(dids[ch.Currency]) {
			t.Errorf("%s chart: %d rows, want %d co-ops", ch.Currency, len(ch.Rows), len(dids[ch.Currency]))
		}
		for _, r := range ch.Rows {
			cut, truncated := strings.CutSuffix(r.Label, "…")
			if r.Label != labels[r.DID] && !(truncated && strings.HasPrefix(labels[r.DID], cut)) {
				t.Errorf("%s chart: row %s labelled %q, want %q", ch.Currency, r.DID, r.Label, labels[r.DID])
			}
			if len(r.Bars) != len(views) {
				t.Errorf("%s chart: row %s has %d bars, want %d", ch.Currency, r.DID, len(r.Bars), len(views))
			}
			for _, b := range r.Bars {
				w, ok := want[key{ch.Currency, r.DID, b.Period}]
				if !ok {
					w = money.FromUnits(0, curs[ch.Currency]).String() // no figure: no transfers in that period
				}
				if b.Value != w {
					t.Errorf("%s chart: %s in period %s: %s, want %s", ch.Currency, r.DID, b.Period, b.Value, w)
				}
				if zero := strings.Trim(strings.TrimPrefix(w, "-"), "0.") == ""; zero != (b.Height == 0) {
					t.Errorf("%s chart: %s in period %s: net %s drawn %v high", ch.Currency, r.DID, b.Period, w, b.Height)
				}
			}
		}
	}
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

// TestBrowserIndexPage opens the index of periods in headless Chromium: no
// console error, no script, styled; each period's counts and downloads; the
// trend charts of net positions agree with the periods' views.
func TestBrowserIndexPage(t *testing.T) {
	t.Parallel()
	exe := browserPath(t)
	src := newSource(t)
	hs := httptest.NewServer(ui.Handler(src, clock))
	t.Cleanup(hs.Close)

	bctx, got := openIndex(t, exe, hs.URL+"/ui/settlement/")
	if len(got.Periods) != 3 || got.Periods[0].Period != "3" || got.Periods[2].Period != "1" {
		t.Fatalf("periods %+v", got.Periods)
	}
	v1 := src.views[1]
	s1 := v1.Summary()
	p1 := got.Periods[2]
	for f, w := range map[string]int{"instructions": s1.Instructions, "paid": s1.Paid, "confirmed": s1.Confirmed, "overdue": s1.Overdue, "transfers": s1.Transfers} {
		if p1.Fields[f] != strconv.Itoa(w) {
			t.Errorf("period 1 %s: %q, want %d", f, p1.Fields[f], w)
		}
	}
	if !slices.Equal(p1.Links, []string{"1/report.json", "1/figures.csv", "1/instructions.csv"}) || len(got.Periods[0].Links) != 0 {
		t.Errorf("downloads: period 1 %v, period 3 %v", p1.Links, got.Periods[0].Links)
	}
	for _, l := range p1.Links {
		httpGet(t, hs.URL+"/ui/settlement/"+l)
	}
	checkTrends(t, got, src.views[2], v1)

	dir := os.Getenv("ICN_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	shot := filepath.Join(dir, "settlement-index.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}
