package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/devfed"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/money"
)

func newBenchCrossCmd() *cobra.Command {
	o := &benchCoopOpts{}
	cmd := &cobra.Command{
		Use:   "cross",
		Short: "Signed cross-co-op payments between two co-op nodes through a 3-node hub cluster",
		Long: `icn bench cross drives two co-op nodes' wallet gateways the way member apps
do, with every payment going to the other co-op: the payer's co-op holds the
amount and sends a prepare over QUIC to the hub leader, which prepares the
transfer in its Raft-replicated book, delivers it to the payee's co-op, and
commits on its signed accept; both co-ops then apply the outcome.

Client i logs in as member i mod M of the first co-op and of the second, and
pays back and forth, so balances and the co-ops' net positions at the hub
stay near zero however long the run. Latency runs from signing the intent to
the payer gateway's answer; only "committed" counts as an operation.

Signature verifications per payment are measured: the bench reads every
node's /metrics (co-op gateways, hub nodes) while the federation is idle
before the warmup and again after the last payment, and divides the growth
of icn_signature_verifications_total by the payments the hubs decided
(icn_hub_routed_transfers_total) in between.

Without --dev the bench starts an in-process dev federation (3 hub nodes, 2
co-op nodes) in a temporary directory; it then shares the machine's CPUs
with the clients.`,
		Example: `  icn bench cross
  icn bench cross --clients 64 --duration 30s --json
  icn bench cross --clients 112 --members 16 --duration 10s --json   # the run docs/BENCHMARKS.md records`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(o.cpuProf, func() error { return o.runCross(cmd) })
		},
	}
	f := cmd.Flags()
	o.flags(f, "an in-process dev federation", "members of each in-process dev co-op (without --dev)")
	f.BoolVar(&o.regions, "regions", false, "pay across regions (co-op → region hub → parent hub → region hub → co-op) instead of within one federation")
	return cmd
}

// benchPair picks the two co-ops to pay between: the first two of one
// federation, or with regions the first co-op and the first of another
// federation.
func benchPair(m *devfed.Manifest, regions bool) ([2]devfed.ManifestCoop, error) {
	if len(m.Coops) < 2 || m.Hub == nil {
		return [2]devfed.ManifestCoop{}, errors.New("the dev federation needs two co-ops and a hub cluster (icn dev starts both)")
	}
	a := m.Coops[0]
	for _, b := range m.Coops[1:] {
		if (b.Federation != a.Federation) == regions {
			return [2]devfed.ManifestCoop{a, b}, nil
		}
	}
	if regions {
		return [2]devfed.ManifestCoop{}, errors.New("the dev federation has no co-op in another region (icn dev runs two regions)")
	}
	return [2]devfed.ManifestCoop{}, errors.New("the dev federation has no second co-op in the first co-op's federation")
}

// firstPayment pays once (retrying for up to 30 s) so that the measured
// window does not include the federation linking up: regions learn each
// other's co-ops from their parent's announcements.
func firstPayment(ctx context.Context, bc benchClient) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		res, err := bc.sess[0].Pay(ctx, client.PaymentIntent{To: bc.sess[1].DID(), ToCoop: bc.sess[1].CoopID(), Amount: "0.01"}, bc.keys[0])
		if err == nil && res.Status == client.StatusCommitted {
			return nil
		}
		last = fmt.Sprint(res, err)
		time.Sleep(100 * time.Millisecond) // the federation is still linking up
	}
	return fmt.Errorf("bench: no payment commits between the co-ops (last: %s)", last)
}

func (o *benchCoopOpts) runCross(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	logw := cmd.ErrOrStderr()
	ctx, stopSignals := benchContext(cmd)
	defer stopSignals()
	what, start := fmt.Sprintf("an in-process dev federation (3 hub nodes, 2 co-ops with %d members each)", o.members), devfed.StartCrossForBench
	if o.regions {
		what, start = fmt.Sprintf("an in-process dev federation tree (two regions and a parent, 3 hub nodes each; co-ops with %d members each)", o.members), devfed.StartRegionsForBench
	}
	m, dir, stop, err := o.target(ctx, logw, what, start)
	if err != nil {
		return err
	}
	defer stop()
	l, err := o.crossSetup(ctx, logw, m, dir)
	if err != nil {
		return err
	}
	// The federation is idle now: every verification counted from here on
	// belongs to a payment of the run.
	meter, merr := startSigMeter(ctx, m)
	res, err := o.crossWindow(ctx, logw, l)
	if err != nil {
		return err
	}
	if merr == nil && ctx.Err() == nil {
		merr = meter.finish(ctx, &res)
	}
	if merr != nil && ctx.Err() == nil {
		fmt.Fprintf(logw, "signature verifications not measured: %v\n", merr)
	}
	out := cmd.OutOrStdout()
	if o.jsonOut {
		err = json.NewEncoder(out).Encode(res)
	} else {
		err = printBenchCoop(out, res)
		fmt.Fprintln(out, verificationsLine(res))
	}
	if err == nil && res.OK == 0 && res.Errors > 0 {
		err = errors.New("bench: no payment committed; see the errors above")
	}
	return err
}

// crossLoad is icn bench cross's clients, logged in to two co-ops.
type crossLoad struct {
	clients []benchClient
	pair    [2]devfed.ManifestCoop
	members int
	inProc  bool
}

// crossSetup logs clients in to two co-ops of m (their key files under
// dir) and pays once between them, so that the federation has linked up.
func (o *benchCoopOpts) crossSetup(ctx context.Context, logw io.Writer, m *devfed.Manifest, dir string) (*crossLoad, error) {
	pair, err := benchPair(m, o.regions)
	if err != nil {
		return nil, err
	}
	if _, err := money.ParsePayment(o.amount, money.Hours); err != nil {
		return nil, fmt.Errorf("--amount: %w", err)
	}
	var sides [2][]*client.Session
	var keys [2][]*identity.Key
	for s, coop := range pair {
		if err := checkGatewayURL(coop.GatewayURL); err != nil {
			return nil, fmt.Errorf("co-op %s in dev.json: %w", coop.ID, err)
		}
		c := client.New(coop.GatewayURL, client.WithUserAgent("icn-bench"))
		for _, mem := range coop.Members {
			k, err := keyfile.Read(resolveKeyPath(dir, mem.KeyFile))
			if err != nil {
				return nil, fmt.Errorf("member %s of %s: %w", mem.Name, coop.ID, err)
			}
			sess, err := loginRetrying(ctx, c, k, coop.ID)
			if err != nil {
				return nil, fmt.Errorf("log in as %s of %s: %w", mem.Name, coop.ID, err)
			}
			sides[s], keys[s] = append(sides[s], sess), append(keys[s], k)
		}
	}
	n := min(len(sides[0]), len(sides[1]))
	if n == 0 {
		return nil, errors.New("the co-ops have no members in dev.json")
	}
	clients := make([]benchClient, o.clients)
	for i := range clients {
		j := i % n
		clients[i] = benchClient{sess: [2]*client.Session{sides[0][j], sides[1][j]}, keys: [2]*identity.Key{keys[0][j], keys[1][j]}}
	}
	if err := firstPayment(ctx, clients[0]); err != nil {
		return nil, err
	}
	return &crossLoad{clients: clients, pair: pair, members: n, inProc: o.dev == ""}, nil
}

// crossWindow runs l's clients through one warmup and measured window.
func (o *benchCoopOpts) crossWindow(ctx context.Context, logw io.Writer, l *crossLoad) (benchCoopResult, error) {
	fmt.Fprintf(logw, "paying %s hours between %s and %s: %s warmup, then %s measured\n", o.amount, l.pair[0].ID, l.pair[1].ID, o.warmup, o.duration)
	res := o.measure(ctx, l.clients, money.Hours.Code)
	if ctx.Err() != nil && res.DurationS <= 0 {
		return res, errors.New("interrupted before the measured window began")
	}
	res.Bench, res.Coop, res.Gateway, res.InProcess, res.Members = "cross", l.pair[0].ID+"<->"+l.pair[1].ID, l.pair[0].GatewayURL, l.inProc, l.members
	res.Regions = o.regions
	return res, nil
}
