package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/devfed"
)

// benchReplicasResult is what `icn bench coop --replicas N --json` prints:
// the single node and the replicated co-op, measured in alternating windows.
type benchReplicasResult struct {
	// Single and Replicated are the windows of the round whose ratio is
	// the median.
	Single     benchCoopResult `json:"single"`
	Replicated benchCoopResult `json:"replicated"`
	Replicas   int             `json:"replicas"`
	// Ratio is the median over the rounds of the replicated co-op's
	// committed payments/s over the single node's.
	Ratio  float64              `json:"ratio"`
	Rounds []benchReplicasRound `json:"rounds"`
}

// benchReplicasRound is one single-node window and the replicated window
// right after it.
type benchReplicasRound struct {
	SingleOpsPerS     float64 `json:"single_ops_per_s"`
	SingleP99Ms       float64 `json:"single_p99_ms"`
	ReplicatedOpsPerS float64 `json:"replicated_ops_per_s"`
	ReplicatedP99Ms   float64 `json:"replicated_p99_ms"`
	Ratio             float64 `json:"ratio"`
	single, repl      benchCoopResult
}

// runReplicas starts an in-process single-node co-op and one of the same
// members replicated over o.replicas nodes, both at once, then measures
// them in alternating windows with the same clients: the machine's speed
// drifts within a minute here, and a ratio of windows taken side by side
// holds where one of windows minutes apart does not.
func (o *benchCoopOpts) runReplicas(cmd *cobra.Command) error {
	if o.dev != "" {
		return errors.New("--replicas starts its own co-ops: drop --dev")
	}
	if o.rounds < 1 {
		return errors.New("--rounds must be at least 1")
	}
	logw := cmd.ErrOrStderr()
	ctx, stopSignals := benchContext(cmd)
	defer stopSignals()
	out := benchReplicasResult{Replicas: o.replicas}
	var loads [2]*coopLoad
	for i, start := range []func(context.Context, string, int) (*devfed.Manifest, func(), error){
		devfed.StartForBench,
		func(ctx context.Context, dir string, members int) (*devfed.Manifest, func(), error) {
			return devfed.StartReplicatedForBench(ctx, dir, members, o.replicas)
		},
	} {
		what := fmt.Sprintf("an in-process single-node dev co-op with %d members", o.members)
		if i == 1 {
			what = fmt.Sprintf("an in-process dev co-op replicated over %d nodes with %d members", o.replicas, o.members)
		}
		m, dir, stop, err := o.target(ctx, logw, what, start)
		if err != nil {
			return err
		}
		defer stop()
		if loads[i], err = o.coopSetup(ctx, logw, m, dir); err != nil {
			return err
		}
	}
	for r := range o.rounds {
		var round benchReplicasRound
		for i, l := range loads {
			fmt.Fprintf(logw, "round %d of %d, %s: ", r+1, o.rounds, [2]string{"single node", "replicated"}[i])
			res, err := o.coopWindow(ctx, logw, l)
			if err == nil && res.OK == 0 {
				err = fmt.Errorf("bench: no payment committed in round %d (%s)", r+1, [2]string{"single node", "replicated"}[i])
			}
			if err != nil {
				return err
			}
			if i == 0 {
				round.single, round.SingleOpsPerS, round.SingleP99Ms = res, res.OpsPerS, res.P99Ms
			} else {
				round.repl, round.ReplicatedOpsPerS, round.ReplicatedP99Ms = res, res.OpsPerS, res.P99Ms
			}
		}
		round.Ratio = round.ReplicatedOpsPerS / round.SingleOpsPerS
		out.Rounds = append(out.Rounds, round)
	}
	med := slices.Clone(out.Rounds)
	slices.SortFunc(med, func(a, b benchReplicasRound) int { return cmp.Compare(a.Ratio, b.Ratio) })
	m := med[(len(med)-1)/2]
	out.Single, out.Replicated, out.Ratio = m.single, m.repl, m.Ratio
	w := cmd.OutOrStdout()
	if o.jsonOut {
		return json.NewEncoder(w).Encode(out)
	}
	return printBenchReplicas(w, out)
}

func printBenchReplicas(w io.Writer, r benchReplicasResult) error {
	fmt.Fprintln(w, "single node:")
	if err := printBenchCoop(w, r.Single); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nreplicated over %d nodes (clients at the leader's gateway):\n", r.Replicas)
	if err := printBenchCoop(w, r.Replicated); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nround  single/s  p99 ms  replicated/s  p99 ms  ratio")
	for i, rd := range r.Rounds {
		fmt.Fprintf(w, "%5d  %8.0f  %6.2f  %12.0f  %6.2f  %4.0f %%\n", i+1,
			rd.SingleOpsPerS, rd.SingleP99Ms, rd.ReplicatedOpsPerS, rd.ReplicatedP99Ms, 100*rd.Ratio)
	}
	_, err := fmt.Fprintf(w, "\nreplicated/single: %.0f %% of the single node's payments/s (median of %d rounds; the tables above are that round's)\n",
		100*r.Ratio, len(r.Rounds))
	return err
}
