package wallet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/wallet"
	"github.com/icn-coop/icn/identity"
)

const wait = 15 * time.Second

// hostile is a member name that would run script if a page wrote it as HTML.
const hostile = `<img src=x onerror="document.title='pwned'">Eve`

// TestBrowserWallet drives the wallet page in Chromium as members would.
//
// Ann creates a key in the page (its key file is a valid Go key file),
// applies with an invite code, a moderator approves through the API, she
// logs in and sees her balance and credit. Bob imports a key file made by
// icn keygen's code. Ann pays Bob from the member picker: both balances
// change, and Bob's open page shows the event and his new balance without a
// reload. Bob shows a payment request as a QR code; Ann pastes it and pays.
// With Ann's network cut (DevTools offline emulation) a payment is queued,
// shown as queued, reaches the node only once the network is back, and
// commits once. A payment whose answer is lost (the node commits, the
// connection is cut before the answer) is sent again with its id and is
// paid once. An event dropped from Bob's stream (a gap in seq) makes his page
// reconnect with since and backfill it. Ann adds a device and revokes it.
// History pages. Neither page reports an error, a CSP violation, or runs a
// hostile member name as HTML.
func TestBrowserWallet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bob, eve := newKey(t), newKey(t)
	e.join(bob, "Bob")
	e.join(eve, hostile)
	b := newBrowser(t)
	ctx := context.Background()

	// Ann: a new key, made and kept in the browser.
	ann := b.open("ann", e.front.URL+"/wallet/", "body")
	ann.waitJS("the welcome", `document.body.dataset.state === "welcome"`, wait)
	ann.shot("1-welcome")
	ann.click("#create")
	ann.waitJS("the backup step", `document.body.dataset.state === "backup"`, wait)
	keyFile := eval[string](ann, `document.getElementById("backup-text").value`)
	annKey, err := identity.UnmarshalKey([]byte(keyFile))
	if err != nil {
		t.Fatalf("the page's key file is not a key file: %v\n%s", err, keyFile)
	}
	annDID := annKey.DID()
	if href := eval[string](ann, `document.getElementById("backup-download").href`); !strings.HasPrefix(href, "blob:") {
		t.Errorf("backup download link %q, want a blob: URL", href)
	}
	stored := eval[map[string]any](ann, `(async () => {
	  const db = await new Promise((res, rej) => { const r = indexedDB.open("icn-wallet"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
	  const rec = await new Promise((res) => { const r = db.transaction("keys").objectStore("keys").get("default"); r.onsuccess = () => res(r.result); });
	  let exported = "refused";
	  try { await crypto.subtle.exportKey("jwk", rec.privateKey); exported = "exported"; } catch (e) {}
	  return {did: rec.did, cryptoKey: rec.privateKey instanceof CryptoKey, extractable: rec.privateKey.extractable, exported, fields: Object.keys(rec).sort().join(",")};
	})()`)
	if stored["did"] != string(annDID) || stored["cryptoKey"] != true || stored["extractable"] != false || stored["exported"] != "refused" || stored["fields"] != "created_at,device,did,name,privateKey,publicKey" {
		t.Errorf("IndexedDB holds %v; want Ann's DID with a non-extractable CryptoKey, and no seed or key file", stored)
	}
	ann.shot("2-backup")
	ann.click("#backup-done")
	ann.waitJS("the join form", `document.body.dataset.state === "join"`, wait)
	if got := eval[string](ann, `document.getElementById("backup-text").value`); got != "" {
		t.Error("the key file stays on the page after the backup step")
	}

	// Ann applies with an invite; a moderator approves through the API.
	code, err := e.adminS.CreateInvite(ctx, coopID)
	if err != nil {
		t.Fatal(err)
	}
	ann.fill("#apply-code", code)
	ann.fill("#apply-name", "Ann")
	ann.fill("#apply-email", "ann@example.org")
	ann.click("#apply-submit")
	appID := strings.Trim(string(ann.waitJS("the application id", `document.getElementById("application").dataset.id`, wait)), `"`)
	ann.shot("3-applied")
	if _, err := e.adminS.Approve(ctx, coopID, appID); err != nil {
		t.Fatalf("approve %s: %v", appID, err)
	}
	ann.click("#relogin")
	ann.waitJS("Ann a member", `document.body.dataset.state === "member"`, wait)
	ann.waitJS("Ann's balance", `document.getElementById("balance").dataset.value === "0.00"`, wait)
	if got := eval[map[string]string](ann, `({available: document.getElementById("available").dataset.value, limit: document.getElementById("credit-limit").dataset.value})`); got["available"] != "100.00" || got["limit"] != "100.00" {
		t.Errorf("Ann's available and credit limit %v, want 100.00 each", got)
	}

	// Bob imports a key file made by the Go side (as icn keygen writes it).
	bobTab := b.open("bob", e.front.URL+"/wallet/", "body")
	bobTab.waitJS("Bob's welcome", `document.body.dataset.state === "welcome"`, wait)
	bobTab.click("#welcome summary")
	bobTab.do(chromedp.SetValue(chromedp.CSS("#import-text"), string(identity.MarshalKey(bob))))
	bobTab.click("#import")
	bobTab.waitJS("Bob a member", `document.body.dataset.state === "member"`, wait)
	bobTab.waitJS("Bob live", `document.getElementById("sub").dataset.state === "open"`, wait)
	eval[int](bobTab, `window.notReloaded = 1`)

	// The picker lists the directory; the hostile name is text.
	ann.waitJS("the directory", `document.getElementById("pay-to").dataset.members === "3"`, wait)
	opts := eval[[]string](ann, `[...document.querySelectorAll("#pay-to option")].map(o => o.value + " " + o.textContent)`)
	if !slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, string(eve.DID())+" "+hostile) }) {
		t.Errorf("picker options %q: want Eve's name shown as text", opts)
	}

	// Ann pays Bob 2.50.
	pay := func(to identity.DID, amount, memo string) {
		t.Helper()
		ann.do(chromedp.SetValue(chromedp.CSS("#pay-to"), string(to)))
		ann.fill("#pay-amount", amount)
		ann.fill("#pay-memo", memo)
		ann.click("#pay-submit")
	}
	pay(bob.DID(), "2.50", "bread")
	id1 := strings.Trim(string(ann.waitJS("the payment's outcome", `document.getElementById("pay-result").dataset.status === "committed" && document.getElementById("pay-result").dataset.id`, wait)), `"`)
	ann.waitJS("Ann's new balance", `document.getElementById("balance").dataset.value === "-2.50"`, wait)
	ann.waitJS("the payment in Ann's history", fmt.Sprintf(`document.querySelector('#history tr[data-id=%q][data-status="committed"]')`, id1), wait)
	if a, bb := e.balance(annDID), e.balance(bob.DID()); a != "-2.50" || bb != "2.50" {
		t.Errorf("balances on the node: Ann %s, Bob %s; want -2.50 and 2.50", a, bb)
	}
	// Bob's page, open all along, shows it live.
	bobTab.waitJS("the event on Bob's page", fmt.Sprintf(`document.querySelector('#events li[data-type="Payment"][data-id=%q]')`, id1), wait)
	bobTab.waitJS("Bob's new balance", `document.getElementById("balance").dataset.value === "2.50"`, wait)
	if eval[int](bobTab, `window.notReloaded || 0`) != 1 {
		t.Error("Bob's page was reloaded")
	}
	ann.shot("4-paid")
	bobTab.shot("5-received-live")

	// Bob shows a payment request as a QR code; Ann pastes it and pays.
	bobTab.fill("#request-amount", "1.25")
	bobTab.fill("#request-memo", "coffee")
	bobTab.click("#request-submit")
	req := strings.Trim(string(bobTab.waitJS("the QR code", `document.getElementById("request-img").complete && document.getElementById("request-img").naturalWidth > 0 && document.getElementById("request-qr").dataset.request`, wait)), `"`)
	req, _ = strconv.Unquote(`"` + req + `"`)
	if !strings.HasPrefix(req, "icn:pay?to="+strings.ReplaceAll(string(bob.DID()), ":", "%3A")) || !strings.Contains(req, "amount=1.25") {
		t.Errorf("payment request %q", req)
	}
	qr, err := wallet.QR(req)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(qr))
	if err != nil {
		t.Fatal(err)
	}
	if w := eval[int](bobTab, `document.getElementById("request-img").naturalWidth`); w != img.Bounds().Dx() {
		t.Errorf("the page's QR image is %d px wide; the QR of its request %d", w, img.Bounds().Dx())
	}
	bobTab.shot("6-request-qr")
	ann.fill("#pay-request", req)
	ann.waitJS("the request read", `document.getElementById("pay-request-info").dataset.valid === "true"`, wait)
	if info := ann.text("#pay-request-info"); !strings.Contains(info, "Bob") || !strings.Contains(info, "1.25") {
		t.Errorf("request shown as %q", info)
	}
	ann.click("#pay-submit")
	ann.waitJS("the request paid", `document.getElementById("pay-result").dataset.status === "committed" && document.getElementById("pay-result").dataset.id !== `+strconv.Quote(id1), wait)
	bobTab.waitJS("Bob's balance after the request", `document.getElementById("balance").dataset.value === "3.75"`, wait)

	// Offline: the payment is queued, and paid once the network is back.
	ann.offline(true)
	ann.waitJS("Ann offline", `document.getElementById("net").dataset.state === "offline"`, wait)
	pay(bob.DID(), "1.00", "made offline")
	offID := strings.Trim(string(ann.waitJS("a queued payment", `(document.querySelector('#outbox li[data-status="queued"]') || {dataset: {}}).dataset.id`, wait)), `"`)
	ann.shot("7-queued-offline")
	if n := e.postsOf(offID); n != 0 {
		t.Errorf("the node got the offline payment %d times while the network was cut", n)
	}
	if got := e.balance(bob.DID()); got != "3.75" {
		t.Errorf("Bob's balance while Ann is offline: %s", got)
	}
	ann.offline(false)
	ann.waitJS("the queued payment committed", fmt.Sprintf(`document.getElementById("pay-result").dataset.id === %q && document.getElementById("pay-result").dataset.status === "committed" && document.getElementById("outbox").dataset.count === "0"`, offID), wait)
	bobTab.waitJS("Bob's balance after the offline payment", `document.getElementById("balance").dataset.value === "4.75"`, wait)
	if n := count(e.history(bob.DID()), offID); n != 1 || e.postsOf(offID) < 1 {
		t.Errorf("offline payment %s: %d times in Bob's history, sent %d times", offID, n, e.postsOf(offID))
	}

	// A lost answer: the node commits, the connection dies before the
	// answer; the page keeps it queued and sends the same bytes again.
	e.loseNext.Store(true)
	pay(bob.DID(), "0.50", "answer lost")
	lostID := strings.Trim(string(ann.waitJS("the resent payment committed", `document.getElementById("pay-result").dataset.status === "committed" && document.getElementById("outbox").dataset.count === "0" && document.getElementById("pay-result").dataset.id !== `+strconv.Quote(offID)+` && document.getElementById("pay-result").dataset.id`, wait)), `"`)
	if e.postsOf(lostID) != 2 {
		t.Errorf("payment %s sent %d times, want twice (the lost answer, then the resend)", lostID, e.postsOf(lostID))
	}
	if n := count(e.history(bob.DID()), lostID); n != 1 {
		t.Errorf("payment %s is %d times in Bob's history", lostID, n)
	}
	bobTab.waitJS("Bob's balance after the resend", `document.getElementById("balance").dataset.value === "5.25"`, wait)
	if a := e.balance(annDID); a != "-5.25" {
		t.Errorf("Ann's balance %s, want -5.25: each payment once", a)
	}

	// A gap: the front drops one event from Bob's stream; the next one
	// shows the gap, and the page backfills from since.
	last, _ := strconv.ParseUint(strings.Trim(string(bobTab.waitJS("Bob's last seq", `document.getElementById("sub").dataset.state === "open" && document.getElementById("sub").dataset.lastSeq`, wait)), `"`), 10, 64)
	before := len(e.feedConns())
	e.dropOnce(bob.DID(), last+1)
	for _, amt := range []string{"0.10", "0.20"} {
		if _, err := e.adminS.Pay(ctx, clientIntent(bob.DID(), amt, "gap "+amt), e.admin); err != nil {
			t.Fatal(err)
		}
	}
	bobTab.waitJS("the backfilled events", fmt.Sprintf(`document.querySelector('#events li[data-seq="%d"]') && document.querySelector('#events li[data-seq="%d"]') && document.getElementById("sub").dataset.gaps === "1"`, last+1, last+2), wait)
	seqs := eval[[]string](bobTab, `[...document.querySelectorAll("#events li")].map(li => li.dataset.seq)`)
	for _, s := range []uint64{last + 1, last + 2} {
		if n := count2(seqs, strconv.FormatUint(s, 10)); n != 1 {
			t.Errorf("event %d shown %d times on Bob's page", s, n)
		}
	}
	conns := e.feedConns()[before:]
	if !slices.Contains(conns, feedConn{bob.DID(), last}) {
		t.Errorf("after the gap Bob's page opened %v; want one since=%d", conns, last)
	}
	if e.dropped[0] != last+1 {
		t.Errorf("dropped %v", e.dropped)
	}
	bobTab.waitJS("Bob's balance after the gap", `document.getElementById("balance").dataset.value === "5.55"`, wait)
	bobTab.shot("8-gap-backfilled")

	// Devices: Ann adds one (its key made by the Go side), which can log in,
	// then revokes it.
	phone := newKey(t)
	ann.waitJS("Ann's primary device", `document.querySelector('#devices tr[data-device="primary"][data-status="active"]')`, wait)
	ann.click("#devices-section summary")
	ann.fill("#device-id", "phone")
	ann.fill("#device-name", "Ann's phone")
	ann.fill("#device-key", identity.B64(phone.Public()))
	ann.click("#device-submit")
	ann.waitJS("the new device", `document.querySelector('#devices tr[data-device="phone"][data-status="active"] button[data-revoke="phone"]')`, wait)
	if st := deviceLogin(t, e, annDID, phone); st != http.StatusOK {
		t.Errorf("login with Ann's new device: %d", st)
	}
	ann.shot("9-devices")
	ann.click(`button[data-revoke="phone"]`)
	ann.waitJS("the device revoked", `document.querySelector('#devices tr[data-device="phone"][data-status="revoked"]')`, wait)
	if st := deviceLogin(t, e, annDID, phone); st != http.StatusUnauthorized {
		t.Errorf("login with Ann's revoked device: %d, want 401", st)
	}

	// History pages: 8 more payments to Ann make 12 rows, 10 a page.
	for i := range 8 {
		if _, err := e.adminS.Pay(ctx, clientIntent(annDID, "0.01", fmt.Sprintf("page %d", i)), e.admin); err != nil {
			t.Fatal(err)
		}
	}
	ann.waitJS("Ann's balance after 8 payments", `document.getElementById("balance").dataset.value === "-5.17"`, wait)
	ann.waitJS("a first page of 10", `document.getElementById("history").dataset.rows === "10" && !document.getElementById("history-more").hidden`, wait)
	ann.click("#history-more")
	ann.waitJS("the second page", `document.getElementById("history").dataset.rows === "12" && document.getElementById("history-more").hidden`, wait)
	ids := eval[[]string](ann, `[...document.querySelectorAll("#history tbody tr")].map(tr => tr.dataset.id)`)
	var want []string
	for _, h := range e.history(annDID) {
		want = append(want, h.ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("Ann's history on the page %v\n  on the node %v", ids, want)
	}
	ann.shot("10-history")

	// Over plain HTTP to a name other than localhost the browser gives the
	// page no WebCrypto: it says to use HTTPS, and does nothing else.
	insecure := b.open("insecure", strings.Replace(e.front.URL, "127.0.0.1", "wallet.test", 1)+"/wallet/", "body")
	insecure.waitJS("the insecure page", `document.body.dataset.state === "unsupported"`, wait)
	if why := insecure.text("#unsupported-why"); !strings.Contains(why, "HTTPS") {
		t.Errorf("insecure context explained as %q", why)
	}

	// The pages stayed clean: no errors but the network's while it was cut,
	// no inline script, the hostile name never ran.
	for _, tb := range []*tab{ann, bobTab} {
		if errs := tb.errors(); len(errs) > 0 {
			t.Errorf("%s's page reported %q", tb.name, errs)
		}
		if got := eval[map[string]any](tb, `({title: document.title, inline: [...document.scripts].filter(s => !s.src).length, imgs: [...document.images].filter(i => i.id !== "request-img").length})`); got["title"] == "pwned" || got["inline"] != 0.0 || got["imgs"] != 0.0 {
			t.Errorf("%s's page: %v", tb.name, got)
		}
	}
}

func count(h []clientEntry, id string) int {
	n := 0
	for _, e := range h {
		if e.ID == id {
			n++
		}
	}
	return n
}

func count2(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// deviceLogin logs did in with a device key (not the DID's own) and returns
// the status of /auth/verify.
func deviceLogin(t *testing.T, e *env, did identity.DID, k *identity.Key) int {
	t.Helper()
	post := func(path string, body any) (*http.Response, []byte) {
		b, _ := json.Marshal(body)
		resp, err := http.Post(e.inner.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp, buf.Bytes()
	}
	_, body := post("/auth/challenge", map[string]string{"did": string(did)})
	var ch struct{ Nonce string }
	if err := json.Unmarshal(body, &ch); err != nil {
		t.Fatal(err)
	}
	nonce, _ := identity.DecodeB64(ch.Nonce)
	sig := k.Sign(identity.TagAuthChallenge, identity.AuthChallengePayload(coopID, nonce))
	resp, _ := post("/auth/verify", map[string]string{"did": string(did), "nonce": ch.Nonce, "signature": identity.B64(sig), "coop_id": coopID})
	return resp.StatusCode
}

type clientEntry = client.HistoryEntry

// clientIntent is a payment of amount to to in this co-op; Pay fills the rest.
func clientIntent(to identity.DID, amount, memo string) client.PaymentIntent {
	return client.PaymentIntent{To: to, Amount: amount, Memo: memo}
}
