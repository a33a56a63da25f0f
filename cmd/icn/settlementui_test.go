package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// syncBuffer is an output a running command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var uiLink = regexp.MustCompile(`http://(127\.0\.0\.1:\d+)(/[A-Za-z0-9_-]+)/ui/settlement/`)

// startUI runs icn with args (settlement ui ...) in this process until the test
// ends, and returns the link it printed, split into its address and its
// secret path prefix.
func startUI(t *testing.T, args ...string) (addr, secret string) {
	t.Helper()
	root := newRootCmd()
	out := &syncBuffer{}
	root.SetOut(out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runErr = root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			t.Errorf("icn settlement ui: %v", runErr)
		}
	})
	testutil.WaitFor(t, 15*time.Second, "icn settlement ui to print its link", func() bool {
		select {
		case <-done:
			t.Fatalf("icn settlement ui ended: %v\n%s", runErr, out.String())
		default:
		}
		return uiLink.MatchString(out.String())
	})
	m := uiLink.FindStringSubmatch(out.String())
	return m[1], m[2]
}

// httpDo sends a GET to addr with path and Host host ("" the address).
func httpDo(t *testing.T, addr, host, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// pageInstruction is one row of a period page's instructions table.
type pageInstruction struct{ index, currency, from, to, status, amount string }

var instructionRow = regexp.MustCompile(`(?s)<tr data-instruction="(\d+)" data-currency="([^"]+)" data-from="([^"]+)" data-to="([^"]+)" data-status="([^"]+)".*?data-field="amount" data-value="([^"]+)".*?</tr>`)

func pageInstructions(t *testing.T, page string) []pageInstruction {
	t.Helper()
	var out []pageInstruction
	for _, m := range instructionRow.FindAllStringSubmatch(page, -1) {
		out = append(out, pageInstruction{m[1], m[2], m[3], m[4], m[5], m[6]})
	}
	if len(out) == 0 {
		t.Fatalf("no instruction rows on the page:\n%s", page)
	}
	return out
}

// TestSettlementNumbering reads one period's instructions on the treasurer
// page, in its instructions.csv download, and in icn settlement show (table,
// csv and json), and finds every instruction under the same number, its
// index in the report; the CSV download and show -o csv are the same bytes.
// Paying "the instruction the page shows as N" with --instruction N marks
// exactly that row paid.
func TestSettlementNumbering(t *testing.T) {
	clearHubEnv(t)
	c := startOpCluster(t)
	dir := t.TempDir()
	l := c.nodes[c.leader(t)]
	a, b, z := genKey(t), genKey(t), genKey(t)
	keys := map[identity.DID]string{a.DID(): writeKey(t, dir, "a.key", a), b.DID(): writeKey(t, dir, "b.key", b)}
	addCoop(t, l, c.fed, a, "Alder Co-op")
	addCoop(t, l, c.fed, b, "Birch Co-op")
	addCoop(t, l, c.fed, z, "Zelkova Co-op")
	pay(t, l, "n1", a.DID(), z.DID(), 500) // a owes 5.00, b owes 3.00: two instructions to z
	pay(t, l, "n2", b.DID(), z.DID(), 300)
	conn := []string{"--hub", strings.Join(c.addrs, ","), "--hub-did", c.hubDIDs()}
	as := func(key string, args ...string) []string {
		return append(append(append([]string{"settlement"}, args...), conn...), "--key", key)
	}
	mustICN(t, as(c.opFile, "close", "--period", "1")...)
	waitUntil(t, "period 1 final", func() bool {
		r, ok, _ := l.FSM().SettlementPeriod(1)
		return ok && len(r.GetSignatures()) >= 2
	})

	addr, secret := startUI(t, as(keys[b.DID()], "ui")...)
	get := func(path string) string {
		t.Helper()
		code, _, body := httpDo(t, addr, "", secret+path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		return body
	}
	rows := pageInstructions(t, get("/ui/settlement/1"))
	if len(rows) != 2 {
		t.Fatalf("%d instruction rows, want 2", len(rows))
	}
	download := get("/ui/settlement/1/instructions.csv")
	cliCSV := mustICN(t, as(keys[b.DID()], "show", "1", "-o", "csv")...)
	if download != cliCSV {
		t.Errorf("instructions.csv and show -o csv differ:\n%s\n%s", download, cliCSV)
	}
	if fig, cli := get("/ui/settlement/1/figures.csv"), mustICN(t, as(keys[b.DID()], "show", "1", "-o", "csv", "--figures")...); fig != cli {
		t.Errorf("figures.csv and show -o csv --figures differ:\n%s\n%s", fig, cli)
	}
	recs := csvRows(t, download)
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	show := decodeJSON(t, mustICN(t, as(keys[b.DID()], "show", "1", "-o", "json")...))
	ins, _ := show["instructions"].([]any)
	table := mustICN(t, as(keys[b.DID()], "show", "1")...)
	for i, row := range rows {
		if row.index != strconv.Itoa(i) {
			t.Errorf("page row %d is numbered %s: want the report index %d", i, row.index, i)
		}
		rec := recs[i+1]
		if rec[col["index"]] != row.index || rec[col["from"]] != row.from || rec[col["to"]] != row.to || rec[col["amount"]] != row.amount {
			t.Errorf("instruction %s: page %v, csv %v", row.index, row, rec)
		}
		j, _ := ins[i].(map[string]any)
		if j["index"] != float64(i) || j["from"] != row.from || j["to"] != row.to || j["amount"] != row.amount {
			t.Errorf("instruction %s: page %v, show -o json %v", row.index, row, j)
		}
		name := map[string]string{string(a.DID()): "Alder Co-op", string(b.DID()): "Birch Co-op"}[row.from]
		if !regexp.MustCompile(`(?m)^` + row.index + `\s+hours\s+` + name + `\s+Zelkova Co-op\s+` + regexp.QuoteMeta(row.amount) + `\s`).MatchString(table) {
			t.Errorf("instruction %s (%s pays %s) is not row %s of the show table:\n%s", row.index, name, row.amount, row.index, table)
		}
	}

	// The payer of the page's instruction 1 pays --instruction 1: that row turns paid.
	payer := keys[identity.DID(rows[1].from)]
	mustICN(t, as(payer, "pay", "--period", "1", "--instruction", rows[1].index)...)
	after := pageInstructions(t, get("/ui/settlement/1"))
	if after[1].status != "paid" || after[0].status != "outstanding" {
		t.Errorf("after paying instruction %s: page statuses %s, %s; want outstanding, paid", rows[1].index, after[0].status, after[1].status)
	}
}

// TestSettlementUIAccess: the pages of icn settlement ui answer only the
// link's secret path on its own address, and only for a key the hub admits;
// the index shows the period's counts, downloads, names and the trend chart.
func TestSettlementUIAccess(t *testing.T) {
	clearHubEnv(t)
	c := startOpCluster(t)
	dir := t.TempDir()
	l := c.nodes[c.leader(t)]
	a, b := genKey(t), genKey(t)
	aFile := writeKey(t, dir, "a.key", a)
	strangerFile := writeKey(t, dir, "stranger.key", genKey(t))
	addCoop(t, l, c.fed, a, "Alder Co-op")
	addCoop(t, l, c.fed, b, "Birch Co-op")
	pay(t, l, "u1", a.DID(), b.DID(), 250)
	conn := []string{"--hub", strings.Join(c.addrs, ","), "--hub-did", c.hubDIDs()}
	as := func(key string, args ...string) []string {
		return append(append(append([]string{"settlement"}, args...), conn...), "--key", key)
	}
	mustICN(t, as(c.opFile, "close")...)

	_, err := runICN(t, as(strangerFile, "ui")...)
	wantContains(t, "unknown key", errString(err), "refused", "PermissionDenied")
	_, err = runICN(t, as(aFile, "ui", "--listen", "0.0.0.0:0")...)
	wantContains(t, "public address", errString(err), "loopback")

	for _, key := range []string{aFile, c.opFile} {
		addr, secret := startUI(t, as(key, "ui")...)
		paths := []string{"/ui/settlement/", "/ui/settlement/1", "/ui/settlement/1/report.json", "/ui/settlement/1/view.json",
			"/ui/settlement/1/figures.csv", "/ui/settlement/1/instructions.csv"}
		for _, p := range paths {
			for _, bad := range []struct{ what, host, path string }{
				{"no secret", "", p},
				{"another secret", "", "/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + p},
				{"a rebound host name", "evil.example:80", secret + p},
			} {
				code, ct, body := httpDo(t, addr, bad.host, bad.path)
				if code != http.StatusForbidden || ct != "application/json" || strings.Contains(body, string(a.DID())) {
					t.Errorf("%s, %s: %d %s %s; want a 403 JSON error without data", bad.what, p, code, ct, body)
				}
				var e struct {
					Error struct{ Code, Message string }
				}
				if json.Unmarshal([]byte(body), &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Errorf("%s, %s: error body %s", bad.what, p, body)
				}
			}
			if code, _, body := httpDo(t, addr, "", secret+p); code != http.StatusOK || !strings.Contains(body, string(a.DID())) {
				t.Errorf("%s with the secret: %d %.200s", p, code, body)
			}
		}
		_, _, index := httpDo(t, addr, "", secret+"/ui/settlement/")
		for _, want := range []string{`<a href="1">Period 1</a>`, `data-field="instructions" data-value="1"`, `data-field="paid" data-value="0"`,
			`href="1/instructions.csv"`, `data-trend="hours"`, `<g data-did="` + string(a.DID()) + `" data-currency="hours">`,
			`data-period="1" data-value="-2.50"`, "Alder Co-op", "test federation"} {
			if !strings.Contains(index, want) {
				t.Errorf("index lacks %s", want)
			}
		}
	}
}
