package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/devfed"
)

func newDevCmd() *cobra.Command {
	var dataDir, logLevel string
	var basePort, replicas int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a whole local federation in one process (two regions under a parent, three co-op nodes)",
		Long: `Run a local federation tree on the embedded default: two regional 3-node hub
clusters (raft over TLS on 127.0.0.1, gRPC control plane, QUIC data plane)
under a 3-node parent cluster, with co-ops coop-a (replicated over 3 co-op
nodes, one Raft group: --replicas) and coop-b in region 1 and coop-c in
region 2, each with an admin and funded demo members (alice,
bob, carol). Payments between coop-a and coop-b go through region 1's hub;
payments to coop-c go region 1 → parent → region 2. Every hub node also
runs a member of the federation directory (a private kad-dht on 127.0.0.1
anchored at the parent federation), where hubs publish and look up signed
records of where each co-op sits; route announcements stay on as the
fallback. Keys, ledgers and raft
data live in --data (a fresh temporary directory by default); dev.json there
names every co-op's id, gateway URL and key files, and every hub cluster's
nodes (DIDs, addresses) and operator key, so scripts can drive it. Stops
cleanly on Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel, "text")
			if err != nil {
				return err
			}
			temp := dataDir == ""
			if temp {
				if dataDir, err = os.MkdirTemp("", "icn-dev-"); err != nil {
					return err
				}
			}
			if dataDir, err = filepath.Abs(dataDir); err != nil {
				return err
			}
			f, err := devfed.Start(cmd.Context(), devfed.Options{DataDir: dataDir, BasePort: basePort, Logger: log, RemoteCoops: []string{"coop-c"}, Directory: true, Replicas: replicas})
			if err != nil {
				return err
			}
			printDev(cmd, f.Manifest, dataDir)
			select {
			case <-cmd.Context().Done():
			case err = <-f.Err():
			}
			f.Stop()
			fmt.Fprintln(cmd.OutOrStdout(), "stopped; data kept in", dataDir)
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default: a new temporary directory)")
	cmd.Flags().IntVar(&basePort, "base-port", 0, "first gateway port (default: free ports)")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	cmd.Flags().IntVar(&replicas, "replicas", 3, "nodes of coop-a, a replicated co-op (1: a single node)")
	return cmd
}

func printDev(cmd *cobra.Command, m *devfed.Manifest, dir string) {
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "ICN dev federation is up.")
	for _, c := range m.Coops {
		fmt.Fprintf(out, "  %-8s %s   node %s   web wallet %s/wallet/\n", c.ID, c.GatewayURL, c.DID.Short(), c.GatewayURL)
		if len(c.Gateways) > 1 {
			fmt.Fprintf(out, "           replicated: gateways %s\n", strings.Join(c.Gateways, " "))
		}
		for _, mem := range c.Members {
			fmt.Fprintf(out, "           %-6s %s\n", mem.Name, mem.DID)
		}
	}
	for _, h := range m.Hubs {
		fmt.Fprintf(out, "  hub cluster %s (federation %s), metrics http://%s/metrics:\n", h.Name, h.FederationDID.Short(), h.Nodes[0].HTTP)
		for i, n := range h.Nodes {
			fmt.Fprintf(out, "           node-%d %s   grpc %s   data (QUIC) %s", i+1, n.DID.Short(), n.GRPC, n.Data)
			if n.Directory != "" {
				fmt.Fprintf(out, "   directory %s", n.Directory)
			}
			fmt.Fprintln(out)
		}
	}
	if h := m.Hub; h != nil {
		var addrs, dids []string
		for _, n := range h.Nodes {
			addrs, dids = append(addrs, n.GRPC), append(dids, string(n.DID))
		}
		fmt.Fprintf(out, "  operator commands (%s):\n    export ICN_HUB=%s ICN_HUB_DID=%s ICN_KEY=%s\n    go run ./cmd/icn federation coop list\n    go run ./cmd/icn settlement ui   # the treasurer pages\n",
			h.Name, strings.Join(addrs, ","), strings.Join(dids, ","), h.OperatorKeyFile)
	}
	fmt.Fprintf(out, "Manifest: %s\n", filepath.Join(dir, devfed.ManifestFile))
	if len(m.Coops) > 0 && len(m.Coops[0].Members) > 1 {
		a := m.Coops[0]
		fmt.Fprintf(out, "\nTry a payment from %s to %s:\n  go run ./cmd/icn wallet pay --dev %s --key %s --to %s --amount 2.50 --memo \"first payment\"\n",
			a.Members[0].Name, a.Members[1].Name, dir, a.Members[0].KeyFile, a.Members[1].DID)
		fmt.Fprintf(out, "  go run ./cmd/icn wallet balance --dev %s --key %s\n", dir, a.Members[0].KeyFile)
	}
	for i, how := range []string{"", "routed through the hub cluster", "across regions: region 1 → parent → region 2"} {
		if i == 0 || i >= len(m.Coops) || m.Hub == nil || len(m.Coops[0].Members) == 0 || len(m.Coops[i].Members) == 0 {
			continue
		}
		a, b := m.Coops[0], m.Coops[i]
		fmt.Fprintf(out, "\nTry a payment from %s of %s to %s of %s, %s:\n"+
			"  go run ./cmd/icn wallet pay --dev %s --key %s --to %s --to-coop %s --amount 1.25 --memo \"across co-ops\"\n",
			a.Members[0].Name, a.ID, b.Members[0].Name, b.ID, how, dir, a.Members[0].KeyFile, b.Members[0].DID, b.ID)
	}
	fmt.Fprintln(out, "\nCtrl-C stops the federation.")
}
