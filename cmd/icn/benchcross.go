package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/devfed"
	"github.com/icn-coop/icn/money"
)

// verificationsPerPayment is the Ed25519 verifications on a committed
// cross-co-op payment's path: the payer's gateway checks the intent, the hub
// leader checks the intent and the payee co-op's signed receipt, and the
// payee co-op checks the intent. (Connections are authenticated once, at
// their TLS handshake, not per payment.)
const verificationsPerPayment = 4

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

Without --dev the bench starts an in-process dev federation (3 hub nodes, 2
co-op nodes) in a temporary directory; it then shares the machine's CPUs
with the clients.`,
		Example: `  icn bench cross
  icn bench cross --clients 64 --duration 30s --json`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(o.cpuProf, func() error { return o.runCross(cmd) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dev, "dev", "", "data directory (or dev.json) of a running icn dev to target (default: start an in-process dev federation)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "length of the measured window")
	f.DurationVar(&o.warmup, "warmup", time.Second, "load before the measured window, not counted")
	f.IntVar(&o.clients, "clients", 32, "concurrent clients, each with one payment in flight")
	f.IntVar(&o.members, "members", 8, "members of each in-process dev co-op (without --dev)")
	f.StringVar(&o.amount, "amount", "0.01", "amount of each payment")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object instead of a table")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of this process to FILE")
	return cmd
}

func (o *benchCoopOpts) runCross(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	logw := cmd.ErrOrStderr()
	ctx, stopSignals := benchContext(cmd)
	defer stopSignals()
	m, dir, stop, err := o.target(ctx, logw, fmt.Sprintf("an in-process dev federation (3 hub nodes, 2 co-ops with %d members each)", o.members),
		devfed.StartCrossForBench)
	if err != nil {
		return err
	}
	defer stop()
	if len(m.Coops) < 2 || m.Hub == nil {
		return errors.New("the dev federation needs two co-ops and a hub cluster (icn dev starts both)")
	}
	if _, err := money.ParsePayment(o.amount, money.Hours); err != nil {
		return fmt.Errorf("--amount: %w", err)
	}
	var sides [2][]*client.Session
	var keys [2][]*identity.Key
	for s, coop := range m.Coops[:2] {
		if err := checkGatewayURL(coop.GatewayURL); err != nil {
			return fmt.Errorf("co-op %s in dev.json: %w", coop.ID, err)
		}
		c := client.New(coop.GatewayURL, client.WithUserAgent("icn-bench"))
		for _, mem := range coop.Members {
			k, err := identity.ReadKeyFile(resolveKeyPath(dir, mem.KeyFile))
			if err != nil {
				return fmt.Errorf("member %s of %s: %w", mem.Name, coop.ID, err)
			}
			sess, err := loginRetrying(ctx, c, k, coop.ID)
			if err != nil {
				return fmt.Errorf("log in as %s of %s: %w", mem.Name, coop.ID, err)
			}
			sides[s], keys[s] = append(sides[s], sess), append(keys[s], k)
		}
	}
	n := min(len(sides[0]), len(sides[1]))
	if n == 0 {
		return errors.New("the co-ops have no members in dev.json")
	}
	clients := make([]benchClient, o.clients)
	for i := range clients {
		j := i % n
		clients[i] = benchClient{sess: [2]*client.Session{sides[0][j], sides[1][j]}, keys: [2]*identity.Key{keys[0][j], keys[1][j]}}
	}
	fmt.Fprintf(logw, "paying %s hours between %s and %s: %s warmup, then %s measured\n", o.amount, m.Coops[0].ID, m.Coops[1].ID, o.warmup, o.duration)
	res := o.measure(ctx, clients, money.Hours.Code)
	if ctx.Err() != nil && res.DurationS <= 0 {
		return errors.New("interrupted before the measured window began")
	}
	res.Bench, res.Coop, res.Gateway, res.InProcess, res.Members = "cross", m.Coops[0].ID+"<->"+m.Coops[1].ID, m.Coops[0].GatewayURL, o.dev == "", n
	res.VerificationsPerPayment = verificationsPerPayment
	out := cmd.OutOrStdout()
	if o.jsonOut {
		err = json.NewEncoder(out).Encode(res)
	} else {
		err = printBenchCoop(out, res)
		fmt.Fprintf(out, "signature verifications per payment: %d\n", res.VerificationsPerPayment)
	}
	if err == nil && res.OK == 0 && res.Errors > 0 {
		err = errors.New("bench: no payment committed; see the errors above")
	}
	return err
}
