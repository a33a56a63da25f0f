package settlement_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const hostile = `<script>alert("x")</script>`

// Hub nodes of the render tests.
var hubKeys = []*identity.Key{keyN(501), keyN(502), keyN(503)}

func hubDIDs() []identity.DID {
	out := make([]identity.DID, len(hubKeys))
	for i, k := range hubKeys {
		out[i] = k.DID()
	}
	return out
}

// multiView: two currencies, hostile and missing names, mixed statuses, two
// valid signatures of three nodes and one invalid.
func multiView(t testing.TB) settlement.View {
	t.Helper()
	r, err := settlement.BuildReport(settlement.ReportInput{Header: header, Currencies: curs, Transfers: []clearing.Transfer{
		tr("h1", A, B, h(4000)), tr("h2", B, C, h(2550)), tr("h3", C, A, h(1000)),
		tr("h4", D, B, h(725)), tr("h5", A, D, h(1)),
		tr("k1", A, B, k(1500)), tr("k2", C, B, k(250)),
	}, Policy: settlement.Policy{{Currency: "hours", Mode: settlement.ModeFiat, Asset: eur, Rate: rate(t, "15.50")}}})
	if err != nil {
		t.Fatal(err)
	}
	other := mustReport(t, []clearing.Transfer{tr("x1", A, B, h(1))})
	v := settlement.View{
		Report: r, State: settlement.StateFinal, HubNodes: hubDIDs(), Quorum: 2,
		Signatures: []settlement.Signature{r.Sign(hubKeys[0]), other.Sign(hubKeys[2]), r.Sign(hubKeys[1])},
		Deadline:   header.ClosedAt + 86_400_000_000_000,
		Names:      map[identity.DID]string{A: "Riverside Bakery", B: hostile, C: "=HYPERLINK(\"http://x\")", Fed: "North Federation"},
	}
	v.Statuses = make([]settlement.InstructionStatus, len(r.Instructions))
	if len(v.Statuses) < 3 {
		t.Fatalf("want at least 3 instructions, got %d", len(v.Statuses))
	}
	v.Statuses[0] = settlement.InstructionStatus{Paid: true, PaidAt: header.ClosedAt + 3_600_000_000_000, Method: settlement.MethodFiat,
		Reference: "SEPA <ref> & co", Confirmed: true, ConfirmedAt: header.ClosedAt + 7_200_000_000_000}
	v.Statuses[1] = settlement.InstructionStatus{Paid: true, PaidAt: header.ClosedAt + 3_600_000_000_000, Method: settlement.MethodHoursTransfer, Reference: "-1+1"}
	v.Statuses[2] = settlement.InstructionStatus{Overdue: true}
	return v
}

func emptyView(t testing.TB) settlement.View {
	t.Helper()
	r := mustReport(t, nil)
	return settlement.View{Report: r, State: settlement.StateClosed, HubNodes: hubDIDs(), Quorum: 2,
		Signatures: []settlement.Signature{r.Sign(hubKeys[1])}}
}

var fullOpts = settlement.PageOptions{
	IndexURL: "./", ReportJSONURL: "7/report.json", ViewJSONURL: "7/view.json",
	FiguresCSVURL: "7/figures.csv", InstructionsCSVURL: "7/instructions.csv",
	Now: header.ClosedAt + 2*86_400_000_000_000,
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./settlement/ -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, firstDiff(got, want))
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + a + "\nwant: " + b
		}
	}
	return ""
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		view func(testing.TB) settlement.View
		opt  settlement.PageOptions
	}{
		{"multi", multiView, fullOpts},
		{"empty", emptyView, settlement.PageOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.view(t)
			var page, figs, ins bytes.Buffer
			if err := settlement.RenderHTML(&page, v, tc.opt); err != nil {
				t.Fatal(err)
			}
			if err := settlement.WriteFiguresCSV(&figs, v); err != nil {
				t.Fatal(err)
			}
			if err := settlement.WriteInstructionsCSV(&ins, v); err != nil {
				t.Fatal(err)
			}
			js, err := settlement.ViewJSON(v)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".html", page.Bytes())
			golden(t, tc.name+"-figures.csv", figs.Bytes())
			golden(t, tc.name+"-instructions.csv", ins.Bytes())
			golden(t, tc.name+"-view.json", js)
		})
	}
}

// hook is one machine-readable figure of a page.
type hook struct{ did, currency, field, value string }

// pageHooks walks the HTML (encoding/xml in its lenient HTML mode, which
// closes void elements itself) and returns every data-field with a
// data-value with the data-did and data-currency of its nearest enclosing
// elements, the count of each element name, and the verification hooks.
func pageHooks(t *testing.T, page []byte) (hooks []hook, elements map[string]int, verif map[string]string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict, dec.AutoClose, dec.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	type ctx struct{ did, currency string }
	var stack []ctx
	elements = map[string]int{}
	verif = map[string]string{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			elements[e.Name.Local]++
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			c := ctx{}
			if len(stack) > 0 {
				c = stack[len(stack)-1]
			}
			if d, ok := attr["data-did"]; ok {
				c.did = d
			}
			if cur, ok := attr["data-currency"]; ok {
				c.currency = cur
			}
			if n, ok := attr["data-node"]; ok {
				verif[n] = attr["data-sig-status"]
			}
			if q, ok := attr["data-quorum-reached"]; ok {
				verif["quorum-reached"] = q
			}
			if f, ok := attr["data-field"]; ok {
				if v, ok := attr["data-value"]; ok {
					hooks = append(hooks, hook{c.did, c.currency, f, v})
				}
			}
			stack = append(stack, c)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	return hooks, elements, verif
}

func render(t *testing.T, v settlement.View, opt settlement.PageOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := settlement.RenderHTML(&b, v, opt); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRenderHTMLHooksMatchReport(t *testing.T) {
	for name, v := range map[string]settlement.View{"multi": multiView(t), "empty": emptyView(t)} {
		t.Run(name, func(t *testing.T) {
			hooks, _, _ := pageHooks(t, render(t, v, fullOpts))
			got := map[hook]bool{}
			for _, h := range hooks {
				if h.did != "" && h.currency != "" {
					got[h] = true
				}
			}
			r := v.Report
			want := map[hook]bool{}
			for _, f := range r.Figures {
				c, _ := r.Totals(f.Currency)
				for field, value := range map[string]string{
					"sent": money.FromUnits(f.Sent, c.Currency).String(), "received": money.FromUnits(f.Received, c.Currency).String(),
					"net": money.FromUnits(f.Net, c.Currency).String(), "sent_count": strconv.Itoa(f.SentCount),
					"received_count": strconv.Itoa(f.ReceivedCount),
				} {
					want[hook{string(f.DID), f.Currency, field, value}] = true
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d participant hooks, want %d", len(got), len(want))
			}
			for h := range want {
				if !got[h] {
					t.Errorf("missing hook %+v", h)
				}
			}
			totals := map[string]map[string]string{}
			for _, h := range hooks {
				if h.did == "" && h.currency != "" {
					if totals[h.currency] == nil {
						totals[h.currency] = map[string]string{}
					}
					totals[h.currency][h.field] = h.value
				}
			}
			if len(totals) != len(r.Currencies) {
				t.Errorf("totals for %d currencies, want %d", len(totals), len(r.Currencies))
			}
			for _, c := range r.Currencies {
				w := map[string]string{"transfers": strconv.Itoa(c.Transfers), "volume": money.FromUnits(c.Volume, c.Currency).String(),
					"net_debit": money.FromUnits(c.NetDebit, c.Currency).String(), "liquidity_saving": c.LiquiditySavingString()}
				for f, val := range w {
					if totals[c.Currency.Code][f] != val {
						t.Errorf("%s %s = %q, want %q", c.Currency.Code, f, totals[c.Currency.Code][f], val)
					}
				}
			}
		})
	}
}

func TestRenderHTMLHostileNames(t *testing.T) {
	v := multiView(t)
	v.Names[D] = `"><img src=x onerror=alert(1)><svg onload=alert(2)>`
	v.Statuses[1].Reference = `</style><script>alert(3)</script>`
	v.Statuses[1].Method = `javascript:alert(4)`
	page := render(t, v, fullOpts)
	s := string(page)
	for _, bad := range []string{"<script", "<img", "<svg onload", "</style><"} {
		if strings.Contains(s, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if !strings.Contains(s, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("hostile name not shown escaped")
	}
	_, elements, _ := pageHooks(t, page)
	for _, el := range []string{"script", "img", "iframe", "object"} {
		if elements[el] != 0 {
			t.Errorf("%d <%s> elements", elements[el], el)
		}
	}
	// Names stay data in the downloads: the CSV keeps them, defusing formulas.
	var b bytes.Buffer
	if err := settlement.WriteFiguresCSV(&b, v); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, rec := range recs[1:] {
		names[rec[2]] = rec[3]
	}
	if names[string(B)] != hostile || names[string(C)] != `'=HYPERLINK("http://x")` {
		t.Errorf("csv names: %q, %q", names[string(B)], names[string(C)])
	}
}

func TestRenderHTMLVerification(t *testing.T) {
	nodes := hubDIDs()
	stranger := keyN(777)
	for _, tc := range []struct {
		name    string
		edit    func(v *settlement.View)
		reached string
		status  map[identity.DID]string
		notice  bool
	}{
		{"two valid one invalid", func(v *settlement.View) {}, "true",
			map[identity.DID]string{nodes[0]: "valid", nodes[1]: "valid", nodes[2]: "invalid"}, false},
		{"one valid", func(v *settlement.View) { v.Signatures = v.Signatures[:1] }, "false",
			map[identity.DID]string{nodes[0]: "valid", nodes[1]: "missing", nodes[2]: "missing"}, true},
		{"stranger ignored", func(v *settlement.View) {
			v.Signatures = []settlement.Signature{v.Report.Sign(stranger), v.Report.Sign(hubKeys[2])}
		}, "false", map[identity.DID]string{nodes[0]: "missing", nodes[2]: "valid", stranger.DID(): "ignored"}, true},
		{"valid after an invalid repeat", func(v *settlement.View) {
			bad := v.Report.Sign(hubKeys[1])
			bad.Sig = append([]byte(nil), bad.Sig...)
			bad.Sig[0] ^= 1
			v.Signatures = []settlement.Signature{bad, v.Report.Sign(hubKeys[1]), v.Report.Sign(hubKeys[0])}
		}, "true", map[identity.DID]string{nodes[0]: "valid", nodes[1]: "valid", nodes[2]: "missing"}, false},
		{"bad quorum", func(v *settlement.View) { v.Quorum = 4 }, "false", map[identity.DID]string{nodes[0]: "valid"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := multiView(t)
			tc.edit(&v)
			page := render(t, v, fullOpts)
			_, _, verif := pageHooks(t, page)
			if verif["quorum-reached"] != tc.reached {
				t.Errorf("quorum reached = %q, want %q", verif["quorum-reached"], tc.reached)
			}
			for d, want := range tc.status {
				if verif[string(d)] != want {
					t.Errorf("node %s: %q, want %q", d.Short(), verif[string(d)], want)
				}
			}
			if got := strings.Contains(string(page), `class="notice" role="alert"`); got != tc.notice {
				t.Errorf("alert notice shown = %v, want %v", got, tc.notice)
			}
		})
	}
}

func TestRenderHTMLNetChart(t *testing.T) {
	v := multiView(t)
	page := string(render(t, v, settlement.PageOptions{}))
	// The largest |net| in hours spans the whole half width; debtors' bars
	// end at the zero axis.
	re := regexp.MustCompile(`<rect class="(bar-pos|bar-neg)" x="(\d+)" y="\d+" width="(\d+)"`)
	ms := re.FindAllStringSubmatch(page, -1)
	if len(ms) != len(v.Report.Figures) {
		t.Fatalf("%d bars, want %d", len(ms), len(v.Report.Figures))
	}
	zero := regexp.MustCompile(`<line class="axis" x1="(\d+)"`).FindStringSubmatch(page)
	if zero == nil {
		t.Fatal("no axis")
	}
	widest := 0
	for _, m := range ms {
		x, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		widest = max(widest, w)
		z, _ := strconv.Atoi(zero[1])
		if m[1] == "bar-neg" && x+w != z || m[1] == "bar-pos" && x != z {
			t.Errorf("bar %v does not start at zero %d", m, z)
		}
	}
	if widest != 240 {
		t.Errorf("widest bar %d, want 240", widest)
	}
}

func TestRenderHTMLEmptyPeriod(t *testing.T) {
	page := string(render(t, emptyView(t), settlement.PageOptions{}))
	for _, want := range []string{"No transfers were committed", "No instructions", "Quorum not reached"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<svg") {
		t.Error("an empty period has no charts")
	}
}

func TestStyleHashInPolicy(t *testing.T) {
	page := render(t, multiView(t), fullOpts)
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no style element")
	}
	sum := sha256.Sum256(m[1])
	if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(settlement.ContentSecurityPolicy(), want) {
		t.Errorf("policy %q lacks %s", settlement.ContentSecurityPolicy(), want)
	}
	if !strings.Contains(settlement.ContentSecurityPolicy(), "default-src 'none'") {
		t.Error("policy does not default to none")
	}
}

func TestRenderRejectsExtraStatuses(t *testing.T) {
	v := multiView(t)
	v.Statuses = append(v.Statuses, settlement.InstructionStatus{})
	if err := settlement.RenderHTML(io.Discard, v, settlement.PageOptions{}); !errors.Is(err, settlement.ErrInvalidArgument) {
		t.Errorf("RenderHTML: %v", err)
	}
	if _, err := settlement.ViewJSON(v); !errors.Is(err, settlement.ErrInvalidArgument) {
		t.Errorf("ViewJSON: %v", err)
	}
	if err := settlement.WriteInstructionsCSV(io.Discard, v); !errors.Is(err, settlement.ErrInvalidArgument) {
		t.Errorf("WriteInstructionsCSV: %v", err)
	}
}

func TestWriteCSVMatchesReport(t *testing.T) {
	v := multiView(t)
	v.Statuses = v.Statuses[:1] // the rest outstanding
	var figs, ins bytes.Buffer
	if err := settlement.WriteFiguresCSV(&figs, v); err != nil {
		t.Fatal(err)
	}
	if err := settlement.WriteInstructionsCSV(&ins, v); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&figs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(v.Report.Figures) {
		t.Fatalf("%d figure rows, want %d", len(recs)-1, len(v.Report.Figures))
	}
	for i, f := range v.Report.Figures {
		rec := recs[i+1]
		c, _ := v.Report.Totals(f.Currency)
		if rec[1] != f.Currency || rec[2] != string(f.DID) || rec[6] != money.FromUnits(f.Net, c.Currency).String() ||
			rec[4] != money.FromUnits(f.Sent, c.Currency).String() || rec[7] != strconv.Itoa(f.SentCount) {
			t.Errorf("row %d: %q for %+v", i, rec, f)
		}
	}
	irecs, err := csv.NewReader(&ins).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(irecs) != 1+len(v.Report.Instructions) {
		t.Fatalf("%d instruction rows", len(irecs)-1)
	}
	for i, rec := range irecs[1:] {
		in := v.Report.Instructions[i]
		if rec[1] != strconv.Itoa(i) || rec[3] != string(in.From) || rec[5] != string(in.To) {
			t.Errorf("row %d: %q, want instruction %d of the report (index from 0)", i+1, rec, i)
		}
	}
	if got := irecs[1]; got[8] != "confirmed" || got[9] != "true" || got[13] != "true" || got[10] == "" || got[12] != "SEPA <ref> & co" {
		t.Errorf("first instruction: %q", got)
	}
	if got := irecs[2]; got[8] != "outstanding" || got[9] != "false" || got[10] != "" || got[13] != "false" {
		t.Errorf("second instruction: %q", got)
	}
}

func TestViewJSON(t *testing.T) {
	v := multiView(t)
	b, err := settlement.ViewJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Report     json.RawMessage
		State      string
		Signatures []settlement.Signature
		HubNodes   []identity.DID `json:"hub_nodes"`
		Quorum     int
		Statuses   []map[string]any
		Deadline   *string
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j.Report, v.Report.Canonical()) {
		t.Error("report is not the canonical bytes")
	}
	r, err := settlement.ParseReport(j.Report)
	if err != nil {
		t.Fatal(err)
	}
	if _, final, err := settlement.VerifySignatures(r, j.Signatures, j.HubNodes, j.Quorum); err != nil || !final {
		t.Errorf("signatures from the JSON: final %v, %v", final, err)
	}
	if j.State != settlement.StateFinal || len(j.Statuses) != len(v.Report.Instructions) || j.Deadline == nil {
		t.Errorf("state %q, %d statuses, deadline %v", j.State, len(j.Statuses), j.Deadline)
	}
	if j.Statuses[0]["paid"] != true || j.Statuses[2]["paid_at"] != nil || j.Statuses[2]["overdue"] != true {
		t.Errorf("statuses %v", j.Statuses)
	}
	e, err := settlement.ViewJSON(settlement.View{Report: mustReport(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(e, []byte(`"signatures":[],"hub_nodes":[],"quorum":0,"statuses":[],"deadline":null,"names":{}`)) {
		t.Errorf("empty view: %s", e)
	}
}

func TestRenderIndexHTML(t *testing.T) {
	v := multiView(t)
	p5 := settlement.PeriodSummary{Period: 5, State: settlement.StateSettled, OpenedAt: header.OpenedAt - 2e15, ClosedAt: header.OpenedAt - 1e15,
		Transfers: 1, Instructions: 1, Paid: 1, Confirmed: 1, Volumes: []money.Amount{h(250)},
		Figures: []settlement.Figures{{Currency: "hours", DID: A, Net: -250, Sent: 250, SentCount: 1}, {Currency: "hours", DID: B, Net: 250, Received: 250, ReceivedCount: 1}}}
	idx := settlement.Index{Federation: Fed, Names: v.Names, Periods: []settlement.PeriodSummary{
		emptyView(t).Summary(),
		{Period: 9, State: settlement.StateOpen, OpenedAt: header.ClosedAt},
		v.Summary(),
		p5,
	}}
	idx.Periods[0].Period = 6
	opt := settlement.PageOptions{PeriodURL: func(p uint64) string { return strconv.FormatUint(p, 10) },
		PeriodFileURL: func(p uint64, f string) string { return strconv.FormatUint(p, 10) + "/" + f }}
	var b bytes.Buffer
	if err := settlement.RenderIndexHTML(&b, idx, opt); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	order := regexp.MustCompile(`<tr data-period="(\d+)"`).FindAllStringSubmatch(page, -1)
	if len(order) != 4 || order[0][1] != "9" || order[1][1] != "7" || order[2][1] != "6" || order[3][1] != "5" {
		t.Errorf("order %v, want 9 7 6 5", order)
	}
	row7 := regexp.MustCompile(`(?s)<tr data-period="7".*?</tr>`).FindString(page)
	for _, want := range []string{`<a href="7">Period 7</a>`, `data-currency="hours" data-value="82.76"`, `data-currency="kwh" data-value="1.750"`,
		`data-field="instructions" data-value="` + strconv.Itoa(len(v.Report.Instructions)) + `"`,
		`data-field="paid" data-value="2"`, `data-field="confirmed" data-value="1"`, `data-field="overdue" data-value="1"`,
		`href="7/report.json"`, `href="7/figures.csv"`, `href="7/instructions.csv"`} {
		if !strings.Contains(row7, want) {
			t.Errorf("period 7's row lacks %s:\n%s", want, row7)
		}
	}
	row9 := regexp.MustCompile(`(?s)<tr data-period="9".*?</tr>`).FindString(page)
	if strings.Contains(row9, "href=\"9/") || strings.Contains(row9, `data-field="paid"`) {
		t.Errorf("the open period has downloads or counts:\n%s", row9)
	}
	if !strings.Contains(page, `data-overdue-period="7"`) || strings.Contains(page, `data-overdue-period="5"`) {
		t.Error("overdue notice: want one for period 7 only")
	}
	if i, j := strings.Index(page, "North Federation"), strings.Index(page, string(Fed)); i < 0 || j < i {
		t.Errorf("federation: name at %d, DID at %d: want the name first", i, j)
	}
	if strings.Contains(page, hostile) {
		t.Error("a hostile name is not escaped")
	}

	// The trend charts: hours over periods 5, 6 and 7; kwh has figures only in 7.
	trend := trendBars(t, page, "hours")
	netOf := func(d identity.DID, cur string) string {
		for _, f := range v.Report.Figures {
			if f.DID == d && f.Currency == cur {
				c, _ := v.Report.Totals(cur)
				return money.FromUnits(f.Net, c.Currency).String()
			}
		}
		return "0.00"
	}
	for _, d := range []identity.DID{A, B, C, D} {
		want := []string{"5=0.00", "6=0.00", "7=" + netOf(d, "hours")}
		switch d {
		case A:
			want[0] = "5=-2.50"
		case B:
			want[0] = "5=2.50"
		}
		if got := strings.Join(trend.bars[d], " "); got != strings.Join(want, " ") {
			t.Errorf("hours trend of %s: %s, want %s", d, got, strings.Join(want, " "))
		}
	}
	// Named co-ops first, by name (the escaped hostile name sorts by its "<"), unnamed (D) last.
	if got, want := trend.order, []identity.DID{B, C, A, D}; !slices.Equal(got, want) {
		t.Errorf("hours trend rows %v, want %v", got, want)
	}
	if k := trendBars(t, page, "kwh"); len(k.order) != 3 || k.bars[A][2] != "7=-1.500" || k.bars[A][0] != "5=0.000" {
		t.Errorf("kwh trend: %v", k.bars)
	}

	// Only the newest TrendPeriods periods, and at most 40 co-ops.
	many := settlement.Index{}
	for p := uint64(1); p <= settlement.TrendPeriods+3; p++ {
		s := settlement.PeriodSummary{Period: p, State: settlement.StateFinal, Volumes: []money.Amount{h(1)}}
		for i := range 41 {
			net := int64(i + 1)
			if i%2 == 1 {
				net = -net
			}
			s.Figures = append(s.Figures, settlement.Figures{Currency: "hours", DID: did(i), Net: net})
		}
		many.Periods = append(many.Periods, s)
	}
	b.Reset()
	if err := settlement.RenderIndexHTML(&b, many, settlement.PageOptions{}); err != nil {
		t.Fatal(err)
	}
	mt := trendBars(t, b.String(), "hours")
	if len(mt.order) != 40 || mt.bars[did(0)] != nil || len(mt.bars[did(40)]) != settlement.TrendPeriods || mt.bars[did(40)][0] != "4=0.41" {
		t.Errorf("many: %d rows, co-op 0 %v, co-op 40 %v", len(mt.order), mt.bars[did(0)], mt.bars[did(40)])
	}
	if !strings.Contains(b.String(), "the 40 of 41 co-ops") {
		t.Error("many: the caption does not say that co-ops were left out")
	}

	b.Reset()
	if err := settlement.RenderIndexHTML(&b, settlement.Index{}, settlement.PageOptions{}); err != nil || !strings.Contains(b.String(), "No settlement periods yet") ||
		strings.Contains(b.String(), "data-trend") {
		t.Errorf("empty index: %v", err)
	}
}

type trend struct {
	order []identity.DID
	bars  map[identity.DID][]string // "period=value", oldest first
}

// trendBars reads the rows of the index's trend chart of currency cur.
func trendBars(t *testing.T, page, cur string) trend {
	t.Helper()
	sec := regexp.MustCompile(`(?s)<section [^>]*data-trend="` + cur + `">.*?</section>`).FindString(page)
	if sec == "" {
		t.Fatalf("no %s trend chart", cur)
	}
	out := trend{bars: map[identity.DID][]string{}}
	for _, g := range regexp.MustCompile(`(?s)<g data-did="([^"]+)" data-currency="`+cur+`">(.*?)</g>`).FindAllStringSubmatch(sec, -1) {
		d := identity.DID(g[1])
		out.order = append(out.order, d)
		for _, m := range regexp.MustCompile(`data-period="(\d+)" data-value="([^"]+)"`).FindAllStringSubmatch(g[2], -1) {
			out.bars[d] = append(out.bars[d], m[1]+"="+m[2])
		}
	}
	return out
}

// FuzzRenderHTMLNames: whatever a participant's name or an instruction's
// reference holds, it adds no markup to the page: the page has exactly as
// many '<' as with harmless text.
func FuzzRenderHTMLNames(f *testing.F) {
	for _, s := range []string{hostile, `"><img src=x onerror=alert(1)>`, "</title><script>", "</style>", "]]><!--", "\xff\xfe<", "javascript:alert(1)", "a\u2028b"} {
		f.Add(s)
	}
	v := multiView(f)
	baseline := func(t *testing.T, name string) int {
		w := v
		w.Names = map[identity.DID]string{A: name, B: name, C: name, D: name, Fed: name}
		w.Statuses = append([]settlement.InstructionStatus(nil), v.Statuses...)
		w.Statuses[1].Reference, w.Statuses[1].Method = name, name
		return bytes.Count(render(t, w, fullOpts), []byte("<"))
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" {
			return // no name: the DID is shown, with other markup
		}
		if got, want := baseline(t, name), baseline(t, "plain"); got != want {
			t.Errorf("name %q: %d '<' in the page, %d with a plain name", name, got, want)
		}
	})
}
