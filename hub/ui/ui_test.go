package ui_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/icn-coop/icn/hub/ui"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	srv := httptest.NewServer(ui.Handler(src, clock))
	t.Cleanup(srv.Close)

	const (
		html = "text/html; charset=utf-8"
		js   = "application/json"
		csvT = "text/csv; charset=utf-8; header=present"
	)
	for _, tc := range []struct {
		method, path string
		status       int
		ctype        string
		code         string // error code for JSON errors
		file         string // attachment file name
	}{
		{"GET", "/ui/settlement/", 200, html, "", ""},
		{"HEAD", "/ui/settlement/", 200, html, "", ""},
		{"GET", "/ui/settlement/1", 200, html, "", ""},
		{"HEAD", "/ui/settlement/1", 200, html, "", ""},
		{"GET", "/ui/settlement/2", 200, html, "", ""},
		{"GET", "/ui/settlement/1/report.json", 200, js, "", "icn-settlement-1-report.json"},
		{"GET", "/ui/settlement/1/view.json", 200, js, "", "icn-settlement-1-view.json"},
		{"GET", "/ui/settlement/1/figures.csv", 200, csvT, "", "icn-settlement-1-figures.csv"},
		{"HEAD", "/ui/settlement/1/figures.csv", 200, csvT, "", "icn-settlement-1-figures.csv"},
		{"GET", "/ui/settlement/1/instructions.csv", 200, csvT, "", "icn-settlement-1-instructions.csv"},
		{"GET", "/ui/settlement/2/instructions.csv", 200, csvT, "", "icn-settlement-2-instructions.csv"},
		{"GET", "/ui/settlement/3", 404, js, "not_found", ""}, // open: no view yet
		{"GET", "/ui/settlement/42", 404, js, "not_found", ""},
		{"GET", "/ui/settlement/42/report.json", 404, js, "not_found", ""},
		{"GET", "/ui/settlement/1/secrets.txt", 404, js, "not_found", ""},
		{"GET", "/ui/settlement/1/figures.csv/x", 404, js, "not_found", ""},
		{"GET", "/ui/other", 404, js, "not_found", ""},
		{"GET", "/ui/settlement/1/", 404, js, "not_found", ""},
		{"GET", "/ui/settlement/abc", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/0", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/007", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/-1", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/+1", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/18446744073709551616", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/x/view.json", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/x/nope", 400, js, "bad_period", ""},
		{"GET", "/ui/settlement/99", 500, js, "internal", ""},
		{"GET", "/ui/settlement/97", 403, js, "forbidden", ""},
		{"GET", "/ui/settlement/97/view.json", 403, js, "forbidden", ""},
		{"GET", "/ui/settlement/98", 503, js, "unavailable", ""},
		{"POST", "/ui/settlement/1", 405, js, "method_not_allowed", ""},
		{"PUT", "/ui/settlement/1/report.json", 405, js, "method_not_allowed", ""},
		{"DELETE", "/ui/settlement/", 405, js, "method_not_allowed", ""},
		{"OPTIONS", "/ui/settlement/42", 405, js, "method_not_allowed", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); csp != settlement.ContentSecurityPolicy() || !strings.HasPrefix(csp, "default-src 'none';") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if tc.method == "HEAD" {
				if len(body) != 0 {
					t.Errorf("HEAD with a %d-byte body", len(body))
				}
				if n, err := strconv.Atoi(resp.Header.Get("Content-Length")); err != nil || n == 0 {
					t.Errorf("HEAD Content-Length %q", resp.Header.Get("Content-Length"))
				}
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			cd := resp.Header.Get("Content-Disposition")
			if tc.file == "" && cd != "" {
				t.Errorf("Content-Disposition %q on a page", cd)
			}
			if tc.file != "" {
				typ, params, err := mime.ParseMediaType(cd)
				if err != nil || typ != "attachment" || params["filename"] != tc.file {
					t.Errorf("Content-Disposition %q, want attachment %s", cd, tc.file)
				}
			}
			if tc.code != "" {
				checkError(t, body, tc.code)
			}
		})
	}
}

// checkError checks body is exactly {"error":{"code":code,"message":"…"}}.
func checkError(t *testing.T, body []byte, code string) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Fatalf("error body %s: want exactly {\"error\": …}", body)
	}
	var inner map[string]string
	if err := json.Unmarshal(top["error"], &inner); err != nil || len(inner) != 2 || inner["message"] == "" {
		t.Fatalf("error object %s: want exactly code and message", top["error"])
	}
	if inner["code"] != code {
		t.Errorf("error code %q, want %q", inner["code"], code)
	}
	if strings.Contains(inner["message"], "disk") {
		t.Errorf("internal detail leaked: %q", inner["message"])
	}
}

func get(t *testing.T, srv *httptest.Server, path string) []byte {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

func TestDownloadsMatchReport(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	srv := httptest.NewServer(ui.Handler(src, clock))
	t.Cleanup(srv.Close)
	v := src.views[1]

	rep := get(t, srv, "/ui/settlement/1/report.json")
	if !bytes.Equal(rep, v.Report.Canonical()) {
		t.Error("report.json is not the canonical report")
	}
	parsed, err := settlement.ParseReport(rep)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Hash() != v.Report.Hash() {
		t.Error("hash differs")
	}

	recs, err := csv.NewReader(bytes.NewReader(get(t, srv, "/ui/settlement/1/figures.csv"))).ReadAll()
	if err != nil {
		t.Fatalf("figures.csv: %v", err)
	}
	if len(recs) != 1+len(v.Report.Figures) || recs[0][0] != "period" {
		t.Fatalf("figures.csv: %d rows", len(recs))
	}
	for i, f := range v.Report.Figures {
		c, _ := v.Report.Totals(f.Currency)
		want := []string{"1", f.Currency, string(f.DID), "", money.FromUnits(f.Sent, c.Currency).String(),
			money.FromUnits(f.Received, c.Currency).String(), money.FromUnits(f.Net, c.Currency).String(),
			strconv.Itoa(f.SentCount), strconv.Itoa(f.ReceivedCount)}
		got := recs[i+1]
		want[3] = got[3] // names checked below
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %d: %q, want %q", i+1, got, want)
		}
		if n := v.Names[f.DID]; got[3] != n {
			t.Errorf("row %d name %q, want %q", i+1, got[3], n)
		}
	}

	irecs, err := csv.NewReader(bytes.NewReader(get(t, srv, "/ui/settlement/1/instructions.csv"))).ReadAll()
	if err != nil {
		t.Fatalf("instructions.csv: %v", err)
	}
	if len(irecs) != 1+len(v.Report.Instructions) {
		t.Fatalf("instructions.csv: %d rows", len(irecs))
	}
	for i, in := range v.Report.Instructions {
		c, _ := v.Report.Totals(in.Currency)
		got := irecs[i+1]
		if got[1] != strconv.Itoa(i) || got[2] != in.Currency || got[3] != string(in.From) || got[5] != string(in.To) ||
			got[7] != money.FromUnits(in.Amount, c.Currency).String() || got[8] != v.Statuses[i].StatusKey() ||
			got[9] != strconv.FormatBool(v.Statuses[i].Paid) || got[13] != strconv.FormatBool(v.Statuses[i].Confirmed) ||
			got[15] != strconv.FormatBool(v.Statuses[i].Overdue) {
			t.Errorf("instruction %d: %q", i, got)
		}
	}

	var vj struct {
		Report   json.RawMessage `json:"report"`
		State    string          `json:"state"`
		Statuses []any           `json:"statuses"`
	}
	if err := json.Unmarshal(get(t, srv, "/ui/settlement/1/view.json"), &vj); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vj.Report, v.Report.Canonical()) || vj.State != settlement.StateFinal || len(vj.Statuses) != len(v.Report.Instructions) {
		t.Errorf("view.json: state %q, %d statuses", vj.State, len(vj.Statuses))
	}
}

func TestPagesLinkAndEscape(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ui.Handler(newSource(t), clock))
	t.Cleanup(srv.Close)
	index := string(get(t, srv, "/ui/settlement/"))
	for _, want := range []string{`<a href="1">Period 1</a>`, `<a href="2">Period 2</a>`, `data-period="3" data-state="open"`,
		`href="1/instructions.csv"`, `href="1/figures.csv"`, `href="1/report.json"`, `href="2/report.json"`,
		`data-field="confirmed" data-value="1"`, `data-field="overdue" data-value="` + strconv.Itoa(len(newSource(t).views[1].Report.Instructions)-2) + `"`,
		`data-trend="hours"`, `data-trend="kwh"`, "Valley Federation", "Riverside Bakery", "&lt;script&gt;"} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %s", want)
		}
	}
	page := string(get(t, srv, "/ui/settlement/1"))
	for _, want := range []string{`href="1/figures.csv"`, `href="1/instructions.csv"`, `href="1/report.json"`, `href="1/view.json"`, `href="./"`,
		"&lt;script&gt;", "The settlement deadline has passed"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("page contains a script element")
	}
}

func TestCanceledRequest(t *testing.T) {
	t.Parallel()
	h := ui.Handler(newSource(t), clock)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/settlement/1", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	checkError(t, rec.Body.Bytes(), "unavailable")
}
