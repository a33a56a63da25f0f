package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/cmd/icn/internal/dirsim"
)

func newBenchDirectoryCmd() *cobra.Command {
	o := dirsim.DefaultOptions()
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "directory",
		Short: "A simulated federation tree of a million co-ops: hub hops per payment and directory lookup latency",
		Long: `icn bench directory measures the federation directory at the issue's scale
in one process, in two parts.

Routing: a tree of --federations federations (a root; --national national and
--sector sector federations under it; the rest regions, each under one
national federation and a --dual-share of them also under a sector one) with
--coops co-ops spread over the regions. Every federation's key and admission
links are real and signed; each of --payments payments between random co-ops
is walked hop by hop by the payee's signed directory record, checked by the
directory's validator, with the hubs' own routing rule (routing/directory
Record.Route, which hub/dataplane calls): down to a child on the record's
path, else up to a parent on it, else to the first parent. Hub hops are the
hub-to-hub legs: 0 within a region, 2 through a shared national or sector
federation, 4 through the root.

Directory, with --dht-nodes: real kad-dht directory nodes (routing/directory, the
code hub nodes run) joined into one DHT, on libp2p's in-memory network
(--transport mem: no sockets, no latency; the figures are this process's CPU)
or on TCP loopback with the private network key as deployed (--transport tcp;
each node holds sockets to its peers, so it needs a high open-file limit,
which the command raises as far as the system allows). --records records of
random co-ops are published by their regions' nodes, then each of --lookups
lookups asks a random node for one of them (never a node that asked for it
before: a cached answer says nothing of the DHT), timing it and counting the
DHT queries it sent. Nodes are one per federation at --dht-nodes equal to
--federations; a million records would not fit one process beside a
thousand nodes, so the records are a sample: the lookup path does not depend
on how many other records the nodes hold.

With --dht-nodes 0 only the routing part runs; with --dht-nodes N, N real
nodes instead of the model.

By default (--model) the directory part is a model of go-libp2p-kad-dht,
for sizes that do not fit one process as real nodes (cmd/icn/internal/dirsim
model.go): every node has a real go-libp2p-kbucket routing table over its
real peer id, filled as kad-dht fills it (bootstrap peers, then kad-dht's
refreshes: a lookup of the node's own id and of a random key per bucket),
and lookups follow kad-dht v0.42.2's query (alpha 10, beta 3, the follow-up
to the 20 closest; GetValue's quorum 0). Query times are replayed on a
virtual clock from a real run: first --model-validate real DHTs run (on
--transport) with every lookup's queries traced, and the model of the same
size runs the same publishes and lookups beside each; the model then runs
alone at each of --model-nodes nodes, its query times from the last real run.`,
		Example: `  icn bench directory                               # 1,000,000 co-ops; 1,000 nodes modelled, validated against 100 real ones
  icn bench directory --dht-nodes 100 --transport tcp --federations 100 --national 5 --sector 3
  icn bench directory --dht-nodes 0 --payments 1000000 --json
  icn bench directory --model --transport tcp --model-validate 100 --model-nodes 1000,10000`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The model is the default; --dht-nodes asks for real nodes
			// (or, at 0, for the routing part alone).
			if f := cmd.Flags(); f.Changed("dht-nodes") {
				if f.Changed("model") && o.Model {
					return errors.New("--model and --dht-nodes: give one (the model's sizes are --model-nodes)")
				}
				o.Model = false
			}
			if o.Transport == dirsim.TransportTCP {
				raiseOpenFiles(cmd.ErrOrStderr())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := dirsim.Run(ctx, o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if jsonOut {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			return printDirectoryBench(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Shape.Federations, "federations", o.Shape.Federations, "federations in the tree, the root included")
	f.IntVar(&o.Shape.National, "national", o.Shape.National, "national federations under the root")
	f.IntVar(&o.Shape.Sector, "sector", o.Shape.Sector, "sector federations under the root")
	f.Float64Var(&o.Shape.DualShare, "dual-share", o.Shape.DualShare, "share of regions also under a sector federation (0..1)")
	f.IntVar(&o.Shape.Coops, "coops", o.Shape.Coops, "co-ops, spread evenly over the regions")
	f.IntVar(&o.Payments, "payments", o.Payments, "payments routed between random co-ops")
	f.IntVar(&o.DHTNodes, "dht-nodes", o.DHTNodes, "directory nodes (0: routing only)")
	f.StringVar(&o.Transport, "transport", o.Transport, "directory nodes' network: mem (in-memory libp2p) or tcp (loopback)")
	f.IntVar(&o.Records, "records", o.Records, "records published into the directory")
	f.IntVar(&o.Lookups, "lookups", o.Lookups, "lookups timed")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the keys, the tree and the payments")
	f.BoolVar(&o.Model, "model", o.Model, "the directory part as the kad-dht model (the default; --dht-nodes N runs N real nodes instead): real DHTs of --model-validate nodes beside the model, then the model at --model-nodes")
	f.IntSliceVar(&o.ModelValidate, "model-validate", o.ModelValidate, "with --model: sizes of the real DHTs (on --transport) the model is checked against and draws its query times from")
	f.IntSliceVar(&o.ModelNodes, "model-nodes", o.ModelNodes, "with --model: sizes of the modelled DHT")
	f.BoolVar(&jsonOut, "json", false, "print one JSON object instead of a table")
	return cmd
}

// raiseOpenFiles lifts the open-file limit as far as it goes (as root, to
// 2^20; else the soft limit to the hard one): a TCP directory node keeps a
// socket to each peer it has talked to.
func raiseOpenFiles(logw io.Writer) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Max < 1<<20 && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}) == nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			fmt.Fprintf(logw, "raise the open-file limit: %v\n", err)
			return
		}
	}
	fmt.Fprintf(logw, "open files limited to %d: about %d TCP directory nodes fit\n", l.Cur, l.Cur/110)
}

func printDirectoryBench(w io.Writer, r dirsim.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "tree\t%d co-ops, %d federations (%d national, %d sector, %d regions, %.0f%% also under a sector)\n",
		r.Shape.Coops, r.Shape.Federations, r.Shape.National, r.Shape.Sector, r.Regions, 100*r.Shape.DualShare)
	legs := make([]int, 0, len(r.HubHops))
	for k := range r.HubHops {
		legs = append(legs, k)
	}
	slices.Sort(legs)
	for _, k := range legs {
		fmt.Fprintf(tw, "  %d hub hops\t%d payments (%.1f%%)\n", k, r.HubHops[k], 100*float64(r.HubHops[k])/float64(max(1, r.Payments)))
	}
	fmt.Fprintf(tw, "hub hops per payment\tp50 %d, p99 %d, max %d (target ≤ 4)\n", r.HubHopsP50, r.HubHopsP99, r.HubHopsMax)
	if r.Model != nil {
		printModel(tw, r.Model)
	}
	if r.DHTNodes > 0 {
		fmt.Fprintf(tw, "directory\t%d kad-dht nodes on %s, up in %.1fs, %.2f MB heap each\n", r.DHTNodes, r.Transport, r.SetupSecs, r.HeapMBPerNode)
		fmt.Fprintf(tw, "records\t%d published (%.1f ms each); %d per node at full size\n", r.Records, r.PublishMs, r.RecordsPerNode)
		fmt.Fprintf(tw, "lookups\t%d, %d failed\n", r.Lookups, r.LookupFailures)
		fmt.Fprintf(tw, "lookup latency\tp50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 ≤ 50 ms)\n", r.LookupP50Ms, r.LookupP99Ms, r.LookupMaxMs)
		fmt.Fprintf(tw, "DHT queries per lookup\tp50 %d, p99 %d\n", r.QueriesP50, r.QueriesP99)
	}
	return tw.Flush()
}

func printModel(w io.Writer, m *dirsim.ModelResult) {
	row := func(s dirsim.LookupStats) {
		fmt.Fprintf(w, "  %s, %d nodes\t%.0f peers per table; %d lookups, %d failed; queries p50 %d, p99 %d, mean %.1f; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; query time p50 %.2f ms, p99 %.2f ms (as the loop saw it %.2f, %.2f), record check %.2f ms; set up in %.1fs\n",
			s.Source, s.Nodes, s.TableMean, s.Lookups, s.Failures, s.QueriesP50, s.QueriesP99, s.QueriesMean, s.P50Ms, s.P99Ms, s.MaxMs, s.QueryP50Ms, s.QueryP99Ms, s.LoopQueryP50Ms, s.LoopQueryP99Ms, s.CheckMs, s.SetupSecs)
	}
	for _, v := range m.Validations {
		verdict := "within"
		if !v.Within {
			verdict = "NOT within"
		}
		fmt.Fprintf(w, "validation, %d nodes\tmodel %s tolerance (queries ±%.0f%%, latency p50/p99 ±%.0f%%)\n",
			v.Real.Nodes, verdict, 100*dirsim.QueryTolerance, 100*dirsim.LatencyTolerance)
		row(v.Real)
		row(v.Model)
	}
	if len(m.Runs) > 0 {
		fmt.Fprintf(w, "model\tquery times drawn from %s\n", m.TimesFrom)
	}
	for _, s := range m.Runs {
		row(s)
		fmt.Fprintf(w, "  \tlookup latency p99 %.1f ms (target ≤ 50 ms); %.1f%% of records put on all 20 closest nodes\n", s.P99Ms, 100*s.PutOnClosest)
	}
}
