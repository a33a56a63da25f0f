package settlement

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// statuses returns v.Statuses padded with zero statuses to one per
// instruction (an instruction without a status is outstanding). More
// statuses than instructions is an error wrapping ErrInvalidArgument.
func (v View) statuses() ([]InstructionStatus, error) {
	n := len(v.Report.Instructions)
	if len(v.Statuses) > n {
		return nil, fmt.Errorf("%w: view has %d statuses for %d instructions", ErrInvalidArgument, len(v.Statuses), n)
	}
	out := make([]InstructionStatus, n)
	copy(out, v.Statuses)
	return out, nil
}

// figuresCSVHeader is the header row of WriteFiguresCSV.
var figuresCSVHeader = []string{"period", "currency", "did", "name", "sent", "received", "net", "sent_count", "received_count"}

// instructionsCSVHeader is the header row of WriteInstructionsCSV; the
// names are also InstructionRecord's JSON field names.
var instructionsCSVHeader = []string{"period", "index", "currency", "from", "from_name", "to", "to_name", "amount",
	"status", "paid", "paid_at", "method", "reference", "confirmed", "confirmed_at", "overdue", "mode", "asset", "asset_amount"}

// WriteFiguresCSV writes the per-participant figures of v's report as CSV
// (RFC 4180, a header row, then one row per participant and currency in the
// report's order: currency code, then DID). Amounts are decimal strings with
// the currency's scale, exactly as in the canonical report. Names are from
// v.Names (empty if unknown); a name that a spreadsheet would take for a
// formula is prefixed with an apostrophe.
func WriteFiguresCSV(w io.Writer, v View) error {
	r := &v.Report
	sc := r.scales()
	cw := csv.NewWriter(w)
	if err := cw.Write(figuresCSVHeader); err != nil {
		return fmt.Errorf("settlement: figures csv: %w", err)
	}
	p := strconv.FormatUint(r.Period, 10)
	for _, f := range r.Figures {
		rec := []string{p, f.Currency, string(f.DID), csvText(v.Names[f.DID]),
			amountString(f.Sent, f.Currency, sc), amountString(f.Received, f.Currency, sc), amountString(f.Net, f.Currency, sc),
			strconv.Itoa(f.SentCount), strconv.Itoa(f.ReceivedCount)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("settlement: figures csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("settlement: figures csv: %w", err)
	}
	return nil
}

// Instruction status keys, as InstructionRecord.Status, the CSV's status
// column and the pages' data-status attribute say them.
const (
	StatusOutstanding = "outstanding" // not yet marked paid
	StatusPaid        = "paid"        // marked paid by the payer, not yet confirmed
	StatusConfirmed   = "confirmed"   // receipt confirmed by the payee
)

// StatusKey is the status key of s: StatusConfirmed, StatusPaid or
// StatusOutstanding.
func (s InstructionStatus) StatusKey() string {
	switch {
	case s.Confirmed:
		return StatusConfirmed
	case s.Paid:
		return StatusPaid
	}
	return StatusOutstanding
}

// InstructionRecord is one settlement instruction with its status, as the
// instructions CSV and the CLI's JSON print it. Index is the instruction's
// index in the report, counting from 0: the number the signed report and
// the signed confirmations carry, that `icn settlement pay --instruction`
// takes and that the pages and co-op statements show. Amount is a decimal
// string in the currency's scale; times are RFC 3339 UTC, "" when not set.
type InstructionRecord struct {
	Period      uint64       `json:"period"`
	Index       int          `json:"index"`
	Currency    string       `json:"currency"`
	From        identity.DID `json:"from"`
	FromName    string       `json:"from_name"`
	To          identity.DID `json:"to"`
	ToName      string       `json:"to_name"`
	Amount      string       `json:"amount"`
	Status      string       `json:"status"` // StatusOutstanding, StatusPaid or StatusConfirmed
	Paid        bool         `json:"paid"`
	PaidAt      string       `json:"paid_at,omitempty"`
	Method      string       `json:"method,omitempty"`
	Reference   string       `json:"reference,omitempty"`
	Confirmed   bool         `json:"confirmed"`
	ConfirmedAt string       `json:"confirmed_at,omitempty"`
	Overdue     bool         `json:"overdue"`
	// How the instruction settles (the report's settlement mode) and, for
	// asset_swap and fiat, what is paid: AssetAmount of Asset. Mode is
	// hours_transfer for reports of version 1.
	Mode        string `json:"mode"`
	Asset       string `json:"asset,omitempty"`
	AssetAmount string `json:"asset_amount,omitempty"`
}

// InstructionRecords returns v's instructions with their status, in the
// report's order (record i is the report's instruction i). Names are from
// v.Names ("" if unknown). An error (wrapping ErrInvalidArgument) only for
// more statuses than instructions.
func InstructionRecords(v View) ([]InstructionRecord, error) {
	st, err := v.statuses()
	if err != nil {
		return nil, err
	}
	r := &v.Report
	sc := r.scales()
	out := make([]InstructionRecord, len(r.Instructions))
	for i, in := range r.Instructions {
		s := st[i]
		out[i] = InstructionRecord{Period: r.Period, Index: i, Currency: in.Currency,
			From: in.From, FromName: v.Names[in.From], To: in.To, ToName: v.Names[in.To],
			Amount: amountString(in.Amount, in.Currency, sc), Status: s.StatusKey(),
			Paid: s.Paid, PaidAt: optTime(s.PaidAt), Method: s.Method, Reference: s.Reference,
			Confirmed: s.Confirmed, ConfirmedAt: optTime(s.ConfirmedAt), Overdue: s.Overdue, Mode: in.Mode}
		if out[i].Mode == "" {
			out[i].Mode = ModeHoursTransfer // version 1
		}
		if in.Asset != (money.Currency{}) {
			out[i].Asset, out[i].AssetAmount = in.Asset.Code, money.FromUnits(in.AssetAmount, in.Asset).String()
		}
	}
	return out, nil
}

// WriteInstructionsCSV writes v's settlement instructions with their status
// as CSV (RFC 4180, a header row, then one row per instruction in the
// report's order): the fields of InstructionRecords, under their JSON
// names. index is the instruction's index in the report, from 0, as
// everywhere else. Booleans are "true"/"false", times RFC 3339 UTC (empty
// when not set). Free text (names, methods, references) that a spreadsheet
// would take for a formula is prefixed with an apostrophe. The hub's pages
// and `icn settlement show -o csv` both write with it.
func WriteInstructionsCSV(w io.Writer, v View) error {
	recs, err := InstructionRecords(v)
	if err != nil {
		return fmt.Errorf("settlement: instructions csv: %w", err)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(instructionsCSVHeader); err != nil {
		return fmt.Errorf("settlement: instructions csv: %w", err)
	}
	for _, x := range recs {
		rec := []string{strconv.FormatUint(x.Period, 10), strconv.Itoa(x.Index), x.Currency,
			string(x.From), csvText(x.FromName), string(x.To), csvText(x.ToName), x.Amount, x.Status,
			strconv.FormatBool(x.Paid), x.PaidAt, csvText(x.Method), csvText(x.Reference),
			strconv.FormatBool(x.Confirmed), x.ConfirmedAt, strconv.FormatBool(x.Overdue), x.Mode, x.Asset, x.AssetAmount}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("settlement: instructions csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("settlement: instructions csv: %w", err)
	}
	return nil
}

// csvText defuses a free-text cell that spreadsheets would evaluate as a
// formula (OWASP "CSV injection"): it prefixes an apostrophe.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// optTime formats unix ns as RFC 3339 UTC, or "" for 0 (not set).
func optTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return formatTime(ns)
}

func optTimePtr(ns int64) *string {
	if ns == 0 {
		return nil
	}
	s := formatTime(ns)
	return &s
}

type viewJSON struct {
	Report     json.RawMessage         `json:"report"`
	State      string                  `json:"state"`
	Signatures []Signature             `json:"signatures"`
	HubNodes   []identity.DID          `json:"hub_nodes"`
	Quorum     int                     `json:"quorum"`
	Statuses   []statusJSON            `json:"statuses"`
	Deadline   *string                 `json:"deadline"`
	Names      map[identity.DID]string `json:"names"`
}

type statusJSON struct {
	Paid        bool    `json:"paid"`
	PaidAt      *string `json:"paid_at"`
	Method      string  `json:"method"`
	Reference   string  `json:"reference"`
	Confirmed   bool    `json:"confirmed"`
	ConfirmedAt *string `json:"confirmed_at"`
	Overdue     bool    `json:"overdue"`
}

// ViewJSON encodes v for the API and downloads as one JSON object:
//
//	{"report": <Report.Canonical, byte for byte>, "state": "final",
//	 "signatures": [{"signer","sig"}], "hub_nodes": ["did:icn:…"], "quorum": 2,
//	 "statuses": [{"paid","paid_at","method","reference","confirmed","confirmed_at","overdue"}],
//	 "deadline": "<RFC 3339>" or null, "names": {"did:icn:…": "name"}}
//
// statuses has one entry per report instruction, in the same order (a
// missing status is outstanding); times are RFC 3339 UTC or null when not
// set. Arrays and the names object are never null. An error (wrapping
// ErrInvalidArgument) only for more statuses than instructions.
func ViewJSON(v View) ([]byte, error) {
	st, err := v.statuses()
	if err != nil {
		return nil, fmt.Errorf("settlement: view json: %w", err)
	}
	j := viewJSON{
		Report: v.Report.Canonical(), State: v.State, Quorum: v.Quorum,
		Signatures: v.Signatures, HubNodes: v.HubNodes,
		Statuses: make([]statusJSON, len(st)), Deadline: optTimePtr(v.Deadline),
		Names: v.Names,
	}
	if j.Signatures == nil {
		j.Signatures = []Signature{}
	}
	if j.HubNodes == nil {
		j.HubNodes = []identity.DID{}
	}
	if j.Names == nil {
		j.Names = map[identity.DID]string{}
	}
	for i, s := range st {
		j.Statuses[i] = statusJSON{Paid: s.Paid, PaidAt: optTimePtr(s.PaidAt), Method: s.Method, Reference: s.Reference,
			Confirmed: s.Confirmed, ConfirmedAt: optTimePtr(s.ConfirmedAt), Overdue: s.Overdue}
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("settlement: view json: %w", err)
	}
	return b, nil
}
