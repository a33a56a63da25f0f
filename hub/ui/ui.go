// Package ui serves the treasurers' web pages: the settlement periods, each
// period's report, figures, instructions and signatures, and the trend of
// each co-op's net position across periods.
//
// The pages are rendered by package settlement (no script, no outside
// resource) and served under a strict Content-Security-Policy; the same data
// is offered as JSON and CSV downloads. Handler takes its data from a
// Source; RemoteSource reads it from a hub cluster's control plane with the
// caller's key, which is how `icn settlement ui` serves the pages to a
// treasurer's browser on 127.0.0.1. The hub itself serves no pages: its
// HTTP listener is for /metrics and health only, and every settlement read
// goes through the control plane's authentication (a TLS client
// certificate over an operator's or a registered participant's key).
package ui

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/icn-coop/icn/settlement"
)

// Errors a Source's error may wrap; the pages answer them with 404
// not_found, 403 forbidden and 503 unavailable.
var (
	// ErrNotFound: no such closed period.
	ErrNotFound = errors.New("ui: not found")
	// ErrForbidden: the source's credentials may not read the data.
	ErrForbidden = errors.New("ui: forbidden")
	// ErrUnavailable: the source could not be reached; try again.
	ErrUnavailable = errors.New("ui: unavailable")
)

// Source is where the pages get their data; the hub implements it over its
// settlement history.
type Source interface {
	// Periods lists the settlement periods, in any order.
	Periods(ctx context.Context) ([]settlement.PeriodSummary, error)
	// View returns a closed period's view, or an error wrapping ErrNotFound
	// if there is no such closed period.
	View(ctx context.Context, period uint64) (settlement.View, error)
}

// Prefix is the path under which Handler serves.
const Prefix = "/ui/settlement/"

// Handler serves, for GET and HEAD:
//
//	/ui/settlement/                      the list of periods with their counts and downloads, and
//	                                     the trend of each co-op's net position (HTML)
//	/ui/settlement/{n}                   period n (HTML)
//	/ui/settlement/{n}/report.json       the canonical report (the bytes the hub nodes sign)
//	/ui/settlement/{n}/view.json         settlement.ViewJSON
//	/ui/settlement/{n}/figures.csv       settlement.WriteFiguresCSV
//	/ui/settlement/{n}/instructions.csv  settlement.WriteInstructionsCSV
//
// Errors are JSON, {"error":{"code":"…","message":"…"}}: 400 bad_period for
// a period that is not a canonical decimal ≥ 1, 403 forbidden (the
// source's credentials may not read it), 404 not_found, 405
// method_not_allowed (with Allow), 503 unavailable when the request's
// context ended or the source could not be reached, 500 internal (logged with log/slog; the body says no
// more). clock gives the time the pages show and judge deadlines by. Links
// between pages are relative, so the handler works wherever Prefix ends up
// after the hub's routing, as long as the paths reach it unchanged.
func Handler(src Source, clock func() time.Time) http.Handler {
	h := &handler{src: src, clock: clock, csp: settlement.ContentSecurityPolicy()}
	mux := http.NewServeMux()
	mux.HandleFunc(Prefix+"{$}", h.index)
	mux.HandleFunc(Prefix+"{n}", h.period)
	mux.HandleFunc(Prefix+"{n}/{file}", h.download)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "not_found", "no such page")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", h.csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			hd.Set("Allow", "GET, HEAD")
			h.fail(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "only GET and HEAD are allowed")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type handler struct {
	src   Source
	clock func() time.Time
	csp   string
}

func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	ps, err := h.src.Periods(r.Context())
	if err != nil {
		h.sourceError(w, r, fmt.Errorf("ui: list periods: %w", err))
		return
	}
	idx, err := h.indexData(r.Context(), ps)
	if err != nil {
		h.sourceError(w, r, err)
		return
	}
	var b bytes.Buffer
	opt := settlement.PageOptions{Now: h.clock().UnixNano(),
		PeriodURL:     func(p uint64) string { return strconv.FormatUint(p, 10) },
		PeriodFileURL: func(p uint64, file string) string { return strconv.FormatUint(p, 10) + "/" + file }}
	if err := settlement.RenderIndexHTML(&b, idx, opt); err != nil {
		h.internal(w, r, fmt.Errorf("ui: index: %w", err))
		return
	}
	h.send(w, r, "text/html; charset=utf-8", "", b.Bytes())
}

// indexData completes the summaries of the newest settlement.TrendPeriods
// closed periods from their views (volumes and figures for the trend
// charts), and takes the federation and the names from the newest view.
// The older ones are shown as the source summarised them.
func (h *handler) indexData(ctx context.Context, ps []settlement.PeriodSummary) (settlement.Index, error) {
	idx := settlement.Index{Periods: slices.Clone(ps)}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ps[b].Period, ps[a].Period) })
	read := 0
	for _, i := range order {
		p := ps[i]
		if p.State == settlement.StateOpen || read == settlement.TrendPeriods {
			continue
		}
		v, err := h.src.View(ctx, p.Period)
		if errors.Is(err, ErrNotFound) {
			continue // gone between the two reads: show the summary
		}
		if err != nil {
			return settlement.Index{}, fmt.Errorf("ui: index: period %d: %w", p.Period, err)
		}
		if read == 0 {
			idx.Federation, idx.Names = v.Report.Federation, v.Names
		}
		read++
		idx.Periods[i] = v.Summary()
	}
	return idx, nil
}

func (h *handler) period(w http.ResponseWriter, r *http.Request) {
	n, v, ok := h.view(w, r)
	if !ok {
		return
	}
	base := strconv.FormatUint(n, 10) + "/"
	opt := settlement.PageOptions{
		IndexURL: "./", ReportJSONURL: base + "report.json", ViewJSONURL: base + "view.json",
		FiguresCSVURL: base + "figures.csv", InstructionsCSVURL: base + "instructions.csv",
		Now: h.clock().UnixNano(),
	}
	var b bytes.Buffer
	if err := settlement.RenderHTML(&b, v, opt); err != nil {
		h.internal(w, r, fmt.Errorf("ui: period %d: %w", n, err))
		return
	}
	h.send(w, r, "text/html; charset=utf-8", "", b.Bytes())
}

func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	switch file {
	case "report.json", "view.json", "figures.csv", "instructions.csv":
	default:
		if _, err := parsePeriod(r.PathValue("n")); err != nil {
			h.fail(w, r, http.StatusBadRequest, "bad_period", err.Error())
			return
		}
		h.fail(w, r, http.StatusNotFound, "not_found", "no such download")
		return
	}
	n, v, ok := h.view(w, r)
	if !ok {
		return
	}
	var (
		body  []byte
		ctype string
		err   error
	)
	switch file {
	case "report.json":
		body, ctype = v.Report.Canonical(), "application/json"
	case "view.json":
		body, err = settlement.ViewJSON(v)
		ctype = "application/json"
	case "figures.csv", "instructions.csv":
		var b bytes.Buffer
		if file == "figures.csv" {
			err = settlement.WriteFiguresCSV(&b, v)
		} else {
			err = settlement.WriteInstructionsCSV(&b, v)
		}
		body, ctype = b.Bytes(), "text/csv; charset=utf-8; header=present"
	}
	if err != nil {
		h.internal(w, r, fmt.Errorf("ui: period %d %s: %w", n, file, err))
		return
	}
	name := "icn-settlement-" + strconv.FormatUint(n, 10) + "-" + file
	h.send(w, r, ctype, mime.FormatMediaType("attachment", map[string]string{"filename": name}), body)
}

// view parses the period of the path and fetches its view; on failure it
// has answered the request.
func (h *handler) view(w http.ResponseWriter, r *http.Request) (uint64, settlement.View, bool) {
	n, err := parsePeriod(r.PathValue("n"))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "bad_period", err.Error())
		return 0, settlement.View{}, false
	}
	v, err := h.src.View(r.Context(), n)
	if err != nil {
		h.sourceError(w, r, fmt.Errorf("ui: period %d: %w", n, err))
		return 0, settlement.View{}, false
	}
	if v.Report.Period != n {
		h.internal(w, r, fmt.Errorf("ui: source returned period %d for period %d", v.Report.Period, n))
		return 0, settlement.View{}, false
	}
	return n, v, true
}

// parsePeriod accepts exactly the canonical decimal of a period ≥ 1.
func parsePeriod(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("period %.40q is not a number from 1 to %d without leading zeros", s, uint64(1<<64-1))
	}
	return n, nil
}

func (h *handler) send(w http.ResponseWriter, r *http.Request, ctype, disposition string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if disposition != "" {
		hd.Set("Content-Disposition", disposition)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client went away: nothing to do
	}
}

func (h *handler) sourceError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "not_found", "no such settlement period")
	case errors.Is(err, ErrForbidden):
		slog.WarnContext(r.Context(), "settlement ui: refused", "path", r.URL.Path, "err", err)
		h.fail(w, r, http.StatusForbidden, "forbidden", "the hub refused this key: use a co-op's key (the DID it is registered under) or an operator's")
	case errors.Is(err, ErrUnavailable):
		slog.WarnContext(r.Context(), "settlement ui: hub unavailable", "path", r.URL.Path, "err", err)
		h.fail(w, r, http.StatusServiceUnavailable, "unavailable", "no hub node answered; try again")
	case r.Context().Err() != nil:
		h.fail(w, r, http.StatusServiceUnavailable, "unavailable", "the request ended before the data was read")
	default:
		h.internal(w, r, err)
	}
}

func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "settlement ui", "method", r.Method, "path", r.URL.Path, "err", err)
	h.fail(w, r, http.StatusInternalServerError, "internal", "internal error")
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	var e errorBody
	e.Error.Code, e.Error.Message = code, msg
	b, err := json.Marshal(e)
	if err != nil { // two strings: cannot fail
		panic("ui: marshal error body: " + err.Error())
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Del("Content-Disposition")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
