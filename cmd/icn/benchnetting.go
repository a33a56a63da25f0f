package main

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

// benchNettingOpts are the flags of `icn bench netting`.
type benchNettingOpts struct {
	transfers int
	coops     int
	runs      int
	procs     int
	seed      uint64
	jsonOut   bool
	cpuProf   string
}

func newBenchNettingCmd() *cobra.Command {
	o := &benchNettingOpts{}
	cmd := &cobra.Command{
		Use:   "netting",
		Short: "Time settlement netting and report building over one period's transfers",
		Long: `Generates one period of committed transfers among co-ops (deterministic for
a seed) and times, per run, two phases separately:

  net     settlement.Net + settlement.Instructions (what closing a period
          needs to know who pays whom)
  report  settlement.BuildReport: netting, instructions and the Merkle root
          over every transfer (what each hub node builds and signs)

ops_per_s is transfers netted per second in the net phase (median run);
p50_ms and p99_ms are per-run times of the net phase; the report_* fields
are the same for the report phase. By default it runs on one core
(GOMAXPROCS=1); the target is at most 1 s per million transfers.`,
		Example: `  icn bench netting
  icn bench netting --transfers 1000000 --coops 1000 --runs 5 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.transfers < 1 || o.coops < 2 || o.runs < 1 || o.procs < 1 {
				return errors.New("--transfers and --runs must be at least 1, --coops at least 2, --procs at least 1")
			}
			return withCPUProfile(o.cpuProf, func() error { return o.run(cmd.OutOrStdout()) })
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.transfers, "transfers", 1_000_000, "committed transfers in the period")
	f.IntVar(&o.coops, "coops", 1000, "participants")
	f.IntVar(&o.runs, "runs", 5, "timed runs of each phase")
	f.IntVar(&o.procs, "procs", 1, "GOMAXPROCS while timing")
	f.Uint64Var(&o.seed, "seed", 1, "random seed of the generated period")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object instead of a table")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile to this file")
	return cmd
}

// benchNettingResult is what `icn bench netting --json` prints.
type benchNettingResult struct {
	Bench        string  `json:"bench"`
	Transfers    int     `json:"transfers"`
	Coops        int     `json:"coops"`
	Runs         int     `json:"runs"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	Instructions int     `json:"instructions"`
	OpsPerS      float64 `json:"ops_per_s"` // transfers netted per second (net phase, median run)
	P50Ms        float64 `json:"p50_ms"`    // net phase, per run
	P99Ms        float64 `json:"p99_ms"`
	ReportOpsS   float64 `json:"report_ops_per_s"` // transfers per second through BuildReport (median run)
	ReportP50Ms  float64 `json:"report_p50_ms"`
	ReportP99Ms  float64 `json:"report_p99_ms"`
	Errors       int     `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
}

// benchPeriod generates n committed transfers of period 1 among coops
// participants, in hours, with amounts of 0.01 to 1000.00.
func benchPeriod(n, coops int, seed uint64) ([]clearing.Transfer, error) {
	dids := make([]identity.DID, coops)
	for i := range dids {
		seedBytes := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint64(seedBytes, uint64(i)+1)
		k, err := identity.KeyFromSeed(seedBytes)
		if err != nil {
			return nil, err
		}
		dids[i] = k.DID()
	}
	r := rand.New(rand.NewPCG(seed, 0x5e77))
	out := make([]clearing.Transfer, n)
	for i := range out {
		f := r.IntN(coops)
		t := r.IntN(coops - 1)
		if t >= f {
			t++
		}
		out[i] = clearing.Transfer{ID: fmt.Sprintf("t%09d", i), From: dids[f], To: dids[t],
			Amount: money.FromUnits(1+r.Int64N(100_000), money.Hours), State: clearing.StateCommitted, Period: 1,
			PreparedAt: int64(i), ExpiresAt: 1 << 62, DecidedAt: int64(i) + 1}
	}
	return out, nil
}

func (o *benchNettingOpts) run(w io.Writer) error {
	ts, err := benchPeriod(o.transfers, o.coops, o.seed)
	if err != nil {
		return err
	}
	prev := runtime.GOMAXPROCS(o.procs)
	defer runtime.GOMAXPROCS(prev)
	res := benchNettingResult{Bench: "netting", Transfers: o.transfers, Coops: o.coops, Runs: o.runs, GOMAXPROCS: o.procs}
	fail := func(err error) {
		res.Errors++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
	fed, err := identity.KeyFromSeed(make([]byte, ed25519.SeedSize))
	if err != nil {
		return err
	}
	h := settlement.Header{Federation: fed.DID(), Period: 1, ClosedAt: int64(o.transfers) + 1}
	var netTimes, repTimes []time.Duration
	for i := 0; i < o.runs; i++ {
		runtime.GC() // keep the previous run's garbage out of this one's time
		start := time.Now()
		n, err := settlement.Net(ts)
		if err == nil {
			var ins []settlement.Instruction
			ins, err = settlement.Instruct(n, nil, money.DefaultCurrencies())
			res.Instructions = len(ins)
		}
		netTimes = append(netTimes, time.Since(start))
		if err != nil {
			fail(err)
		}
		runtime.GC()
		start = time.Now()
		_, err = settlement.BuildReport(settlement.ReportInput{Header: h, Transfers: ts, Currencies: money.DefaultCurrencies()})
		repTimes = append(repTimes, time.Since(start))
		if err != nil {
			fail(err)
		}
	}
	ns, rs := summarizeLatencies(netTimes), summarizeLatencies(repTimes)
	res.P50Ms, res.P99Ms = millis(ns.P50), millis(ns.P99)
	res.ReportP50Ms, res.ReportP99Ms = millis(rs.P50), millis(rs.P99)
	if ns.P50 > 0 {
		res.OpsPerS = float64(o.transfers) / ns.P50.Seconds()
	}
	if rs.P50 > 0 {
		res.ReportOpsS = float64(o.transfers) / rs.P50.Seconds()
	}
	if o.jsonOut {
		return json.NewEncoder(w).Encode(res)
	}
	fmt.Fprintf(w, "icn bench netting: %d transfers among %d co-ops, %d runs, GOMAXPROCS=%d\n", res.Transfers, res.Coops, res.Runs, res.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "phase\tp50\tp99\ttransfers/s\n")
	fmt.Fprintf(tw, "net + instructions\t%.1f ms\t%.1f ms\t%.0f\n", res.P50Ms, res.P99Ms, res.OpsPerS)
	fmt.Fprintf(tw, "report (incl. Merkle root)\t%.1f ms\t%.1f ms\t%.0f\n", res.ReportP50Ms, res.ReportP99Ms, res.ReportOpsS)
	fmt.Fprintf(tw, "instructions\t%d\n", res.Instructions)
	fmt.Fprintf(tw, "errors\t%d\n", res.Errors)
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.FirstError != "" {
		fmt.Fprintln(w, "first error:", res.FirstError)
	}
	return nil
}
