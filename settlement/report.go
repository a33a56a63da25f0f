package settlement

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Versions of the canonical report. Version 1 reports (periods closed before
// settlement modes) have no settlement rules and no instruction modes; every
// instruction of theirs settles by hours transfer. A period's report keeps
// the version it was closed under, so that it rebuilds to the bytes the hub
// nodes signed.
const (
	ReportVersion1 = 1
	ReportVersion  = 2 // the current version
)

// Header identifies a settlement period.
type Header struct {
	Federation identity.DID // the federation whose hub cluster clears the period
	Period     uint64       // period number (≥ 1)
	OpenedAt   int64        // unix ns
	ClosedAt   int64        // unix ns
}

// Report is the settlement report of one period. Amounts are minor units of
// their currency; the scale of each currency is in Currencies.
type Report struct {
	Header
	Version int // ReportVersion1 or ReportVersion (0 reads as ReportVersion)
	Netting     // per-currency totals and per-participant figures
	// Policy holds the settlement rule of each of the report's currencies,
	// sorted by code (empty in version 1).
	Policy       Policy
	Instructions []Instruction // exactly Instruct(Netting, Policy)
	Transfers    int           // committed transfers in the period
	MerkleRoot   [32]byte      // root of the Tree over the period's committed transfers
}

// ReportInput is what a report is built from: the period, its committed
// transfers, the currencies, and what the state machine recorded when the
// period closed.
type ReportInput struct {
	Header
	Transfers  []clearing.Transfer
	Currencies money.Currencies
	// Version is the report version the period closed under (0: the current).
	Version int
	// Policy is the settlement policy in force at the close (ignored for
	// version 1).
	Policy Policy
	// Recorded are the instructions recorded at the close. The report
	// carries them; BuildReport fails unless they are exactly the ones the
	// netting and the policy give, so the instructions treasurers confirm and
	// the report the hubs sign can never differ. Nil: not checked (tools).
	Recorded []Instruction
}

// BuildReport nets the period's committed transfers, builds the settlement
// instructions and the Merkle root, and returns the report. Every transfer
// must satisfy the rules of Net and belong to in.Period; every currency must
// be in in.Currencies with the same scale. The header must be valid
// (well-formed federation DID, period ≥ 1, OpenedAt ≤ ClosedAt).
func BuildReport(in ReportInput) (Report, error) {
	h, transfers, cs := in.Header, in.Transfers, in.Currencies
	if err := h.check(); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	s, err := scanTransfers(transfers, false) // rootOf finds repeated ids
	if err != nil {
		return Report{}, err
	}
	root, err := rootOf(transfers)
	if err != nil {
		return Report{}, err
	}
	if len(transfers) > 0 && s.period != h.Period {
		return Report{}, &TransferError{ID: transfers[0].ID, Kind: ErrInvalidTransfer,
			Detail: fmt.Sprintf("period %d, the report is for period %d", s.period, h.Period)}
	}
	for _, c := range s.curs {
		if known, err := cs.Lookup(c.Code); err != nil || known != c {
			return Report{}, fmt.Errorf("%w: currency %s with scale %d is not among the known currencies", ErrInvalidArgument, c.Code, c.Scale)
		}
	}
	n, err := s.netting(transfers)
	if err != nil {
		return Report{}, err
	}
	r := Report{Header: h, Version: in.Version, Netting: n, Transfers: len(transfers), MerkleRoot: root}
	if r.Version == 0 {
		r.Version = ReportVersion
	}
	if err := r.instruct(in.Policy); err != nil {
		return Report{}, err
	}
	if in.Recorded != nil && !slices.Equal(in.Recorded, r.Instructions) {
		return Report{}, fmt.Errorf("%w: the %d instructions recorded at the close are not the %d the period's transfers give",
			ErrInstructionsDiffer, len(in.Recorded), len(r.Instructions))
	}
	return r, nil
}

// instruct sets r's policy (version 2: the rule of each of its currencies)
// and instructions.
func (r *Report) instruct(p Policy) error {
	if r.Version == ReportVersion1 {
		r.Policy, r.Instructions = nil, plan(r.Netting)
		return nil
	}
	codes := make([]string, len(r.Currencies))
	for i, t := range r.Currencies {
		codes[i] = t.Currency.Code
	}
	r.Policy = p.For(codes)
	if err := r.Policy.Check(); err != nil {
		return err
	}
	ins, err := Instruct(r.Netting, r.Policy, r.currencies())
	if err != nil {
		return err
	}
	r.Instructions = ins
	return nil
}

// currencies are the report's currencies by code.
func (r *Report) currencies() money.Currencies {
	cs := make(money.Currencies, len(r.Currencies))
	for _, t := range r.Currencies {
		cs[t.Currency.Code] = t.Currency
	}
	return cs
}

func (h Header) check() error {
	if _, _, err := identity.ParseDID(string(h.Federation)); err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	if h.Period == 0 {
		return fmt.Errorf("period 0")
	}
	if h.OpenedAt > h.ClosedAt {
		return fmt.Errorf("period %d opened at %d after it closed at %d", h.Period, h.OpenedAt, h.ClosedAt)
	}
	return nil
}

// The canonical JSON form. encoding/json writes struct fields in declaration
// order without white space; see the package documentation.
type reportJSON struct {
	Version      int               `json:"version"`
	Federation   identity.DID      `json:"federation"`
	Period       uint64            `json:"period"`
	OpenedAt     string            `json:"opened_at"`
	ClosedAt     string            `json:"closed_at"`
	Transfers    int               `json:"transfers"`
	MerkleRoot   string            `json:"merkle_root"`
	Currencies   []totalsJSON      `json:"currencies"`
	Settlement   []ruleJSON        `json:"settlement,omitempty"` // version 2
	Participants []figuresJSON     `json:"participants"`
	Instructions []instructionJSON `json:"instructions"`
}

type ruleJSON struct {
	Currency   string `json:"currency"`
	Mode       string `json:"mode"`
	Asset      string `json:"asset,omitempty"`
	AssetScale *int32 `json:"asset_scale,omitempty"`
	Rate       string `json:"rate,omitempty"`
}

type totalsJSON struct {
	Currency        string `json:"currency"`
	Scale           int32  `json:"scale"`
	Transfers       int    `json:"transfers"`
	Volume          string `json:"volume"`
	NetDebit        string `json:"net_debit"`
	LiquiditySaving string `json:"liquidity_saving"`
}

type figuresJSON struct {
	Currency      string       `json:"currency"`
	DID           identity.DID `json:"did"`
	Sent          string       `json:"sent"`
	Received      string       `json:"received"`
	Net           string       `json:"net"`
	SentCount     int          `json:"sent_count"`
	ReceivedCount int          `json:"received_count"`
}

type instructionJSON struct {
	Currency    string       `json:"currency"`
	From        identity.DID `json:"from"`
	To          identity.DID `json:"to"`
	Amount      string       `json:"amount"`
	Mode        string       `json:"mode,omitempty"` // version 2
	Asset       string       `json:"asset,omitempty"`
	AssetAmount string       `json:"asset_amount,omitempty"`
}

// formatTime writes unix ns as RFC 3339 UTC with the fraction's trailing
// zeros removed (time.RFC3339Nano).
func formatTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// scales maps currency codes to their currency; a code the report does not
// list formats with scale 0 (such a report fails Check).
func (r *Report) scales() map[string]money.Currency {
	m := make(map[string]money.Currency, len(r.Currencies))
	for _, t := range r.Currencies {
		m[t.Currency.Code] = t.Currency
	}
	return m
}

func amountString(units int64, code string, scales map[string]money.Currency) string {
	c, ok := scales[code]
	if !ok {
		c = money.Currency{Code: code}
	}
	return money.FromUnits(units, c).String()
}

// Canonical returns the canonical JSON encoding of the report (see the
// package documentation). It is defined for every Report; ParseReport
// accepts it back exactly when the report passes Check.
func (r Report) Canonical() []byte {
	sc := r.scales()
	j := reportJSON{
		Version: r.version(), Federation: r.Federation, Period: r.Period,
		OpenedAt: formatTime(r.OpenedAt), ClosedAt: formatTime(r.ClosedAt),
		Transfers: r.Transfers, MerkleRoot: hex.EncodeToString(r.MerkleRoot[:]),
		Currencies:   make([]totalsJSON, len(r.Currencies)),
		Participants: make([]figuresJSON, len(r.Figures)),
		Instructions: make([]instructionJSON, len(r.Instructions)),
	}
	for i, t := range r.Currencies {
		j.Currencies[i] = totalsJSON{
			Currency: t.Currency.Code, Scale: t.Currency.Scale, Transfers: t.Transfers,
			Volume:          money.FromUnits(t.Volume, t.Currency).String(),
			NetDebit:        money.FromUnits(t.NetDebit, t.Currency).String(),
			LiquiditySaving: t.LiquiditySavingString(),
		}
	}
	for i, f := range r.Figures {
		j.Participants[i] = figuresJSON{
			Currency: f.Currency, DID: f.DID,
			Sent: amountString(f.Sent, f.Currency, sc), Received: amountString(f.Received, f.Currency, sc),
			Net: amountString(f.Net, f.Currency, sc), SentCount: f.SentCount, ReceivedCount: f.ReceivedCount,
		}
	}
	for _, rule := range r.Policy {
		rj := ruleJSON{Currency: rule.Currency, Mode: rule.Mode}
		if rule.Mode != ModeHoursTransfer {
			scale := rule.Asset.Scale
			rj.Asset, rj.AssetScale, rj.Rate = rule.Asset.Code, &scale, rule.Rate.String()
		}
		j.Settlement = append(j.Settlement, rj)
	}
	for i, in := range r.Instructions {
		ij := instructionJSON{Currency: in.Currency, From: in.From, To: in.To, Amount: amountString(in.Amount, in.Currency, sc), Mode: in.Mode}
		if in.Asset != (money.Currency{}) {
			ij.Asset, ij.AssetAmount = in.Asset.Code, money.FromUnits(in.AssetAmount, in.Asset).String()
		}
		j.Instructions[i] = ij
	}
	b, err := json.Marshal(j)
	if err != nil { // only strings, integers and slices of them: cannot fail
		panic("settlement: marshal report: " + err.Error())
	}
	return b
}

func (r Report) version() int {
	if r.Version == 0 {
		return ReportVersion
	}
	return r.Version
}

// Hash returns SHA-256 of the canonical encoding: what hub nodes sign.
func (r Report) Hash() [32]byte { return sha256.Sum256(r.Canonical()) }

// MarshalJSON returns Canonical.
func (r Report) MarshalJSON() ([]byte, error) { return r.Canonical(), nil }

// UnmarshalJSON is ParseReport.
func (r *Report) UnmarshalJSON(b []byte) error {
	p, err := ParseReport(b)
	if err != nil {
		return err
	}
	*r = p
	return nil
}

// maxReport bounds the input of ParseReport (64 MiB: far above the report of
// a federation of 10,000 co-ops in a few currencies).
const maxReport = 64 << 20

// ParseReport reads a report in canonical form. It fails (wrapping
// ErrInvalidReport) unless data is exactly the Canonical encoding of a
// report that passes Check, so a parsed report's Hash is SHA-256(data).
func ParseReport(data []byte) (Report, error) {
	if len(data) > maxReport {
		return Report{}, invalidReport("%d bytes, more than %d", len(data), maxReport)
	}
	var j reportJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Report{}, invalidReport("%v", err)
	}
	if j.Version != ReportVersion && j.Version != ReportVersion1 {
		return Report{}, invalidReport("version %d, want %d or %d", j.Version, ReportVersion1, ReportVersion)
	}
	r := Report{
		Header:    Header{Federation: j.Federation, Period: j.Period},
		Version:   j.Version,
		Transfers: j.Transfers,
		Netting: Netting{
			Currencies: make([]Totals, len(j.Currencies)),
			Figures:    make([]Figures, len(j.Participants)),
		},
		Instructions: make([]Instruction, len(j.Instructions)),
	}
	var err error
	if r.OpenedAt, err = parseTime(j.OpenedAt); err != nil {
		return Report{}, invalidReport("opened_at: %v", err)
	}
	if r.ClosedAt, err = parseTime(j.ClosedAt); err != nil {
		return Report{}, invalidReport("closed_at: %v", err)
	}
	if r.MerkleRoot, err = parseHash(j.MerkleRoot); err != nil {
		return Report{}, invalidReport("merkle_root: %v", err)
	}
	scales := map[string]money.Currency{}
	for i, t := range j.Currencies {
		c := money.Currency{Code: t.Currency, Scale: t.Scale}
		if err := c.Validate(); err != nil {
			return Report{}, invalidReport("currencies[%d]: %v", i, err)
		}
		scales[c.Code] = c
		r.Currencies[i] = Totals{Currency: c, Transfers: t.Transfers}
		if r.Currencies[i].Volume, err = parseUnits(t.Volume, c.Code, scales); err != nil {
			return Report{}, invalidReport("currencies[%d].volume: %v", i, err)
		}
		if r.Currencies[i].NetDebit, err = parseUnits(t.NetDebit, c.Code, scales); err != nil {
			return Report{}, invalidReport("currencies[%d].net_debit: %v", i, err)
		}
	}
	for i, f := range j.Participants {
		g := Figures{Currency: f.Currency, DID: f.DID, SentCount: f.SentCount, ReceivedCount: f.ReceivedCount}
		if g.Sent, err = parseUnits(f.Sent, f.Currency, scales); err != nil {
			return Report{}, invalidReport("participants[%d].sent: %v", i, err)
		}
		if g.Received, err = parseUnits(f.Received, f.Currency, scales); err != nil {
			return Report{}, invalidReport("participants[%d].received: %v", i, err)
		}
		if g.Net, err = parseUnits(f.Net, f.Currency, scales); err != nil {
			return Report{}, invalidReport("participants[%d].net: %v", i, err)
		}
		r.Figures[i] = g
	}
	for i, rj := range j.Settlement {
		rule, err := parseRule(rj)
		if err != nil {
			return Report{}, invalidReport("settlement[%d]: %v", i, err)
		}
		r.Policy = append(r.Policy, rule)
	}
	for i, in := range j.Instructions {
		x := Instruction{Currency: in.Currency, From: in.From, To: in.To, Mode: in.Mode}
		if x.Amount, err = parseUnits(in.Amount, in.Currency, scales); err != nil {
			return Report{}, invalidReport("instructions[%d].amount: %v", i, err)
		}
		if in.Asset != "" || in.AssetAmount != "" {
			x.Asset = r.Policy.Rule(in.Currency).Asset
			if x.Asset.Code != in.Asset {
				return Report{}, invalidReport("instructions[%d].asset %.20q is not the asset of %s's rule", i, in.Asset, in.Currency)
			}
			a, err := money.Parse(in.AssetAmount, x.Asset)
			if err != nil {
				return Report{}, invalidReport("instructions[%d].asset_amount: %v", i, err)
			}
			x.AssetAmount = a.Units()
		}
		r.Instructions[i] = x
	}
	if err := r.Check(); err != nil {
		return Report{}, err
	}
	if !bytes.Equal(r.Canonical(), data) {
		return Report{}, invalidReport("not in canonical form")
	}
	return r, nil
}

func parseRule(rj ruleJSON) (Rule, error) {
	r := Rule{Currency: rj.Currency, Mode: rj.Mode}
	if rj.Mode == ModeHoursTransfer {
		if rj.Asset != "" || rj.AssetScale != nil || rj.Rate != "" {
			return Rule{}, fmt.Errorf("%s by %s has no asset and no rate", rj.Currency, rj.Mode)
		}
		return r, nil
	}
	if rj.AssetScale == nil {
		return Rule{}, fmt.Errorf("%s by %s: asset_scale missing", rj.Currency, rj.Mode)
	}
	r.Asset = money.Currency{Code: rj.Asset, Scale: *rj.AssetScale}
	rate, err := ParseRate(rj.Rate)
	if err != nil {
		return Rule{}, err
	}
	r.Rate = rate
	return r, r.Check()
}

func parseTime(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixNano(), nil // out of range or not canonical: the final comparison fails
}

func parseUnits(s, code string, scales map[string]money.Currency) (int64, error) {
	c, ok := scales[code]
	if !ok {
		return 0, fmt.Errorf("currency %.40q is not listed in currencies", code)
	}
	a, err := money.Parse(s, c)
	if err != nil {
		return 0, err
	}
	return a.Units(), nil
}

// Check verifies that the report is well formed and internally consistent,
// so that a reader needs to trust nothing but the Merkle root and the
// transfers behind it:
//   - the header is valid; currencies are valid, sorted by code, each with
//     transfers ≥ 1 and 0 ≤ net_debit ≤ volume; their transfers add up to
//     Transfers; no transfers means the empty root;
//   - figures are sorted by (currency, DID) without repeats, in a listed
//     currency, with well-formed DIDs, Net = Received − Sent, non-negative
//     gross figures and counts that agree with them (an amount is ≥ 1 unit);
//   - per currency: Σ sent = Σ received = volume, Σ sent_count =
//     Σ received_count = transfers, Σ net debits = net_debit;
//   - version 2: one settlement rule per currency, in code order, each
//     valid; version 1: none;
//   - Instructions is exactly Instruct(r.Netting, r.Policy) (version 1:
//     the same payments, without modes).
//
// Errors wrap ErrInvalidReport.
func (r Report) Check() error {
	if err := r.Header.check(); err != nil {
		return invalidReport("%v", err)
	}
	if r.Transfers < 0 {
		return invalidReport("transfers %d", r.Transfers)
	}
	if r.Transfers == 0 && r.MerkleRoot != emptyRoot {
		return invalidReport("no transfers but the Merkle root is not the empty root")
	}
	type sums struct {
		sent, received, debit int64
		sentN, recvN          int
	}
	idx := make(map[string]int, len(r.Currencies))
	total := 0
	for i, t := range r.Currencies {
		if err := t.Currency.Validate(); err != nil {
			return invalidReport("currencies[%d]: %v", i, err)
		}
		if i > 0 && r.Currencies[i-1].Currency.Code >= t.Currency.Code {
			return invalidReport("currencies not sorted by code or repeated at %s", t.Currency.Code)
		}
		if t.Transfers < 1 || t.Transfers > r.Transfers-total {
			return invalidReport("%s: %d transfers (report total %d)", t.Currency.Code, t.Transfers, r.Transfers)
		}
		total += t.Transfers
		if t.Volume < int64(t.Transfers) || t.NetDebit < 0 || t.NetDebit > t.Volume {
			return invalidReport("%s: volume %d, net debit %d for %d transfers", t.Currency.Code, t.Volume, t.NetDebit, t.Transfers)
		}
		idx[t.Currency.Code] = i
	}
	if total != r.Transfers {
		return invalidReport("currencies hold %d transfers, the report %d", total, r.Transfers)
	}
	s := make([]sums, len(r.Currencies))
	for i, f := range r.Figures {
		ci, ok := idx[f.Currency]
		if !ok {
			return invalidReport("participants[%d]: currency %.40q not listed", i, f.Currency)
		}
		if i > 0 && compareFigures(r.Figures[i-1], f) >= 0 {
			return invalidReport("participants not sorted by (currency, did) or repeated at %s %s", f.Currency, f.DID)
		}
		if _, _, err := identity.ParseDID(string(f.DID)); err != nil {
			return invalidReport("participants[%d]: %v", i, err)
		}
		if f.Sent < 0 || f.Received < 0 || f.SentCount < 0 || f.ReceivedCount < 0 ||
			(f.Sent == 0) != (f.SentCount == 0) || (f.Received == 0) != (f.ReceivedCount == 0) ||
			f.Sent < int64(f.SentCount) || f.Received < int64(f.ReceivedCount) || f.SentCount == 0 && f.ReceivedCount == 0 {
			return invalidReport("participants[%d] %s %s: inconsistent gross figures", i, f.Currency, f.DID)
		}
		if f.Net != f.Received-f.Sent {
			return invalidReport("participants[%d] %s %s: net %d ≠ received − sent", i, f.Currency, f.DID, f.Net)
		}
		x := &s[ci]
		var ok1, ok2, ok3 bool
		x.sent, ok1 = addCheck(x.sent, f.Sent)
		x.received, ok2 = addCheck(x.received, f.Received)
		x.debit, ok3 = addCheck(x.debit, max(-f.Net, 0))
		if !ok1 || !ok2 || !ok3 || x.sentN > math.MaxInt-f.SentCount || x.recvN > math.MaxInt-f.ReceivedCount {
			return invalidReport("%s: sums overflow", f.Currency)
		}
		x.sentN += f.SentCount
		x.recvN += f.ReceivedCount
	}
	for i, t := range r.Currencies {
		x := s[i]
		if x.sent != t.Volume || x.received != t.Volume || x.sentN != t.Transfers || x.recvN != t.Transfers || x.debit != t.NetDebit {
			return invalidReport("%s: participants' figures do not add up to the currency totals", t.Currency.Code)
		}
	}
	want := Report{Version: r.version(), Netting: r.Netting}
	if err := want.instruct(r.Policy); err != nil {
		return invalidReport("settlement: %v", err)
	}
	if !slices.EqualFunc(r.Policy, want.Policy, equalRule) {
		return invalidReport("settlement rules are not one per currency of the report, in code order")
	}
	if !slices.Equal(r.Instructions, want.Instructions) {
		return invalidReport("instructions are not the ones the netting and the settlement rules determine")
	}
	return nil
}

func equalRule(a, b Rule) bool {
	return a.Currency == b.Currency && a.Mode == b.Mode && a.Asset == b.Asset && a.Rate.Equal(b.Rate)
}

func addCheck(x, y int64) (int64, bool) {
	s := x + y
	return s, (s > x) == (y > 0)
}
