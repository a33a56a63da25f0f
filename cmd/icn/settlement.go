package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/hub/ui"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

func operatorSettlementCmd() *cobra.Command {
	o := &hubOpts{csv: true}
	cmd := &cobra.Command{
		Use:   "settlement",
		Short: "Settlement periods: reports, proofs, offline verification and payment confirmations",
		Long: `A settlement period closes on the hub's schedule ([settlement] in hub.toml) or
on "icn settlement close". Every hub node then builds the period's report from
its own state and signs it; the report is final once a majority of the voting
hub nodes signed. Each instruction is marked paid by the payer's treasurer and
confirmed by the payee's; the period is settled when all are confirmed.

Operators may run every command; a co-op's treasurer runs list, show, ui,
report, proof, pay and confirm with the co-op's own key as --key (the DID the
co-op is registered under: pay and confirm sign with it). verify needs no hub.

Instructions are numbered by their index in the report, from 0, everywhere:
show, the pages of icn settlement ui, the CSV downloads, --instruction, the
signed confirmations and the co-op nodes' statements.

Connection flags as for icn federation (--hub, --hub-did, --key).`,
		Example: `  icn settlement list
  icn settlement show 7
  icn settlement ui                        # the treasurer pages in your browser
  icn settlement report 7 --out report-7.json
  icn settlement proof --coop "Riverside Bakery" --period 7 --out proofs-7.json
  icn settlement verify --report report-7.json --transfers proofs-7.json
  icn settlement pay --period 7 --instruction 0 --method fiat --reference "SEPA 2026-11-30"
  icn settlement confirm --period 7 --instruction 0 --method fiat`,
	}
	o.addFlags(cmd)
	cmd.AddCommand(o.settlementListCmd(), o.settlementShowCmd(), o.settlementUICmd(), o.settlementCloseCmd(), o.settlementReportCmd(),
		o.settlementProofCmd(), settlementVerifyCmd(), o.settlementConfirmCmd(settlement.KindPaid), o.settlementConfirmCmd(settlement.KindReceived))
	return cmd
}

// periodArg parses a period number argument.
func periodArg(args []string, usage string) (uint64, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("%s takes one period number, e.g. %s", usage, "7")
	}
	n, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("period %q: want a number from 1 (icn settlement list shows them)", args[0])
	}
	return n, nil
}

func requirePeriod(n uint64) error {
	if n == 0 {
		return errors.New("--period is required: the closed period's number, e.g. --period 7 (icn settlement list shows them)")
	}
	return nil
}

// rfcTime prints unix ns as RFC 3339 UTC, "" for none (json and csv).
func rfcTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func (o *hubOpts) settlementListCmd() *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the open period and the closed ones, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				resp := &icnv1.ListPeriodsResponse{}
				if err := c.invoke(ctx, icnv1.SettlementService_ListPeriods_FullMethodName, &icnv1.ListPeriodsRequest{Stale: stale}, resp); err != nil {
					return err
				}
				return printPeriods(cmd.OutOrStdout(), o.output, resp)
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a leader round trip")
	return cmd
}

func periodRow(p *icnv1.PeriodInfo, timef func(int64) string) []string {
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	return []string{strconv.FormatUint(p.GetNumber(), 10), p.GetState(), timef(p.GetOpenedAtUnixNano()), timef(p.GetClosedAtUnixNano()),
		timef(p.GetDeadlineUnixNano()), u(p.GetTransfers()), u(p.GetInstructions()), u(p.GetPaid()), u(p.GetConfirmed()),
		u(p.GetOverdue()), u(p.GetSignatures()), u(p.GetQuorum())}
}

// periodJSON is a period in the -o json of list and close: the columns of
// -o csv under the same names, counts as JSON numbers, times RFC 3339 UTC
// (left out when not set).
type periodJSON struct {
	Period       uint64 `json:"period"`
	State        string `json:"state"`
	OpenedAt     string `json:"opened_at"`
	ClosedAt     string `json:"closed_at,omitempty"`
	Deadline     string `json:"deadline,omitempty"`
	Transfers    uint32 `json:"transfers"`
	Instructions uint32 `json:"instructions"`
	Paid         uint32 `json:"paid"`
	Confirmed    uint32 `json:"confirmed"`
	Overdue      uint32 `json:"overdue"`
	Signatures   uint32 `json:"signatures"`
	Quorum       uint32 `json:"quorum"`
	ReportHash   string `json:"report_hash,omitempty"`
}

func toPeriodJSON(p *icnv1.PeriodInfo) periodJSON {
	return periodJSON{Period: p.GetNumber(), State: p.GetState(), OpenedAt: rfcTime(p.GetOpenedAtUnixNano()),
		ClosedAt: rfcTime(p.GetClosedAtUnixNano()), Deadline: rfcTime(p.GetDeadlineUnixNano()), Transfers: p.GetTransfers(),
		Instructions: p.GetInstructions(), Paid: p.GetPaid(), Confirmed: p.GetConfirmed(), Overdue: p.GetOverdue(),
		Signatures: p.GetSignatures(), Quorum: p.GetQuorum(), ReportHash: hex.EncodeToString(p.GetReportHash())}
}

func printPeriods(w io.Writer, output string, resp *icnv1.ListPeriodsResponse) error {
	switch output {
	case "csv":
		var rows [][]string
		for _, p := range resp.GetPeriods() {
			rows = append(rows, append(periodRow(p, rfcTime), hex.EncodeToString(p.GetReportHash())))
		}
		return writeCSV(w, []string{"period", "state", "opened_at", "closed_at", "deadline", "transfers", "instructions",
			"paid", "confirmed", "overdue", "signatures", "quorum", "report_hash"}, rows)
	case "json":
		out := struct {
			Periods []periodJSON `json:"periods"`
		}{Periods: []periodJSON{}}
		for _, p := range resp.GetPeriods() {
			out.Periods = append(out.Periods, toPeriodJSON(p))
		}
		return printJSON(w, out)
	}
	var rows [][]string
	for _, p := range resp.GetPeriods() {
		r := periodRow(p, fmtTime)
		if p.GetState() == settlement.StateOpen {
			r = append(r[:3], "-", "-", "-", "-", "-", "-", "-", "-", "-")
		}
		rows = append(rows, r)
	}
	return printTable(w, []string{"PERIOD", "STATE", "OPENED", "CLOSED", "DUE", "TRANSFERS", "INSTRUCTIONS", "PAID",
		"CONFIRMED", "OVERDUE", "SIGNATURES", "QUORUM"}, rows)
}

// getPeriod fetches a closed period and turns it into the view the
// renderers take (the figures from the canonical report bytes).
func getPeriod(ctx context.Context, c *hubClient, n uint64, stale bool) (*icnv1.PeriodDetail, settlement.View, error) {
	d := &icnv1.PeriodDetail{}
	if err := c.invoke(ctx, icnv1.SettlementService_GetPeriod_FullMethodName, &icnv1.GetPeriodRequest{Period: n, Stale: stale}, d); err != nil {
		return nil, settlement.View{}, err
	}
	v, err := ui.ViewFromDetail(d)
	if err != nil {
		return nil, settlement.View{}, fmt.Errorf("period %d: %w", n, err)
	}
	if v.Report.Period != n {
		return nil, settlement.View{}, fmt.Errorf("the hub sent the report of period %d for period %d", v.Report.Period, n)
	}
	return d, v, nil
}

// showJSON is `icn settlement show -o json`: the canonical report embedded
// as is, the signatures, and each instruction with its status (the fields
// of the instructions CSV, settlement.InstructionRecord).
type showJSON struct {
	Period       uint64                         `json:"period"`
	State        string                         `json:"state"`
	Deadline     string                         `json:"deadline,omitempty"`
	ReportHash   string                         `json:"report_hash"`
	Report       json.RawMessage                `json:"report"`
	HubNodes     []string                       `json:"hub_nodes"`
	Quorum       uint32                         `json:"quorum"`
	Signatures   []settlement.Signature         `json:"signatures"`
	Instructions []settlement.InstructionRecord `json:"instructions"`
	Names        map[string]string              `json:"names"`
}

// instructionRecord is what pay and confirm print of the instruction the
// hub answers with (no names: the answer carries none).
func instructionRecord(in *icnv1.SettlementInstruction) settlement.InstructionRecord {
	st := settlement.InstructionStatus{Paid: in.GetPaid(), Confirmed: in.GetConfirmed()}
	return settlement.InstructionRecord{Period: in.GetPeriod(), Index: int(in.GetIndex()), Currency: in.GetCurrency(),
		From: identity.DID(in.GetFrom()), To: identity.DID(in.GetTo()), Amount: in.GetAmount(), Status: st.StatusKey(),
		Paid: in.GetPaid(), PaidAt: rfcTime(in.GetPaidAtUnixNano()), Method: in.GetMethod(), Reference: in.GetReference(),
		Confirmed: in.GetConfirmed(), ConfirmedAt: rfcTime(in.GetConfirmedAtUnixNano()), Overdue: in.GetOverdue()}
}

func protoSignatures(ss []*icnv1.ReportSignature) []settlement.Signature {
	out := make([]settlement.Signature, 0, len(ss))
	for _, s := range ss {
		out = append(out, settlement.Signature{Signer: identity.DID(s.GetSigner()), Sig: s.GetSignature()})
	}
	return out
}

func (o *hubOpts) settlementShowCmd() *cobra.Command {
	var stale, figures, wait bool
	cmd := &cobra.Command{
		Use:   "show PERIOD",
		Short: "Show a closed period: per-co-op figures and every instruction with its status",
		Long: `Shows a closed period as this hub's report states it. The figures come from
the canonical report (the bytes the hub nodes signed). With -o csv it prints
the instructions (or, with --figures, the per-co-op figures) as CSV, in
exactly the layout of the treasurer pages' downloads (instructions.csv,
figures.csv). Instructions are numbered by their index in the report, from 0:
the number --instruction of pay and confirm takes. With --wait, it waits
(within --timeout) until the report is final, as pay and confirm need.`,
		Example: `  icn settlement show 7
  icn settlement show 7 --wait --timeout 60s
  icn settlement show 7 -o csv > period-7-instructions.csv
  icn settlement show 7 -o csv --figures > period-7-figures.csv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := periodArg(args, "icn settlement show PERIOD")
			if err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				get := getPeriod
				if wait {
					get = getFinalPeriod
				}
				d, v, err := get(ctx, c, n, stale)
				if err != nil {
					return err
				}
				return printPeriod(cmd.OutOrStdout(), o.output, figures, d, v)
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a leader round trip")
	cmd.Flags().BoolVar(&figures, "figures", false, "with -o csv: print the per-co-op figures instead of the instructions")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the report is final (a quorum of hub nodes signed it), within --timeout")
	return cmd
}

// getFinalPeriod is getPeriod once period n is final (or settled), asking
// every 200 ms until then or until ctx ends.
func getFinalPeriod(ctx context.Context, c *hubClient, n uint64, stale bool) (*icnv1.PeriodDetail, settlement.View, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		d, v, err := getPeriod(ctx, c, n, stale)
		if err == nil && (v.State == settlement.StateFinal || v.State == settlement.StateSettled) {
			return d, v, nil
		}
		if err == nil {
			err = fmt.Errorf("period %d is %s: %d of %d hub signatures", n, v.State, len(d.GetSignatures()), d.GetQuorum())
		}
		select {
		case <-ctx.Done():
			return nil, settlement.View{}, fmt.Errorf("not final within --timeout: %w", err)
		case <-tick.C:
		}
	}
}

func nameOf(names map[string]string, d identity.DID) string {
	if n := names[string(d)]; n != "" {
		return n
	}
	return d.Short()
}

func printPeriod(w io.Writer, output string, figures bool, d *icnv1.PeriodDetail, v settlement.View) error {
	names := d.GetNames()
	r := v.Report
	amount := func(units int64, code string) string {
		for _, t := range r.Currencies {
			if t.Currency.Code == code {
				return money.FromUnits(units, t.Currency).String()
			}
		}
		return strconv.FormatInt(units, 10)
	}
	switch output {
	case "json":
		recs, err := settlement.InstructionRecords(v)
		if err != nil {
			return err
		}
		h := r.Hash()
		j := showJSON{Period: r.Period, State: v.State, Deadline: rfcTime(v.Deadline),
			ReportHash: hex.EncodeToString(h[:]), Report: d.GetReport(), HubNodes: d.GetHubNodes(), Quorum: d.GetQuorum(),
			Signatures: protoSignatures(d.GetSignatures()), Instructions: recs, Names: names}
		if j.HubNodes == nil {
			j.HubNodes = []string{}
		}
		if j.Names == nil {
			j.Names = map[string]string{}
		}
		return printJSON(w, j)
	case "csv":
		if figures {
			return settlement.WriteFiguresCSV(w, v)
		}
		return settlement.WriteInstructionsCSV(w, v)
	}
	h := r.Hash()
	if err := kv(w, [2]string{"period", strconv.FormatUint(r.Period, 10)}, [2]string{"state", v.State},
		[2]string{"opened", fmtTime(r.OpenedAt)}, [2]string{"closed", fmtTime(r.ClosedAt)},
		[2]string{"due", fmtTime(v.Deadline)}, [2]string{"transfers", strconv.Itoa(r.Transfers)},
		[2]string{"report hash", hex.EncodeToString(h[:])}, [2]string{"merkle root", hex.EncodeToString(r.MerkleRoot[:])},
		[2]string{"signatures", fmt.Sprintf("%d of %d hub nodes (final at %d)", len(d.GetSignatures()), len(d.GetHubNodes()), d.GetQuorum())}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, f := range r.Figures {
		rows = append(rows, []string{f.Currency, nameOf(names, f.DID), amount(f.Sent, f.Currency), amount(f.Received, f.Currency),
			amount(f.Net, f.Currency), strconv.Itoa(f.SentCount), strconv.Itoa(f.ReceivedCount)})
	}
	if err := printTable(w, []string{"CURRENCY", "CO-OP", "SENT", "RECEIVED", "NET", "SENT#", "RECEIVED#"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Instructions) == 0 {
		_, err := fmt.Fprintln(w, "no instructions: every net position is zero")
		return err
	}
	recs, err := settlement.InstructionRecords(v)
	if err != nil {
		return err
	}
	rows = nil
	for _, in := range recs {
		st := in.Status
		if in.Overdue {
			st += " (overdue)"
		}
		by := in.Mode
		if in.Asset != "" {
			by += " " + in.AssetAmount + " " + in.Asset
		}
		rows = append(rows, []string{strconv.Itoa(in.Index), in.Currency, nameOf(names, in.From), nameOf(names, in.To),
			in.Amount, by, st, orDash(in.Method), orDash(in.Reference)})
	}
	return printTable(w, []string{"INDEX", "CURRENCY", "FROM", "TO", "AMOUNT", "SETTLES BY", "STATUS", "METHOD", "REFERENCE"}, rows)
}

func (o *hubOpts) settlementCloseCmd() *cobra.Command {
	var period uint64
	cmd := &cobra.Command{
		Use:   "close",
		Short: "Close the open period now and open the next (operators)",
		Long: `Closes the open period and opens the next in one raft command: a transfer
still pending commits into the next period. With --period the command fails
unless that period is the open one, so a repeated close cannot close two.`,
		Example: `  icn settlement close
  icn settlement close --period 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &icnv1.ClosePeriodRequest{Period: period, RequestId: newRequestID()}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				p := &icnv1.PeriodInfo{}
				if err := c.invoke(ctx, icnv1.SettlementService_ClosePeriod_FullMethodName, req, p); err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				switch o.output {
				case "csv":
					return printPeriods(w, o.output, &icnv1.ListPeriodsResponse{Periods: []*icnv1.PeriodInfo{p}})
				case "json":
					return printJSON(w, toPeriodJSON(p))
				}
				return kv(w, [2]string{"closed period", strconv.FormatUint(p.GetNumber(), 10)}, [2]string{"transfers", fmt.Sprint(p.GetTransfers())},
					[2]string{"instructions", fmt.Sprint(p.GetInstructions())}, [2]string{"due", fmtTime(p.GetDeadlineUnixNano())},
					[2]string{"next", "the hub nodes now sign the report; icn settlement show " + strconv.FormatUint(p.GetNumber(), 10)})
			})
		},
	}
	cmd.Flags().Uint64Var(&period, "period", 0, "close only if this is the open period")
	return cmd
}

func (o *hubOpts) settlementReportCmd() *cobra.Command {
	var out string
	var stale bool
	cmd := &cobra.Command{
		Use:   "report PERIOD --out FILE",
		Short: "Write a period's canonical report JSON and its hub signatures",
		Long: `Writes the canonical report (exactly the bytes the hub nodes signed, so
sha256sum FILE prints the report hash) to FILE, and the signatures with the
hub node list and quorum to FILE with .json replaced by .sigs.json. Without
--out both go to standard output as one JSON object.`,
		Example: `  icn settlement report 7 --out report-7.json   # also writes report-7.sigs.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := periodArg(args, "icn settlement report PERIOD")
			if err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				d, v, err := getPeriod(ctx, c, n, stale)
				if err != nil {
					return err
				}
				sf := newSigsFile(v.Report, d)
				if out == "" {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(struct {
						Report json.RawMessage `json:"report"`
						sigsFile
					}{d.GetReport(), sf})
				}
				if err := os.WriteFile(out, d.GetReport(), 0o644); err != nil {
					return fmt.Errorf("write report: %w", err)
				}
				sp := sigsPath(out)
				if err := writeJSONFile(sp, sf); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (report %s, period %d) and %s (%d of %d signatures, final at %d)\n",
					out, sf.ReportHash, n, sp, len(sf.Signatures), len(sf.HubNodes), sf.Quorum)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "report file to write (signatures go to the .sigs.json beside it)")
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a leader round trip")
	return cmd
}

func (o *hubOpts) settlementProofCmd() *cobra.Command {
	var coop, out string
	var period uint64
	var stale bool
	cmd := &cobra.Command{
		Use:   "proof --coop CO-OP --period N [--out FILE]",
		Short: "Write a co-op's committed transfers of a period with their Merkle proofs (JSON)",
		Long: `Fetches the co-op's committed transfers of a closed period and each one's
inclusion proof under the report's Merkle root, as JSON (to FILE or standard
output). Check them offline with icn settlement verify; better still, compare
the transfer list with the co-op's own ledger first.

--coop is the co-op's DID or its registered name, as icn settlement show
prints it (a name must match exactly one co-op of the period; letter case
is ignored when the exact spelling matches none).`,
		Example: `  icn settlement proof --coop ` + exampleDID + ` --period 7 --out proofs-7.json
  icn settlement proof --coop "Riverside Bakery" --period 7 --out proofs-7.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if coop == "" {
				return errors.New("--coop is required: the co-op whose transfers to fetch, by DID or registered name (icn settlement show lists them)")
			}
			if err := requirePeriod(period); err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				did, err := resolveCoop(ctx, c, period, coop, stale)
				if err != nil {
					return err
				}
				resp := &icnv1.GetProofsResponse{}
				req := &icnv1.GetProofsRequest{Period: period, Coop: string(did), Stale: stale}
				if err := c.invoke(ctx, icnv1.SettlementService_GetProofs_FullMethodName, req, resp); err != nil {
					return err
				}
				r, err := settlement.ParseReport(resp.GetReport())
				if err != nil {
					return fmt.Errorf("the hub sent an invalid report: %w", err)
				}
				pf, err := newProofFile(r, did, resp.GetProofs())
				if err != nil {
					return err
				}
				if out == "" {
					return printJSON(cmd.OutOrStdout(), pf)
				}
				if err := writeJSONFile(out, pf); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d transfers of %s in period %d\n", out, len(pf.Transfers), did, period)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&coop, "coop", "", "the co-op, by DID or registered name (required; a co-op's own key may fetch only its own)")
	cmd.Flags().Uint64Var(&period, "period", 0, "the closed period (required)")
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a leader round trip")
	return cmd
}

// resolveCoop returns the DID that arg names: arg itself if it is a DID,
// otherwise the one participant of the period whose registered name is arg
// (exactly; failing that, ignoring letter case), as icn settlement show
// names them.
func resolveCoop(ctx context.Context, c *hubClient, period uint64, arg string, stale bool) (identity.DID, error) {
	if strings.HasPrefix(arg, "did:") {
		d, _, err := identity.ParseDID(arg)
		if err != nil {
			return "", fmt.Errorf("--coop: %w", err)
		}
		return d, nil
	}
	_, v, err := getPeriod(ctx, c, period, stale)
	if err != nil {
		return "", err
	}
	seen := map[identity.DID]bool{}
	var exact, folded []identity.DID
	var known []string
	for _, f := range v.Report.Figures {
		name := v.Names[f.DID]
		if seen[f.DID] || name == "" {
			continue
		}
		seen[f.DID] = true
		known = append(known, strconv.Quote(name))
		switch {
		case name == arg:
			exact = append(exact, f.DID)
		case strings.EqualFold(name, arg):
			folded = append(folded, f.DID)
		}
	}
	match := exact
	if len(match) == 0 {
		match = folded
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		slices.Sort(known)
		if len(known) > 10 {
			known = append(known[:10], "…")
		}
		return "", fmt.Errorf("--coop %q: no co-op of period %d is registered under that name (names in the period: %s); pass its DID instead",
			arg, period, orDash(strings.Join(known, ", ")))
	}
	ds := make([]string, len(match))
	for i, d := range match {
		ds[i] = string(d)
	}
	return "", fmt.Errorf("--coop %q names %d co-ops of period %d (%s): pass the DID instead", arg, len(match), period, strings.Join(ds, ", "))
}

// referenceOf says what a mode's --reference is.
func referenceOf(mode string) string {
	if mode == settlement.ModeFiat {
		return "bank's reference of the payment"
	}
	return "receipt or transaction id of the swap"
}

// settlementConfirmCmd is `pay` (kind paid) or `confirm` (kind received).
func (o *hubOpts) settlementConfirmCmd(kind string) *cobra.Command {
	var period uint64
	var index int
	var method, reference string
	use, short, who := "pay", "Mark an instruction paid (signed by the payer's co-op key, --key)", "payer"
	if kind == settlement.KindReceived {
		use, short, who = "confirm", "Confirm receipt of a paid instruction (signed by the payee's co-op key, --key)", "payee"
	}
	cmd := &cobra.Command{
		Use:   use + " --period N --instruction I [--reference REF] [--method METHOD]",
		Short: short,
		Long: `Fetches the period's report, builds the statement for instruction I (the
report hash, the instruction's currency, parties and amount, the method and
reference), signs it with --key, which must be the ` + who + `'s co-op key (the
DID the co-op is registered under), and sends it. The payer marks paid first,
then the payee confirms. Repeating a statement is harmless.

The method is the instruction's settlement mode (icn settlement show lists
it: hours_transfer, asset_swap or fiat); --method, if given, must name it.
An asset_swap or fiat instruction is marked paid with --reference: the swap's
receipt, or the bank's reference of the fiat payment.`,
		Example: `  icn settlement ` + use + ` --period 7 --instruction 0 --reference "SEPA 2026-11-30"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requirePeriod(period); err != nil {
				return err
			}
			if index < 0 {
				return errors.New("--instruction is required: the instruction's number as icn settlement show lists it, e.g. --instruction 0")
			}
			if method != "" && !settlement.ValidMethod(method) {
				return fmt.Errorf("--method must be %s, %s or %s, not %q", settlement.MethodHoursTransfer, settlement.MethodAssetSwap, settlement.MethodFiat, method)
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				_, v, err := getPeriod(ctx, c, period, false)
				if err != nil {
					return err
				}
				if index < len(v.Report.Instructions) {
					mode := cmp.Or(v.Report.Instructions[index].Mode, settlement.ModeHoursTransfer)
					switch {
					case method == "":
						method = mode
					case v.Report.Instructions[index].Mode != "" && method != mode:
						return fmt.Errorf("--method %s: instruction %d settles by %s", method, index, mode)
					}
					if kind == settlement.KindPaid && mode != settlement.ModeHoursTransfer && reference == "" {
						return fmt.Errorf("--reference is required: instruction %d settles by %s; give the %s", index, mode, referenceOf(mode))
					}
				}
				conf, err := settlement.ConfirmationFor(v.Report, index, kind, method, reference)
				if err != nil {
					return fmt.Errorf("--instruction: %w", err)
				}
				if c.key.DID() != conf.Signer() {
					return fmt.Errorf("--key is %s, but instruction %d's %s is %s: sign with that co-op's key", c.key.DID(), index, who, conf.Signer())
				}
				conf.SignedAt = time.Now().UnixNano()
				s, err := settlement.SignConfirmation(c.key, conf)
				if err != nil {
					return err
				}
				method := icnv1.SettlementService_MarkPaid_FullMethodName
				if kind == settlement.KindReceived {
					method = icnv1.SettlementService_ConfirmReceipt_FullMethodName
				}
				req := &icnv1.ConfirmationRequest{RequestId: newRequestID(), Confirmation: &icnv1.SignedMessage{
					Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}
				in := &icnv1.SettlementInstruction{}
				if err := c.invoke(ctx, method, req, in); err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				rec := instructionRecord(in)
				switch o.output {
				case "csv":
					return writeCSV(w, []string{"period", "index", "status", "method", "reference"},
						[][]string{{strconv.FormatUint(rec.Period, 10), strconv.Itoa(rec.Index), rec.Status, rec.Method, rec.Reference}})
				case "json":
					return printJSON(w, rec)
				}
				return kv(w, [2]string{"period", strconv.FormatUint(rec.Period, 10)}, [2]string{"instruction", strconv.Itoa(rec.Index)},
					[2]string{"pay", rec.Amount + " " + rec.Currency}, [2]string{"from", string(rec.From)}, [2]string{"to", string(rec.To)},
					[2]string{"status", rec.Status}, [2]string{"method", orDash(rec.Method)}, [2]string{"reference", orDash(rec.Reference)})
			})
		},
	}
	cmd.Flags().Uint64Var(&period, "period", 0, "the closed period (required)")
	cmd.Flags().IntVar(&index, "instruction", -1, "the instruction's number in the report (required)")
	cmd.Flags().StringVar(&method, "method", "", "how it was paid (default and only choice: the instruction's settlement mode)")
	cmd.Flags().StringVar(&reference, "reference", "", "payment reference (bank reference, transfer id, ...)")
	return cmd
}
