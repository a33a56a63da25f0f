package wallet_test

// The harness of the browser tests: a real co-op node (coopnode.Open, real
// ledger in t.TempDir()) behind a test front that can lose a payment's
// answer and drop one event from a feed, and headless Chromium (Debian's
// chromium; `make browser-deps`) driven through chromedp, with one isolated
// browser context (its own IndexedDB) per member.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

const coopID = "riverside"

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

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is a co-op node and the test front the browser talks to.
type env struct {
	t      *testing.T
	node   *coopnode.Node
	admin  *identity.Key
	front  *httptest.Server // the browser's origin: the node's gateway behind the front
	inner  *httptest.Server // the gateway as it is (the event proxy dials it)
	cl     *client.Client   // on inner
	adminS *client.Session

	loseNext atomic.Bool // the next payment's answer is lost (connection closed after the node answered)
	mu       sync.Mutex
	posts    map[string]int // payment POSTs received, by intent id
	lost     []string       // ids whose answer was lost
	drop     struct {
		did identity.DID
		seq uint64
	} // the event to drop from did's feed, once
	dropped []uint64
	feeds   []feedConn // every event stream through the front
}

type feedConn struct {
	DID   identity.DID
	Since uint64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, admin: newKey(t), posts: map[string]int{}}
	cfg := coopnode.Config{CoopID: coopID, DataDir: t.TempDir(), Admin: string(e.admin.DID()), AdminName: "Admin",
		Gateway:          coopnode.GatewayConfig{Listen: "127.0.0.1:0", RateLimits: gateway.RateLimits{PerIP: 1e6, PerDID: 1e6}},
		GovernancePolicy: testPolicy()}
	n, err := coopnode.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	e.node = n
	e.inner = httptest.NewServer(n.Gateway)
	t.Cleanup(e.inner.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/", e.proxyFeed)
	mux.HandleFunc("POST /ledger/{coop}/payment", e.payment)
	mux.Handle("/wallet-test/", jsTests(e))
	mux.Handle("/", n.Gateway)
	e.front = httptest.NewServer(mux)
	t.Cleanup(e.front.Close)
	e.cl = client.New(e.inner.URL)
	e.adminS = e.login(e.admin)
	return e
}

// testPolicy opens every proposal straight into an hour of voting, so a
// test votes at once.
func testPolicy() governance.Policy {
	p := governance.Policy{}
	for _, k := range governance.Kinds {
		p[k] = governance.Rule{Threshold: governance.Majority, Quorum: governance.Fraction{Num: 1, Den: 3}, Voting: time.Hour}
	}
	return p
}

func (e *env) login(k *identity.Key) *client.Session {
	e.t.Helper()
	s, err := e.cl.Login(context.Background(), k, coopID)
	if err != nil {
		e.t.Fatalf("login %s: %v", k.DID().Short(), err)
	}
	return s
}

// join makes k a member named name through the API.
func (e *env) join(k *identity.Key, name string) {
	e.t.Helper()
	ctx := context.Background()
	code, err := e.adminS.CreateInvite(ctx, coopID)
	if err != nil {
		e.t.Fatal(err)
	}
	app, err := e.login(k).Apply(ctx, coopID, k, client.Application{InviteCode: code, Name: name, Email: "m@example.org"})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.adminS.Approve(ctx, coopID, app.ID); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) balance(did identity.DID) string {
	e.t.Helper()
	b, err := e.adminS.Balance(context.Background(), coopID, did, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return b.Balance
}

// history returns did's payments, newest first, as "id amount status".
func (e *env) history(did identity.DID) []client.HistoryEntry {
	e.t.Helper()
	h, err := e.adminS.History(context.Background(), coopID, did, 200, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return h.Entries
}

// payment counts each payment POST by its intent id and, when loseNext is
// set, lets the node decide it but closes the connection instead of
// answering: the browser sees a network error after the node committed.
func (e *env) payment(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	id := intentID(body)
	e.mu.Lock()
	e.posts[id]++
	e.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !e.loseNext.CompareAndSwap(true, false) {
		e.node.Gateway.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	e.node.Gateway.ServeHTTP(rec, r)
	e.mu.Lock()
	e.lost = append(e.lost, id+" "+strconv.Itoa(rec.Code))
	e.mu.Unlock()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func intentID(body []byte) string {
	var req struct{ Intent string }
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	raw, err := identity.DecodeB64(req.Intent)
	if err != nil {
		return ""
	}
	var in struct{ ID string }
	json.Unmarshal(raw, &in)
	return in.ID
}

func (e *env) postsOf(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.posts[id]
}

// dropOnce makes the front drop the event seq from did's feed, once.
func (e *env) dropOnce(did identity.DID, seq uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drop.did, e.drop.seq = did, seq
}

func (e *env) feedConns() []feedConn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.feeds)
}

// proxyFeed relays an event stream from the node to the browser, frame by
// frame, dropping the one event dropOnce names.
func (e *env) proxyFeed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	did := tokenSubject(q.Get("token"))
	since, _ := strconv.ParseUint(q.Get("since"), 10, 64)
	e.mu.Lock()
	e.feeds = append(e.feeds, feedConn{did, since})
	e.mu.Unlock()
	up, resp, err := websocket.Dial(r.Context(), "ws"+strings.TrimPrefix(e.inner.URL, "http")+r.URL.RequestURI(), nil)
	if err != nil {
		status := http.StatusBadGateway
		if resp != nil {
			status = resp.StatusCode
		}
		http.Error(w, "upstream refused the event stream", status)
		return
	}
	defer up.CloseNow()
	down, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer down.CloseNow()
	ctx := down.CloseRead(r.Context())
	for {
		typ, data, err := up.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				down.Close(ce.Code, ce.Reason)
			}
			return
		}
		var ev struct{ Seq uint64 }
		json.Unmarshal(data, &ev)
		e.mu.Lock()
		drop := e.drop.seq != 0 && e.drop.did == did && e.drop.seq == ev.Seq
		if drop {
			e.drop.seq = 0
			e.dropped = append(e.dropped, ev.Seq)
		}
		e.mu.Unlock()
		if drop {
			continue
		}
		if err := down.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// tokenSubject reads a JWT's sub without checking it (the node does).
func tokenSubject(tok string) identity.DID {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := identity.DecodeB64(parts[1])
	if err != nil {
		return ""
	}
	var c struct{ Sub string }
	json.Unmarshal(b, &c)
	return identity.DID(c.Sub)
}

// ---------------------------------------------------------------- the browser

// browser is one headless Chromium process; each tab opens in its own
// browser context, so each member has their own storage.
type browser struct {
	t    *testing.T
	root context.Context // the first tab's context, which started the browser
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := browserPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1100, 1400),
		// wallet.test is this machine under a name that is not a secure
		// context (only localhost and 127.0.0.1 are, over plain HTTP).
		chromedp.Flag("host-resolver-rules", "MAP wallet.test 127.0.0.1"))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	root, rcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(rcancel)
	if err := chromedp.Do(root, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, root: root}
}

// tab is one member's page.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// open opens url in a new isolated browser context and waits for sel.
func (b *browser) open(name, url, sel string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	tb := &tab{t: b.t, name: name, ctx: ctx}
	if err := chromedp.Listen(ctx, tb.watch); err != nil {
		b.t.Fatalf("%s: watch the console: %v", name, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return tb
}

// watch collects what the page reports as an error: console.error,
// uncaught exceptions, and error log entries (a CSP violation, a resource
// that failed to load).
func (tb *tab) watch(ev any) {
	var s string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			s = "console." + string(e.Type) + ": " + strings.Join(args, " ")
		}
	case *runtime.EventExceptionThrown:
		s = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			s += " " + e.ExceptionDetails.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError && !strings.HasSuffix(e.Entry.URL, "/favicon.ico") {
			s = string(e.Entry.Source) + ": " + e.Entry.Text + " " + e.Entry.URL
		}
	}
	if s != "" {
		tb.mu.Lock()
		tb.errs = append(tb.errs, s)
		tb.mu.Unlock()
	}
}

// errors returns the errors the page reported, but the network's (a fetch
// that got no answer while the test had cut the network).
func (tb *tab) errors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, s := range tb.errs {
		if !strings.HasPrefix(s, "network: ") {
			out = append(out, s)
		}
	}
	return out
}

// eval evaluates expr in the page and decodes its value into T.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %s: %v", tb.name, expr, err)
	}
	return v
}

// waitJS evaluates expr every 20 ms until it is truthy (bounded by d), and
// returns its last value as JSON. (chromedp.Poll builds its predicate with
// new Function, which the wallet's CSP forbids.)
func (tb *tab) waitJS(what, expr string, d time.Duration) []byte {
	tb.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]byte](expr))
		if err != nil {
			tb.t.Fatalf("%s: evaluate %s: %v", tb.name, expr, err)
		}
		switch s := string(v); s {
		case "", "null", "false", "0", `""`:
		default:
			return v
		}
		if time.Now().After(deadline) {
			tb.shot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			tb.t.Fatalf("%s: timed out after %v waiting for %s (%s); page errors %q; last: %s", tb.name, d, what, expr, tb.errors(), tb.text("#error"))
		}
		<-tick.C
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

// fill sets an input's value as a member would type it.
func (tb *tab) fill(sel, v string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	eval[chromedp.Void](tb, fmt.Sprintf(`document.querySelector(%q).value = ""`, sel))
	tb.do(chromedp.SendKeys(chromedp.CSS(sel), v))
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// offline cuts this tab's network (every request fails, navigator.onLine
// is false, the offline event fires) or restores it.
func (tb *tab) offline(cut bool) {
	tb.t.Helper()
	conds := []*network.Conditions{}
	if cut {
		conds = []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}}
	}
	if _, err := chromedp.Call(tb.ctx, network.Enable, network.EnableParams{}); err != nil {
		tb.t.Fatal(err)
	}
	if _, err := chromedp.Call(tb.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: conds}); err != nil {
		tb.t.Fatal(err)
	}
	if _, err := chromedp.Call(tb.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: cut, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		tb.t.Fatal(err)
	}
}

// artifacts is ICN_ARTIFACTS, or a temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("ICN_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves a full-page screenshot as wallet-<name>.png in the artefacts.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		tb.t.Errorf("%s: screenshot %s: %d bytes, %v", tb.name, name, len(png), err)
		return
	}
	p := filepath.Join(artifacts(tb.t), "wallet-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.t.Error(err)
		return
	}
	tb.t.Logf("screenshot: %s (%d bytes)", p, len(png))
}
