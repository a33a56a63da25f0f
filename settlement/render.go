package settlement

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

//go:embed templates/period.html templates/index.html templates/style.css
var templateFS embed.FS

// pageTemplates are the embedded HTML templates, parsed once.
var pageTemplates = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))

// PageOptions are what a page needs from the server that serves it. URLs
// are written as given (relative URLs keep the pages independent of where
// the handler is mounted); an empty URL leaves its link out.
type PageOptions struct {
	IndexURL           string // the list of periods
	ReportJSONURL      string // the canonical report (Report.Canonical)
	ViewJSONURL        string // ViewJSON
	FiguresCSVURL      string // WriteFiguresCSV
	InstructionsCSVURL string // WriteInstructionsCSV
	// PeriodURL gives the URL of a period's page in the index (nil: no links).
	PeriodURL func(period uint64) string
	// PeriodFileURL gives the URL of a closed period's download in the
	// index, for file "report.json", "figures.csv" or "instructions.csv"
	// (nil: no download links).
	PeriodFileURL func(period uint64, file string) string
	// Now is when the page is rendered, unix ns (0: not shown). A period
	// page uses it to flag a passed settlement deadline.
	Now int64
}

// PeriodSummary is one line of the index of settlement periods.
type PeriodSummary struct {
	Period    uint64
	State     string // StateOpen, StateClosed, StateFinal or StateSettled
	OpenedAt  int64  // unix ns
	ClosedAt  int64  // unix ns; 0 while open
	Deadline  int64  // unix ns; 0: none
	Transfers int    // committed transfers so far
	// Instructions of a closed period, how many are marked paid (confirmed
	// ones included), confirmed by the payee, and overdue.
	Instructions, Paid, Confirmed, Overdue int
	// Volumes: gross volume per currency, sorted by code; nil when the
	// report was not read (an open period, or one beyond the index's window).
	Volumes []money.Amount
	// Figures: the report's per-participant figures (read when Volumes is
	// not nil); the index charts their nets across periods.
	Figures []Figures
}

// Summary returns the index line of a closed period's view.
func (v View) Summary() PeriodSummary {
	s := PeriodSummary{Period: v.Report.Period, State: v.State, OpenedAt: v.Report.OpenedAt, ClosedAt: v.Report.ClosedAt,
		Deadline: v.Deadline, Transfers: v.Report.Transfers, Instructions: len(v.Report.Instructions),
		Volumes: make([]money.Amount, len(v.Report.Currencies)), Figures: v.Report.Figures}
	for i, t := range v.Report.Currencies {
		s.Volumes[i] = money.FromUnits(t.Volume, t.Currency)
	}
	for i, st := range v.Statuses {
		if i >= len(v.Report.Instructions) {
			break
		}
		if st.Paid {
			s.Paid++
		}
		if st.Confirmed {
			s.Confirmed++
		}
		if st.Overdue {
			s.Overdue++
		}
	}
	return s
}

// Index is what the index page shows: the periods, and the names to show
// for the federation and the participants.
type Index struct {
	Federation identity.DID // "" if unknown
	Periods    []PeriodSummary
	Names      map[identity.DID]string // may be partial
}

// ContentSecurityPolicy returns the Content-Security-Policy under which the
// pages of RenderHTML and RenderIndexHTML work: nothing is loaded, no script
// runs, and the one inline style sheet is allowed by its SHA-256 hash.
func ContentSecurityPolicy() string {
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil { // embedded: cannot fail
		panic("settlement: embedded style sheet: " + err.Error())
	}
	h := sha256.Sum256(css)
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'; img-src data:; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func styleSheet() template.CSS {
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil { // embedded: cannot fail
		panic("settlement: embedded style sheet: " + err.Error())
	}
	return template.CSS(css) // our own file, hashed in ContentSecurityPolicy
}

// RenderHTML writes the treasurer's page of one closed period: header and
// state, totals per currency, each participant's figures, the instructions
// with their status, charts of net positions and of the instructed flows
// (inline SVG), download links and the verification of the hub nodes'
// signatures (VerifySignatures against v.HubNodes and v.Quorum). The page
// needs no script and no other resource; serve it under
// ContentSecurityPolicy. Figures carry data-did, data-currency, data-field
// and data-value (the exact decimal string) attributes for machines.
//
// Every name and string from v is escaped. Nothing is written if v is
// unusable (more statuses than instructions); errors of w are returned.
func RenderHTML(w io.Writer, v View, opt PageOptions) error {
	d, err := newPeriodPage(v, opt)
	if err != nil {
		return fmt.Errorf("settlement: render period %d: %w", v.Report.Period, err)
	}
	return execute(w, "period.html", d)
}

// TrendPeriods is how many of the newest closed periods the index charts.
const TrendPeriods = 12

// RenderIndexHTML writes the list of settlement periods, newest first, with
// links from opt.PeriodURL and opt.PeriodFileURL: per period its state,
// times, transfers, gross volume and how many instructions are paid,
// confirmed and overdue; then, per currency, a chart of each participant's
// net position over the newest TrendPeriods closed periods whose report was
// read (Volumes not nil).
// Names come before DIDs. Serve it under ContentSecurityPolicy.
func RenderIndexHTML(w io.Writer, idx Index, opt PageOptions) error {
	ps := slices.Clone(idx.Periods)
	slices.SortStableFunc(ps, func(a, b PeriodSummary) int { return cmp.Compare(b.Period, a.Period) })
	v := View{Names: idx.Names}
	d := indexPage{CSS: styleSheet(), Now: optTimeVal(opt.Now), Periods: make([]indexRow, len(ps))}
	if idx.Federation != "" {
		f := v.label(idx.Federation)
		d.Federation = &f
	}
	for i, p := range ps {
		row := indexRow{Period: p.Period, State: p.State, StateText: stateText(p.State),
			Opened: optTimeVal(p.OpenedAt), Closed: optTimeVal(p.ClosedAt), Deadline: optTimeVal(p.Deadline),
			Transfers: p.Transfers, HasReport: p.State != StateOpen, VolumesKnown: p.Volumes != nil,
			Instructions: p.Instructions, Paid: p.Paid, Confirmed: p.Confirmed, Overdue: p.Overdue}
		if opt.PeriodURL != nil {
			row.URL = opt.PeriodURL(p.Period)
		}
		if opt.PeriodFileURL != nil && row.HasReport {
			for _, f := range []download{{"report.json", "report.json", "application/json"},
				{"figures.csv", "figures.csv", "text/csv"}, {"instructions.csv", "instructions.csv", "text/csv"}} {
				f.URL = opt.PeriodFileURL(p.Period, f.URL)
				row.Links = append(row.Links, f)
			}
		}
		for _, a := range p.Volumes {
			row.Volumes = append(row.Volumes, volume{Currency: a.Currency().Code, Value: a.String()})
		}
		if p.Overdue > 0 {
			d.Overdue = append(d.Overdue, row)
		}
		d.Periods[i] = row
	}
	d.Trends = v.trendCharts(ps)
	return execute(w, "index.html", d)
}

// execute renders into a buffer first so that a template error writes
// nothing.
func execute(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("settlement: render %s: %w", name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("settlement: write %s: %w", name, err)
	}
	return nil
}

// The data the templates see. Every field is computed here; the templates
// only lay it out.

type indexPage struct {
	CSS        template.CSS
	Now        *timeVal
	Federation *who
	Periods    []indexRow
	Overdue    []indexRow // periods with overdue instructions, newest first
	Trends     []trendChart
}

type indexRow struct {
	Period                                 uint64
	URL                                    string
	State                                  string
	StateText                              string
	Opened, Closed, Deadline               *timeVal
	Transfers                              int
	HasReport                              bool // not open: has instructions and downloads
	VolumesKnown                           bool
	Volumes                                []volume
	Instructions, Paid, Confirmed, Overdue int
	Links                                  []download
}

type volume struct{ Currency, Value string }

type timeVal struct {
	ISO  string // RFC 3339, for <time datetime>
	Text string // for people
}

func timeOf(ns int64) timeVal {
	t := time.Unix(0, ns).UTC()
	return timeVal{ISO: formatTime(ns), Text: t.Format("2006-01-02 15:04:05 UTC")}
}

func optTimeVal(ns int64) *timeVal {
	if ns == 0 {
		return nil
	}
	t := timeOf(ns)
	return &t
}

func stateText(s string) string {
	switch s {
	case StateOpen:
		return "Open: transfers still land in this period"
	case StateClosed:
		return "Closed: awaiting the hub nodes' signatures"
	case StateFinal:
		return "Final: signed by a quorum, instructions outstanding"
	case StateSettled:
		return "Settled: every instruction confirmed"
	}
	return s
}

type periodPage struct {
	CSS            template.CSS
	Federation     who
	Period         uint64
	State          string
	StateText      string
	Opened, Closed timeVal
	Deadline       *timeVal
	DeadlinePassed bool
	Now            *timeVal
	Transfers      int
	MerkleRoot     string
	Currencies     []currencyBlock
	Instructions   []instructionRow
	Outstanding    int // instructions not yet confirmed
	Verification   verification
	IndexURL       string
	Links          []download
}

type download struct{ Label, URL, Type string }

type who struct {
	DID   identity.DID
	Label string // name, or the DID shortened
	Named bool
}

type currencyBlock struct {
	Code          string
	Scale         int32
	Transfers     int
	Volume        string
	NetDebit      string
	Saving        string // exact decimal, SavingPlaces places
	SavingPercent string // for people, 2 places
	SettleBy      string // the settlement mode, for people
	Mode          string
	Figures       []figureRow
	NetChart      netChart
	FlowChart     flowChart
}

type figureRow struct {
	P                        who
	Sent, Received, Net      string
	Sign                     int
	SentCount, ReceivedCount int
}

type instructionRow struct {
	Index    int // in the report, from 0: what --instruction and the confirmations name
	Currency string
	Amount   string
	Mode     string
	SettleBy string // e.g. "fiat: 116.25 EUR"
	From, To who
	Status   statusView
}

// settleBy says for people how a currency settles under rule r.
func settleBy(r Rule) string {
	switch r.Mode {
	case ModeFiat:
		return "fiat bridge, " + r.Rate.String() + " " + r.Asset.Code + " per unit"
	case ModeAssetSwap:
		return "asset swap, " + r.Rate.String() + " " + r.Asset.Code + " per unit"
	}
	return "hours transfer"
}

type statusView struct {
	Key         string // outstanding, paid or confirmed
	Text        string
	Paid        bool
	PaidAt      *timeVal
	Method      string
	Reference   string
	Confirmed   bool
	ConfirmedAt *timeVal
	Overdue     bool
}

type verification struct {
	ReportHash string
	Nodes      []nodeRow
	Strangers  []nodeRow // signatures by signers not among the hub nodes (ignored)
	Quorum     int
	Valid      int
	Reached    bool
	Err        string // the node list or quorum is unusable
	// Mismatch: the state claims a quorum the signatures do not reach.
	Mismatch bool
}

type nodeRow struct {
	DID    identity.DID
	Status string // valid, invalid, missing (or ignored for strangers)
	Text   string
}

func (v View) label(d identity.DID) who {
	if n := v.Names[d]; n != "" {
		return who{DID: d, Label: n, Named: true}
	}
	return who{DID: d, Label: d.Short()}
}

func newPeriodPage(v View, opt PageOptions) (*periodPage, error) {
	st, err := v.statuses()
	if err != nil {
		return nil, err
	}
	r := &v.Report
	sc := r.scales()
	hash := r.Hash()
	d := &periodPage{
		CSS: styleSheet(), Federation: v.label(r.Federation), Period: r.Period,
		State: v.State, StateText: stateText(v.State),
		Opened: timeOf(r.OpenedAt), Closed: timeOf(r.ClosedAt),
		Deadline: optTimeVal(v.Deadline), Now: optTimeVal(opt.Now),
		Transfers: r.Transfers, MerkleRoot: hex.EncodeToString(r.MerkleRoot[:]),
		IndexURL: opt.IndexURL,
	}
	for _, l := range []download{
		{"Figures (CSV)", opt.FiguresCSVURL, "text/csv"},
		{"Instructions with status (CSV)", opt.InstructionsCSVURL, "text/csv"},
		{"Canonical report (JSON, what the hub nodes sign)", opt.ReportJSONURL, "application/json"},
		{"Report, signatures and statuses (JSON)", opt.ViewJSONURL, "application/json"},
	} {
		if l.URL != "" {
			d.Links = append(d.Links, l)
		}
	}
	for _, t := range r.Currencies {
		pct := new(big.Rat).Mul(t.LiquiditySaving(), big.NewRat(100, 1))
		cb := currencyBlock{Code: t.Currency.Code, Scale: t.Currency.Scale, Transfers: t.Transfers,
			Volume:   money.FromUnits(t.Volume, t.Currency).String(),
			NetDebit: money.FromUnits(t.NetDebit, t.Currency).String(),
			Saving:   t.LiquiditySavingString(), SavingPercent: pct.FloatString(2)}
		rule := r.Policy.Rule(t.Currency.Code)
		cb.Mode, cb.SettleBy = rule.Mode, settleBy(rule)
		var figs []Figures
		for _, f := range r.Figures {
			if f.Currency == t.Currency.Code {
				figs = append(figs, f)
				cb.Figures = append(cb.Figures, figureRow{P: v.label(f.DID),
					Sent: amountString(f.Sent, f.Currency, sc), Received: amountString(f.Received, f.Currency, sc),
					Net: amountString(f.Net, f.Currency, sc), Sign: cmp.Compare(f.Net, 0),
					SentCount: f.SentCount, ReceivedCount: f.ReceivedCount})
			}
		}
		cb.NetChart = v.netChart(t.Currency, figs)
		cb.FlowChart = v.flowChart(t.Currency)
		d.Currencies = append(d.Currencies, cb)
	}
	for i, in := range r.Instructions {
		s := st[i]
		sv := statusView{Key: s.StatusKey(), Text: "Outstanding", Paid: s.Paid, PaidAt: optTimeVal(s.PaidAt),
			Method: s.Method, Reference: s.Reference, Confirmed: s.Confirmed, ConfirmedAt: optTimeVal(s.ConfirmedAt),
			Overdue: s.Overdue}
		switch sv.Key {
		case StatusConfirmed:
			sv.Text = "Confirmed"
		case StatusPaid:
			sv.Text = "Paid, awaiting confirmation"
		}
		if !s.Confirmed {
			d.Outstanding++
		}
		row := instructionRow{Index: i, Currency: in.Currency, Mode: cmp.Or(in.Mode, ModeHoursTransfer), SettleBy: "hours transfer",
			Amount: amountString(in.Amount, in.Currency, sc), From: v.label(in.From), To: v.label(in.To), Status: sv}
		if in.Asset != (money.Currency{}) {
			row.SettleBy = strings.ReplaceAll(in.Mode, "_", " ") + ": " + money.FromUnits(in.AssetAmount, in.Asset).String() + " " + in.Asset.Code
		}
		d.Instructions = append(d.Instructions, row)
	}
	d.DeadlinePassed = v.Deadline != 0 && opt.Now > v.Deadline && d.Outstanding > 0
	d.Verification = v.verify(hash)
	return d, nil
}

// verify classifies each hub node's signature: valid, invalid (signatures
// present, none verifies) or missing.
func (v View) verify(hash [32]byte) verification {
	out := verification{ReportHash: hex.EncodeToString(hash[:]), Quorum: v.Quorum}
	valid, final, err := VerifySignatures(v.Report, v.Signatures, v.HubNodes, v.Quorum)
	if err != nil {
		out.Err = err.Error()
	}
	out.Valid, out.Reached = len(valid), final
	listed := make(map[identity.DID]bool, len(v.HubNodes))
	for _, n := range v.HubNodes {
		listed[n] = true
		row := nodeRow{DID: n, Status: "missing", Text: "No signature"}
		for _, s := range v.Signatures {
			if s.Signer != n {
				continue
			}
			if verifyHash(hash, s) == nil {
				row.Status, row.Text = "valid", "Signed, signature valid"
				break
			}
			row.Status, row.Text = "invalid", "Signature INVALID"
		}
		out.Nodes = append(out.Nodes, row)
	}
	seen := map[identity.DID]bool{}
	for _, s := range v.Signatures {
		if !listed[s.Signer] && !seen[s.Signer] {
			seen[s.Signer] = true
			out.Strangers = append(out.Strangers, nodeRow{DID: s.Signer, Status: "ignored", Text: "Not a hub node of this period: ignored"})
		}
	}
	out.Mismatch = !out.Reached && (v.State == StateFinal || v.State == StateSettled)
	return out
}

// Chart geometry, in SVG user units. No money is converted to float: bar
// lengths and colour levels are integer fractions computed with big.Int.
const (
	chartLabelW = 200 // label column
	netHalfW    = 240 // from zero to the longest bar
	netRowH     = 24
	netBarH     = 16
	netTop      = 28
	maxNetBars  = 40
	flowColW    = 100
	flowRowH    = 26
	flowTop     = 44
	maxFlowRows = 30
	maxFlowCols = 12
	flowLevels  = 5
)

// scaleTo returns ⌈x·span/max⌉ for 0 ≤ x ≤ max, max > 0, exactly.
func scaleTo(x, maxV, span int64) int {
	n := new(big.Int).Mul(big.NewInt(x), big.NewInt(span))
	n.Add(n, big.NewInt(maxV-1))
	return int(n.Quo(n, big.NewInt(maxV)).Int64())
}

type netChart struct {
	Width, Height int
	ZeroX         int
	LegendY       int
	AxisTop       int
	Bars          []netBar
	Shown, Total  int
}

type netBar struct {
	P              who
	Value          string
	Negative       bool
	X, Y, W, H     int
	TextX, TextY   int
	LabelX         int
	AnchorEndValue bool
}

func (v View) netChart(c money.Currency, figs []Figures) netChart {
	ch := netChart{Total: len(figs)}
	sel := slices.Clone(figs)
	abs := func(x int64) int64 {
		if x < 0 {
			return -x // Net ≥ −MaxInt64: cannot overflow
		}
		return x
	}
	if len(sel) > maxNetBars {
		slices.SortFunc(sel, func(a, b Figures) int { return cmp.Or(cmp.Compare(abs(b.Net), abs(a.Net)), cmp.Compare(a.DID, b.DID)) })
		sel = sel[:maxNetBars]
	}
	slices.SortFunc(sel, func(a, b Figures) int { return cmp.Or(cmp.Compare(b.Net, a.Net), cmp.Compare(a.DID, b.DID)) })
	var maxAbs int64
	for _, f := range sel {
		maxAbs = max(maxAbs, abs(f.Net))
	}
	ch.Shown = len(sel)
	ch.ZeroX = chartLabelW + 20 + netHalfW
	ch.Width = ch.ZeroX + netHalfW + 10
	ch.LegendY = 16
	ch.AxisTop = netTop - 4
	ch.Height = netTop + len(sel)*netRowH + 8
	for i, f := range sel {
		y := netTop + i*netRowH
		b := netBar{P: v.label(f.DID), Value: money.FromUnits(f.Net, c).String(), Negative: f.Net < 0,
			Y: y + (netRowH-netBarH)/2, H: netBarH, TextY: y + netRowH/2 + 4, LabelX: chartLabelW - 4}
		b.P.Label = truncate(b.P.Label, 26)
		if maxAbs > 0 {
			b.W = scaleTo(abs(f.Net), maxAbs, netHalfW)
		}
		if f.Net < 0 {
			b.X = ch.ZeroX - b.W
			b.TextX = ch.ZeroX + 6
		} else {
			b.X = ch.ZeroX
			b.TextX = ch.ZeroX - 6
			b.AnchorEndValue = true
		}
		ch.Bars = append(ch.Bars, b)
	}
	return ch
}

type flowChart struct {
	Width, Height int
	Cols          []flowHead
	Rows          []flowRow
	Drawn, Total  int
}

type flowHead struct {
	P    who
	X, Y int
}

type flowRow struct {
	P                who
	Y, TextY, LabelX int
	Cells            []flowCell
}

type flowCell struct {
	X, Y, W, H   int
	TextX, TextY int
	Level        int // 0: no instruction
	Value        string
	To           identity.DID
}

// flowChart lays out the instructions of currency c as a matrix: one row
// per paying participant, one column per paid participant, in order of
// first appearance; a cell's shade grows with its amount.
func (v View) flowChart(c money.Currency) flowChart {
	var ins []Instruction
	for _, in := range v.Report.Instructions {
		if in.Currency == c.Code {
			ins = append(ins, in)
		}
	}
	ch := flowChart{Total: len(ins)}
	var rows, cols []identity.DID
	ri, ci := map[identity.DID]int{}, map[identity.DID]int{}
	for _, in := range ins {
		if _, ok := ri[in.From]; !ok && len(rows) < maxFlowRows {
			ri[in.From] = len(rows)
			rows = append(rows, in.From)
		}
		if _, ok := ci[in.To]; !ok && len(cols) < maxFlowCols {
			ci[in.To] = len(cols)
			cols = append(cols, in.To)
		}
	}
	amt := make([][]int64, len(rows))
	for i := range amt {
		amt[i] = make([]int64, len(cols))
	}
	var maxA int64
	for _, in := range ins {
		r, ok1 := ri[in.From]
		k, ok2 := ci[in.To]
		if !ok1 || !ok2 {
			continue
		}
		amt[r][k] += in.Amount // one instruction per pair: greedy never pays the same creditor twice
		maxA = max(maxA, amt[r][k])
		ch.Drawn++
	}
	ch.Width = chartLabelW + len(cols)*flowColW + 8
	ch.Height = flowTop + len(rows)*flowRowH + 8
	for k, d := range cols {
		h := flowHead{P: v.label(d), X: chartLabelW + k*flowColW + flowColW/2, Y: flowTop - 8}
		h.P.Label = truncate(h.P.Label, 12)
		ch.Cols = append(ch.Cols, h)
	}
	for r, d := range rows {
		y := flowTop + r*flowRowH
		row := flowRow{P: v.label(d), Y: y, TextY: y + flowRowH/2 + 4, LabelX: chartLabelW - 6}
		row.P.Label = truncate(row.P.Label, 26)
		for k, to := range cols {
			cell := flowCell{X: chartLabelW + k*flowColW + 1, Y: y + 1, W: flowColW - 2, H: flowRowH - 2,
				TextX: chartLabelW + k*flowColW + flowColW/2, TextY: y + flowRowH/2 + 4, To: to}
			if a := amt[r][k]; a > 0 {
				cell.Level = scaleTo(a, maxA, flowLevels)
				cell.Value = money.FromUnits(a, c).String()
			}
			row.Cells = append(row.Cells, cell)
		}
		ch.Rows = append(ch.Rows, row)
	}
	return ch
}

// truncate shortens s to at most n runes, marking a cut with "…".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Trend chart geometry: one row per participant, one column per period,
// a bar up (net creditor) or down (net debtor) from the row's zero line.
const (
	trendColW    = 44
	trendRowH    = 30
	trendHalfH   = 12 // from the zero line to the longest bar
	trendBarW    = 28
	trendTop     = 34
	trendValueW  = 110 // the newest net, right of the bars
	maxTrendRows = 40
)

type trendChart struct {
	Code          string
	Width, Height int
	Periods       []trendHead
	Rows          []trendRow
	Shown, Total  int // participants drawn, participants with figures
	First, Last   uint64
}

type trendHead struct {
	Period uint64
	X, Y   int
}

type trendRow struct {
	P             who
	Y, ZeroY      int
	TextY, LabelX int
	LineX2        int
	Bars          []trendBar
	Latest        string // the net of the newest period, written after its bar
	LatestX       int
}

type trendBar struct {
	Period     uint64
	Value      string
	Negative   bool
	X, Y, W, H int
}

// trendCharts lays out, per currency, each participant's net position in
// the newest TrendPeriods closed periods of ps (newest first) whose report
// was read (Volumes not nil),
// oldest on the left. A participant without a figure in a period had no
// transfers in it: its net there is 0. With more than maxTrendRows
// participants the ones with the largest Σ|net| are drawn. Rows are
// ordered by label (name, or DID), bars share one scale per currency.
func (v View) trendCharts(ps []PeriodSummary) []trendChart {
	var shown []PeriodSummary // oldest first
	for _, p := range ps {
		if p.State != StateOpen && p.Volumes != nil && len(shown) < TrendPeriods {
			shown = append(shown, p)
		}
	}
	slices.Reverse(shown)
	if len(shown) == 0 {
		return nil
	}
	currencies := map[string]money.Currency{}
	for _, p := range shown {
		for _, a := range p.Volumes {
			currencies[a.Currency().Code] = a.Currency()
		}
	}
	abs := func(x int64) int64 {
		if x < 0 {
			return -x // Net ≥ −MaxInt64: cannot overflow
		}
		return x
	}
	var out []trendChart
	for _, code := range slices.Sorted(maps.Keys(currencies)) {
		c := currencies[code]
		nets := map[identity.DID][]int64{}
		weight := map[identity.DID]*big.Int{}
		for k, p := range shown {
			for _, f := range p.Figures {
				if f.Currency != code {
					continue
				}
				if nets[f.DID] == nil {
					nets[f.DID], weight[f.DID] = make([]int64, len(shown)), new(big.Int)
				}
				nets[f.DID][k] = f.Net
				weight[f.DID].Add(weight[f.DID], big.NewInt(abs(f.Net)))
			}
		}
		if len(nets) == 0 {
			continue
		}
		dids := slices.Collect(maps.Keys(nets))
		ch := trendChart{Code: code, Total: len(dids), First: shown[0].Period, Last: shown[len(shown)-1].Period}
		if len(dids) > maxTrendRows {
			slices.SortFunc(dids, func(a, b identity.DID) int { return cmp.Or(weight[b].Cmp(weight[a]), cmp.Compare(a, b)) })
			dids = dids[:maxTrendRows]
		}
		slices.SortFunc(dids, func(a, b identity.DID) int {
			la, lb := v.label(a), v.label(b)
			unnamed := func(w who) int {
				if w.Named {
					return 0
				}
				return 1
			}
			return cmp.Or(cmp.Compare(unnamed(la), unnamed(lb)), cmp.Compare(strings.ToLower(la.Label), strings.ToLower(lb.Label)), cmp.Compare(a, b))
		})
		var maxAbs int64
		for _, d := range dids {
			for _, n := range nets[d] {
				maxAbs = max(maxAbs, abs(n))
			}
		}
		ch.Shown = len(dids)
		ch.Width = chartLabelW + len(shown)*trendColW + trendValueW
		ch.Height = trendTop + len(dids)*trendRowH + 8
		for k, p := range shown {
			ch.Periods = append(ch.Periods, trendHead{Period: p.Period, X: chartLabelW + k*trendColW + trendColW/2, Y: trendTop - 10})
		}
		for r, d := range dids {
			y := trendTop + r*trendRowH
			row := trendRow{P: v.label(d), Y: y, ZeroY: y + trendRowH/2, TextY: y + trendRowH/2 + 4, LabelX: chartLabelW - 6,
				LineX2: chartLabelW + len(shown)*trendColW, LatestX: chartLabelW + len(shown)*trendColW + 6,
				Latest: money.FromUnits(nets[d][len(shown)-1], c).String()}
			row.P.Label = truncate(row.P.Label, 26)
			for k, n := range nets[d] {
				b := trendBar{Period: shown[k].Period, Value: money.FromUnits(n, c).String(), Negative: n < 0,
					X: chartLabelW + k*trendColW + (trendColW-trendBarW)/2, W: trendBarW}
				if maxAbs > 0 {
					b.H = scaleTo(abs(n), maxAbs, trendHalfH)
				}
				b.Y = row.ZeroY
				if n > 0 {
					b.Y = row.ZeroY - b.H
				}
				row.Bars = append(row.Bars, b)
			}
			ch.Rows = append(ch.Rows, row)
		}
		out = append(out, ch)
	}
	return out
}
