package main

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

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

Operators may run every command; a co-op's treasurer runs list, show, report,
proof, pay and confirm with the co-op's own key as --key (the DID the co-op is
registered under: pay and confirm sign with it). verify needs no hub.

Connection flags as for icn federation (--hub, --hub-did, --key).`,
		Example: `  icn settlement list
  icn settlement show 7
  icn settlement report 7 --out report-7.json
  icn settlement proof --coop did:icn:... --period 7 --out proofs-7.json
  icn settlement verify --report report-7.json --transfers proofs-7.json
  icn settlement pay --period 7 --instruction 0 --method fiat --reference "SEPA 2026-11-30"
  icn settlement confirm --period 7 --instruction 0 --method fiat`,
	}
	o.addFlags(cmd)
	cmd.AddCommand(o.settlementListCmd(), o.settlementShowCmd(), o.settlementCloseCmd(), o.settlementReportCmd(),
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
				return printPeriods(cmd.OutOrStdout(), o.output, c, resp)
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

func printPeriods(w io.Writer, output string, c *hubClient, resp *icnv1.ListPeriodsResponse) error {
	if output == "csv" {
		var rows [][]string
		for _, p := range resp.GetPeriods() {
			rows = append(rows, append(periodRow(p, rfcTime), hex.EncodeToString(p.GetReportHash())))
		}
		return writeCSV(w, []string{"period", "state", "opened_at", "closed_at", "deadline", "transfers", "instructions",
			"paid", "confirmed", "overdue", "signatures", "quorum", "report_hash"}, rows)
	}
	return c.show(w, resp, func(w io.Writer) error {
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
	})
}

// getPeriod fetches a closed period and parses its report.
func getPeriod(ctx context.Context, c *hubClient, n uint64, stale bool) (*icnv1.PeriodDetail, settlement.Report, error) {
	d := &icnv1.PeriodDetail{}
	if err := c.invoke(ctx, icnv1.SettlementService_GetPeriod_FullMethodName, &icnv1.GetPeriodRequest{Period: n, Stale: stale}, d); err != nil {
		return nil, settlement.Report{}, err
	}
	r, err := settlement.ParseReport(d.GetReport())
	if err != nil {
		return nil, settlement.Report{}, fmt.Errorf("the hub sent an invalid report for period %d: %w", n, err)
	}
	if len(d.GetInstructions()) != len(r.Instructions) {
		return nil, settlement.Report{}, fmt.Errorf("the hub sent %d instruction statuses for %d instructions", len(d.GetInstructions()), len(r.Instructions))
	}
	return d, r, nil
}

func instructionStatus(in *icnv1.SettlementInstruction) string {
	switch {
	case in.GetConfirmed():
		return "confirmed"
	case in.GetPaid():
		return "paid"
	}
	return "outstanding"
}

// showJSON is `icn settlement show -o json`: the canonical report embedded
// as is, the signatures, and each instruction's status.
type showJSON struct {
	Period       uint64                 `json:"period"`
	State        string                 `json:"state"`
	Deadline     string                 `json:"deadline,omitempty"`
	ReportHash   string                 `json:"report_hash"`
	Report       json.RawMessage        `json:"report"`
	HubNodes     []string               `json:"hub_nodes"`
	Quorum       uint32                 `json:"quorum"`
	Signatures   []settlement.Signature `json:"signatures"`
	Instructions []instructionJSON      `json:"instructions"`
	Names        map[string]string      `json:"names"`
}

type instructionJSON struct {
	Index       uint32 `json:"index"`
	Currency    string `json:"currency"`
	From        string `json:"from"`
	To          string `json:"to"`
	Amount      string `json:"amount"`
	Status      string `json:"status"`
	Overdue     bool   `json:"overdue"`
	Method      string `json:"method,omitempty"`
	Reference   string `json:"reference,omitempty"`
	PaidAt      string `json:"paid_at,omitempty"`
	ConfirmedAt string `json:"confirmed_at,omitempty"`
}

func toInstructionJSON(in *icnv1.SettlementInstruction) instructionJSON {
	return instructionJSON{Index: in.GetIndex(), Currency: in.GetCurrency(), From: in.GetFrom(), To: in.GetTo(), Amount: in.GetAmount(),
		Status: instructionStatus(in), Overdue: in.GetOverdue(), Method: in.GetMethod(), Reference: in.GetReference(),
		PaidAt: rfcTime(in.GetPaidAtUnixNano()), ConfirmedAt: rfcTime(in.GetConfirmedAtUnixNano())}
}

func protoSignatures(ss []*icnv1.ReportSignature) []settlement.Signature {
	out := make([]settlement.Signature, 0, len(ss))
	for _, s := range ss {
		out = append(out, settlement.Signature{Signer: identity.DID(s.GetSigner()), Sig: s.GetSignature()})
	}
	return out
}

func (o *hubOpts) settlementShowCmd() *cobra.Command {
	var stale, figures bool
	cmd := &cobra.Command{
		Use:   "show PERIOD",
		Short: "Show a closed period: per-co-op figures and every instruction with its status",
		Long: `Shows a closed period as this hub's report states it. The figures come from
the canonical report (the bytes the hub nodes signed). With -o csv it prints
the instructions (or, with --figures, the per-co-op figures) as CSV.`,
		Example: `  icn settlement show 7
  icn settlement show 7 -o csv > period-7-instructions.csv
  icn settlement show 7 -o csv --figures > period-7-figures.csv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := periodArg(args, "icn settlement show PERIOD")
			if err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				d, r, err := getPeriod(ctx, c, n, stale)
				if err != nil {
					return err
				}
				return printPeriod(cmd.OutOrStdout(), o.output, figures, d, r)
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a leader round trip")
	cmd.Flags().BoolVar(&figures, "figures", false, "with -o csv: print the per-co-op figures instead of the instructions")
	return cmd
}

func nameOf(names map[string]string, d identity.DID) string {
	if n := names[string(d)]; n != "" {
		return n
	}
	return d.Short()
}

func printPeriod(w io.Writer, output string, figures bool, d *icnv1.PeriodDetail, r settlement.Report) error {
	names := d.GetNames()
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
		h := r.Hash()
		j := showJSON{Period: r.Period, State: d.GetInfo().GetState(), Deadline: rfcTime(d.GetInfo().GetDeadlineUnixNano()),
			ReportHash: hex.EncodeToString(h[:]), Report: d.GetReport(), HubNodes: d.GetHubNodes(), Quorum: d.GetQuorum(),
			Signatures: protoSignatures(d.GetSignatures()), Instructions: []instructionJSON{}, Names: names}
		for _, in := range d.GetInstructions() {
			j.Instructions = append(j.Instructions, toInstructionJSON(in))
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(j)
	case "csv":
		if figures {
			var rows [][]string
			for _, f := range r.Figures {
				rows = append(rows, []string{f.Currency, string(f.DID), names[string(f.DID)], amount(f.Sent, f.Currency),
					amount(f.Received, f.Currency), amount(f.Net, f.Currency), strconv.Itoa(f.SentCount), strconv.Itoa(f.ReceivedCount)})
			}
			return writeCSV(w, []string{"currency", "did", "name", "sent", "received", "net", "sent_count", "received_count"}, rows)
		}
		var rows [][]string
		for _, in := range d.GetInstructions() {
			rows = append(rows, []string{strconv.FormatUint(uint64(in.GetIndex()), 10), in.GetCurrency(), in.GetFrom(), names[in.GetFrom()],
				in.GetTo(), names[in.GetTo()], in.GetAmount(), instructionStatus(in), strconv.FormatBool(in.GetOverdue()),
				in.GetMethod(), in.GetReference(), rfcTime(in.GetPaidAtUnixNano()), rfcTime(in.GetConfirmedAtUnixNano())})
		}
		return writeCSV(w, []string{"index", "currency", "from", "from_name", "to", "to_name", "amount", "status", "overdue",
			"method", "reference", "paid_at", "confirmed_at"}, rows)
	}
	h := r.Hash()
	info := d.GetInfo()
	if err := kv(w, [2]string{"period", strconv.FormatUint(r.Period, 10)}, [2]string{"state", info.GetState()},
		[2]string{"opened", fmtTime(r.OpenedAt)}, [2]string{"closed", fmtTime(r.ClosedAt)},
		[2]string{"due", fmtTime(info.GetDeadlineUnixNano())}, [2]string{"transfers", strconv.Itoa(r.Transfers)},
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
	if len(d.GetInstructions()) == 0 {
		_, err := fmt.Fprintln(w, "no instructions: every net position is zero")
		return err
	}
	rows = nil
	for _, in := range d.GetInstructions() {
		st := instructionStatus(in)
		if in.GetOverdue() {
			st += " (overdue)"
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(in.GetIndex()), 10), in.GetCurrency(), nameOf(names, identity.DID(in.GetFrom())),
			nameOf(names, identity.DID(in.GetTo())), in.GetAmount(), st, orDash(in.GetMethod()), orDash(in.GetReference())})
	}
	return printTable(w, []string{"#", "CURRENCY", "FROM", "TO", "AMOUNT", "STATUS", "METHOD", "REFERENCE"}, rows)
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
				if o.output == "csv" {
					return printPeriods(cmd.OutOrStdout(), o.output, c, &icnv1.ListPeriodsResponse{Periods: []*icnv1.PeriodInfo{p}})
				}
				return c.show(cmd.OutOrStdout(), p, func(w io.Writer) error {
					return kv(w, [2]string{"closed period", strconv.FormatUint(p.GetNumber(), 10)}, [2]string{"transfers", fmt.Sprint(p.GetTransfers())},
						[2]string{"instructions", fmt.Sprint(p.GetInstructions())}, [2]string{"due", fmtTime(p.GetDeadlineUnixNano())},
						[2]string{"next", "the hub nodes now sign the report; icn settlement show " + strconv.FormatUint(p.GetNumber(), 10)})
				})
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
				d, r, err := getPeriod(ctx, c, n, stale)
				if err != nil {
					return err
				}
				sf := newSigsFile(r, d)
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
		Use:   "proof --coop DID --period N [--out FILE]",
		Short: "Write a co-op's committed transfers of a period with their Merkle proofs (JSON)",
		Long: `Fetches the co-op's committed transfers of a closed period and each one's
inclusion proof under the report's Merkle root, as JSON (to FILE or standard
output). Check them offline with icn settlement verify; better still, compare
the transfer list with the co-op's own ledger first.`,
		Example: `  icn settlement proof --coop ` + exampleDID + ` --period 7 --out proofs-7.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDID("coop", coop, "the co-op whose transfers to fetch"); err != nil {
				return err
			}
			if err := requirePeriod(period); err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				resp := &icnv1.GetProofsResponse{}
				req := &icnv1.GetProofsRequest{Period: period, Coop: coop, Stale: stale}
				if err := c.invoke(ctx, icnv1.SettlementService_GetProofs_FullMethodName, req, resp); err != nil {
					return err
				}
				r, err := settlement.ParseReport(resp.GetReport())
				if err != nil {
					return fmt.Errorf("the hub sent an invalid report: %w", err)
				}
				pf, err := newProofFile(r, identity.DID(coop), resp.GetProofs())
				if err != nil {
					return err
				}
				if out == "" {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(pf)
				}
				if err := writeJSONFile(out, pf); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d transfers of %s in period %d\n", out, len(pf.Transfers), coop, period)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&coop, "coop", "", "the co-op (required; a co-op's own key may fetch only its own)")
	cmd.Flags().Uint64Var(&period, "period", 0, "the closed period (required)")
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a leader round trip")
	return cmd
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
		Use:   use + " --period N --instruction I --method METHOD [--reference REF]",
		Short: short,
		Long: `Fetches the period's report, builds the statement for instruction I (the
report hash, the instruction's currency, parties and amount, the method and
reference), signs it with --key, which must be the ` + who + `'s co-op key (the
DID the co-op is registered under), and sends it. The payer marks paid first,
then the payee confirms. Repeating a statement is harmless.
Methods: hours_transfer, asset_swap, fiat.`,
		Example: `  icn settlement ` + use + ` --period 7 --instruction 0 --method fiat --reference "SEPA 2026-11-30"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requirePeriod(period); err != nil {
				return err
			}
			if index < 0 {
				return errors.New("--instruction is required: the instruction's number as icn settlement show lists it, e.g. --instruction 0")
			}
			if !settlement.ValidMethod(method) {
				return fmt.Errorf("--method must be %s, %s or %s, not %q", settlement.MethodHoursTransfer, settlement.MethodAssetSwap, settlement.MethodFiat, method)
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				_, r, err := getPeriod(ctx, c, period, false)
				if err != nil {
					return err
				}
				conf, err := settlement.ConfirmationFor(r, index, kind, method, reference)
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
				if o.output == "csv" {
					return writeCSV(cmd.OutOrStdout(), []string{"period", "index", "status", "method", "reference"},
						[][]string{{strconv.FormatUint(in.GetPeriod(), 10), strconv.FormatUint(uint64(in.GetIndex()), 10), instructionStatus(in), in.GetMethod(), in.GetReference()}})
				}
				return c.show(cmd.OutOrStdout(), in, func(w io.Writer) error {
					return kv(w, [2]string{"period", strconv.FormatUint(in.GetPeriod(), 10)}, [2]string{"instruction", strconv.FormatUint(uint64(in.GetIndex()), 10)},
						[2]string{"pay", in.GetAmount() + " " + in.GetCurrency()}, [2]string{"from", in.GetFrom()}, [2]string{"to", in.GetTo()},
						[2]string{"status", instructionStatus(in)}, [2]string{"method", orDash(in.GetMethod())}, [2]string{"reference", orDash(in.GetReference())})
				})
			})
		},
	}
	cmd.Flags().Uint64Var(&period, "period", 0, "the closed period (required)")
	cmd.Flags().IntVar(&index, "instruction", -1, "the instruction's number in the report (required)")
	cmd.Flags().StringVar(&method, "method", "", "how it was paid: hours_transfer, asset_swap or fiat (required)")
	cmd.Flags().StringVar(&reference, "reference", "", "payment reference (bank reference, transfer id, ...)")
	return cmd
}
