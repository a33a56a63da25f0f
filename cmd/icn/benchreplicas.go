package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/devfed"
)

// benchReplicasResult is what `icn bench coop --replicas N --json` prints:
// the single node and the replicated co-op, measured one after the other.
type benchReplicasResult struct {
	Single     benchCoopResult `json:"single"`
	Replicated benchCoopResult `json:"replicated"`
	Replicas   int             `json:"replicas"`
	// Ratio is the replicated co-op's committed payments/s over the
	// single node's.
	Ratio float64 `json:"ratio"`
}

// runReplicas measures an in-process single-node co-op, then one of the same
// members replicated over o.replicas nodes, with the same clients and window.
func (o *benchCoopOpts) runReplicas(cmd *cobra.Command) error {
	if o.dev != "" {
		return errors.New("--replicas starts its own co-ops: drop --dev")
	}
	logw := cmd.ErrOrStderr()
	ctx, stopSignals := benchContext(cmd)
	defer stopSignals()
	var out benchReplicasResult
	out.Replicas = o.replicas
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
		res, err := o.oneTarget(ctx, logw, what, start)
		if err != nil {
			return err
		}
		if i == 0 {
			out.Single = res
		} else {
			out.Replicated = res
		}
	}
	if out.Single.OpsPerS > 0 {
		out.Ratio = out.Replicated.OpsPerS / out.Single.OpsPerS
	}
	w := cmd.OutOrStdout()
	if o.jsonOut {
		return json.NewEncoder(w).Encode(out)
	}
	return printBenchReplicas(w, out)
}

func (o *benchCoopOpts) oneTarget(ctx context.Context, logw io.Writer, what string,
	start func(context.Context, string, int) (*devfed.Manifest, func(), error)) (benchCoopResult, error) {
	m, dir, stop, err := o.target(ctx, logw, what, start)
	if err != nil {
		return benchCoopResult{}, err
	}
	defer stop()
	l, err := o.coopSetup(ctx, logw, m, dir)
	if err != nil {
		return benchCoopResult{}, err
	}
	res, err := o.coopWindow(ctx, logw, l)
	if err == nil && res.OK == 0 {
		err = fmt.Errorf("bench: no payment committed on %s", what)
	}
	return res, err
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
	_, err := fmt.Fprintf(w, "\nreplicated/single: %.0f %% of the single node's payments/s (p99 %.2f ms vs %.2f ms)\n",
		100*r.Ratio, r.Replicated.P99Ms, r.Single.P99Ms)
	return err
}
