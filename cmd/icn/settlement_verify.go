package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// sigsFile is the signatures file `icn settlement report` writes beside the
// report: who signed the report's hash, out of which hub nodes, and how many
// signatures make it final.
type sigsFile struct {
	Period     uint64                 `json:"period"`
	ReportHash string                 `json:"report_hash"`
	HubNodes   []string               `json:"hub_nodes"`
	Quorum     int                    `json:"quorum"`
	Signatures []settlement.Signature `json:"signatures"`
}

func newSigsFile(r settlement.Report, d *icnv1.PeriodDetail) sigsFile {
	h := r.Hash()
	return sigsFile{Period: r.Period, ReportHash: hex.EncodeToString(h[:]), HubNodes: d.GetHubNodes(), Quorum: int(d.GetQuorum()),
		Signatures: protoSignatures(d.GetSignatures())}
}

// sigsPath is where the signatures of report file p go: report-7.json →
// report-7.sigs.json.
func sigsPath(p string) string { return strings.TrimSuffix(p, ".json") + ".sigs.json" }

// proofFile is what `icn settlement proof` writes and `verify --transfers`
// reads: a co-op's committed transfers of a period, each with its proof. A
// co-op may write the transfers from its own ledger in the same form.
type proofFile struct {
	Period     uint64          `json:"period"`
	Coop       identity.DID    `json:"coop"`
	ReportHash string          `json:"report_hash"`
	Transfers  []proofTransfer `json:"transfers"`
}

// proofTransfer holds exactly the fields the Merkle leaf commits to
// (settlement.TransferBytes), and the proof.
type proofTransfer struct {
	ID        string            `json:"id"`
	From      identity.DID      `json:"from"`
	To        identity.DID      `json:"to"`
	Currency  string            `json:"currency"`
	Scale     int32             `json:"scale"`
	Amount    string            `json:"amount"`
	Period    uint64            `json:"period"`
	DecidedAt fileTime          `json:"decided_at"`
	Proof     *settlement.Proof `json:"proof,omitempty"`
}

// fileTime is a time in a file icn settlement writes, unix ns in memory:
// written as RFC 3339 UTC with all the nanoseconds the Merkle leaf commits
// to ("2026-11-30T10:00:00.123456789Z"); read from that form or from a JSON
// integer of unix ns, which files of earlier versions hold.
type fileTime int64

func (t fileTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Unix(0, int64(t)).UTC().Format(time.RFC3339Nano))
}

func (t *fileTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var ns int64
		if err := json.Unmarshal(b, &ns); err != nil {
			return fmt.Errorf("want an RFC 3339 time, got %s", b)
		}
		*t = fileTime(ns)
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time: %w", err)
	}
	if y := v.Year(); y < 1678 || y > 2261 {
		return fmt.Errorf("time %s is outside the range of unix nanoseconds", s)
	}
	*t = fileTime(v.UnixNano())
	return nil
}

func newProofFile(r settlement.Report, coop identity.DID, ps []*icnv1.TransferProof) (proofFile, error) {
	h := r.Hash()
	pf := proofFile{Period: r.Period, Coop: coop, ReportHash: hex.EncodeToString(h[:]), Transfers: []proofTransfer{}}
	for _, p := range ps {
		t := p.GetTransfer()
		cur, ok := reportCurrency(r, t.GetCurrency())
		if !ok {
			return proofFile{}, fmt.Errorf("transfer %s is in %q, which the report does not list", t.GetId(), t.GetCurrency())
		}
		proof := &settlement.Proof{Index: p.GetIndex(), Count: p.GetCount()}
		for _, b := range p.GetPath() {
			if len(b) != 32 {
				return proofFile{}, fmt.Errorf("transfer %s: proof hash of %d bytes", t.GetId(), len(b))
			}
			proof.Path = append(proof.Path, [32]byte(b))
		}
		pf.Transfers = append(pf.Transfers, proofTransfer{ID: t.GetId(), From: identity.DID(t.GetFrom()), To: identity.DID(t.GetTo()),
			Currency: cur.Code, Scale: cur.Scale, Amount: money.FromUnits(t.GetAmountUnits(), cur).String(), Period: t.GetPeriod(),
			DecidedAt: fileTime(t.GetDecidedAtUnixNano()), Proof: proof})
	}
	return pf, nil
}

func reportCurrency(r settlement.Report, code string) (money.Currency, bool) {
	for _, t := range r.Currencies {
		if t.Currency.Code == code {
			return t.Currency, true
		}
	}
	return money.Currency{}, false
}

// transfers turns the file back into committed clearing transfers and proofs.
func (pf proofFile) transfers() ([]clearing.Transfer, map[string]settlement.Proof, error) {
	var out []clearing.Transfer
	proofs := map[string]settlement.Proof{}
	for i, pt := range pf.Transfers {
		cur := money.Currency{Code: pt.Currency, Scale: pt.Scale}
		if err := cur.Validate(); err != nil {
			return nil, nil, fmt.Errorf("transfers[%d] (%s): %w", i, pt.ID, err)
		}
		amt, err := money.Parse(pt.Amount, cur)
		if err != nil {
			return nil, nil, fmt.Errorf("transfers[%d] (%s): amount: %w", i, pt.ID, err)
		}
		out = append(out, clearing.Transfer{ID: pt.ID, From: pt.From, To: pt.To, Amount: amt, State: clearing.StateCommitted,
			Period: pt.Period, DecidedAt: int64(pt.DecidedAt)})
		if pt.Proof != nil {
			proofs[pt.ID] = *pt.Proof
		}
	}
	return out, proofs, nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readJSONFile(flag, path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("--%s %s: not a valid file: %w", flag, path, err)
	}
	return nil
}

// verifyOpts are the flags of `icn settlement verify`.
type verifyOpts struct {
	report, transfers, sigs, coop, hubNodes string
	quorum                                  int
}

func settlementVerifyCmd() *cobra.Command {
	o := &verifyOpts{}
	cmd := &cobra.Command{
		Use:   "verify --report FILE --transfers FILE",
		Short: "Check a report and a co-op's transfers offline, without contacting the hub",
		Long: `Checks, without any hub:

  1. the report is canonical and consistent (its figures add up and its
     instructions are the ones they determine);
  2. it is final: a quorum of the hub nodes signed its hash (signatures from
     --sigs, default the .sigs.json beside the report; pin the hub nodes with
     --hub-nodes instead of trusting the list in that file);
  3. every transfer in --transfers (the co-op's own list, in the form icn
     settlement proof writes) is committed in the period and included under
     the report's Merkle root, and the report's figures for the co-op equal
     the sums over exactly those transfers.

It prints every problem found and exits non-zero if there is any.`,
		Example: `  icn settlement verify --report report-7.json --transfers proofs-7.json
  icn settlement verify --report report-7.json --transfers proofs-7.json --hub-nodes did:icn:A,did:icn:B,did:icn:C`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.report, "report", "", "the canonical report JSON (icn settlement report --out)")
	f.StringVar(&o.transfers, "transfers", "", "the co-op's transfers with proofs (icn settlement proof --out)")
	f.StringVar(&o.sigs, "sigs", "", "the signatures file (default: the report file with .json replaced by .sigs.json)")
	f.StringVar(&o.coop, "coop", "", "the co-op to check (default: the one named in --transfers)")
	f.StringVar(&o.hubNodes, "hub-nodes", "", "comma-separated DIDs of the hub nodes whose signatures count (default: the list in --sigs)")
	f.IntVar(&o.quorum, "quorum", 0, "signatures needed (default: the file's quorum, or a majority of --hub-nodes)")
	return cmd
}

func (o *verifyOpts) run(w io.Writer) error {
	if o.report == "" {
		return errors.New("--report is required: the report file that icn settlement report --out wrote")
	}
	if o.transfers == "" {
		return errors.New("--transfers is required: the co-op's transfers with proofs, as icn settlement proof --out writes them")
	}
	data, err := os.ReadFile(o.report)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	r, err := settlement.ParseReport(data)
	if err != nil {
		return fmt.Errorf("verify failed: report %s: %w", o.report, err)
	}
	h := r.Hash()
	if o.sigs == "" {
		o.sigs = sigsPath(o.report)
	}
	var sf sigsFile
	if err := readJSONFile("sigs", o.sigs, &sf); err != nil {
		return err
	}
	var pf proofFile
	if err := readJSONFile("transfers", o.transfers, &pf); err != nil {
		return err
	}
	var problems []string
	if sf.ReportHash != hex.EncodeToString(h[:]) {
		problems = append(problems, fmt.Sprintf("signatures file is for report %s, the report's hash is %x", sf.ReportHash, h))
	}
	nodes := make([]identity.DID, 0, len(sf.HubNodes))
	for _, n := range sf.HubNodes {
		nodes = append(nodes, identity.DID(n))
	}
	quorum := sf.Quorum
	if o.hubNodes != "" {
		nodes = nil
		for _, s := range splitList(o.hubNodes) {
			d, _, err := identity.ParseDID(s)
			if err != nil {
				return fmt.Errorf("--hub-nodes: %w", err)
			}
			nodes = append(nodes, d)
		}
		quorum = len(nodes)/2 + 1
	}
	if o.quorum != 0 {
		quorum = o.quorum
	}
	valid, final, err := settlement.VerifySignatures(r, sf.Signatures, nodes, quorum)
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("signatures: %v", err))
	case !final:
		problems = append(problems, fmt.Sprintf("report is not final: %d of %d hub nodes signed it validly, %d needed", len(valid), len(nodes), quorum))
	}
	coop := pf.Coop
	if o.coop != "" {
		coop = identity.DID(o.coop)
	}
	own, proofs, err := pf.transfers()
	if err != nil {
		return fmt.Errorf("--transfers: %w", err)
	}
	if err := settlement.VerifyCoop(r, coop, own, proofs); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("verify failed for period %d (report %x), co-op %s:\n  %s", r.Period, h, coop, strings.Join(problems, "\n  "))
	}
	_, err = fmt.Fprintf(w, "ok: period %d report %x is final (%d of %d hub nodes signed, %d needed); %d transfers of %s are under its Merkle root and its figures for %s match them\n",
		r.Period, h, len(valid), len(nodes), quorum, len(own), coop, coop)
	return err
}
