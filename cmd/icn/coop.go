package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
)

func newCoopCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "coop --config coop.toml",
		Short: "Run a co-op node: member ledger and wallet gateway",
		Long: `Run a co-op node. It opens (or creates) the ledger in data_dir, makes the
configured admin the first moderator, and serves the wallet API until SIGINT or
SIGTERM, when it finishes requests in flight and closes the ledger cleanly.
With [gateway] tls_cert_file and tls_key_file it serves HTTPS and reads both
files again on SIGHUP (and when they change), keeping open connections.
See deploy/coop.toml for an annotated configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return fmt.Errorf("--config is required: see deploy/coop.toml for an example")
			}
			cfg, err := coopnode.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			log, err := newLogger(cfg.Log.Level, cfg.Log.Format)
			if err != nil {
				return err
			}
			n, err := coopnode.Open(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			stop := reloadOnHUP(cmd.Context(), log, n.ReloadTLS)
			defer stop()
			return n.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", os.Getenv(envConfig), "path of coop.toml (default $"+envConfig+")")
	cmd.AddCommand(newVerifyLedgerCmd(), newCoopStatusCmd(), coopBackupCmd(), coopRestoreCmd(), newCoopClusterCmd())
	return cmd
}

func newCoopStatusCmd() *cobra.Command {
	var cfgPath, gatewayURL, output string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "status (--gateway URL | --config coop.toml) [--wait DURATION]",
		Short: "Show a running co-op node's state: its hub link, the hub leader, open transfers, ledger head",
		Long: `Ask a running co-op node (its /readyz, which needs no login) how it stands:
the link to its hub cluster (connecting, connected, disconnected: lost or
unreachable and retrying, refused: the hub does not know this node's DID), the
hub node it is connected to and the leader, failed attempts and the last error,
the two-phase payments waiting for the hub, and the ledger's head.

Exits non-zero unless the node is ready: a node whose hub link is down still
serves its members (status "degraded"), but payments to other co-ops wait.
With --wait, keep asking until the node answers ready, for at most that long:
what a script runs after starting a node.`,
		Example: `  icn coop status --gateway http://127.0.0.1:8080
  icn coop status --config coop.toml -o json
  icn coop status --config coop.toml --wait 60s`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", output)
			}
			base, err := statusURL(gatewayURL, cfgPath)
			if err != nil {
				return err
			}
			if wait < 0 {
				return fmt.Errorf("--wait must not be negative, e.g. --wait 60s")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), max(wait, 10*time.Second))
			defer cancel()
			rd, err := readyWithin(ctx, client.New(base, client.WithUserAgent("icn-coop-status")), wait > 0)
			if err != nil {
				return fmt.Errorf("co-op node at %s: %w", base, err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				err = printJSON(out, rd)
			} else {
				err = printReadiness(out, base, rd)
			}
			if err != nil {
				return err
			}
			if rd.Status != "ready" {
				return fmt.Errorf("co-op node %s is %s: hub link %s", rd.Coop, rd.Status, rd.Hub)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&gatewayURL, "gateway", "", "the node's wallet gateway URL, e.g. http://127.0.0.1:8080")
	cmd.Flags().DurationVar(&wait, "wait", 0, "retry until the node is ready, for at most this long (e.g. 60s)")
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the node's coop.toml (its gateway.listen address is used)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// readyWithin asks the node for its readiness; with retry, again every
// 200 ms until it answers ready or ctx ends, returning the last answer or
// error then.
func readyWithin(ctx context.Context, c *client.Client, retry bool) (*client.Readiness, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		rd, err := c.Ready(ctx)
		if !retry || (err == nil && rd.Status == "ready") {
			return rd, err
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("not ready within --wait: %w", err)
			}
			return rd, nil
		case <-tick.C:
		}
	}
}

// statusURL is the gateway URL given, or the one coop.toml's gateway.listen
// implies (a wildcard host is asked on 127.0.0.1).
func statusURL(gatewayURL, cfgPath string) (string, error) {
	switch {
	case gatewayURL != "" && cfgPath != "":
		return "", errors.New("pass --gateway or --config, not both")
	case gatewayURL != "":
		if err := checkGatewayURL(gatewayURL); err != nil {
			return "", err
		}
		return strings.TrimRight(gatewayURL, "/"), nil
	case cfgPath == "":
		return "", errors.New("pass --gateway URL (the node's wallet gateway) or --config coop.toml")
	}
	cfg, err := coopnode.LoadConfig(cfgPath)
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(cfg.Gateway.Listen)
	if err != nil {
		return "", fmt.Errorf("%s: gateway.listen %q: %w", cfgPath, cfg.Gateway.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func printReadiness(w io.Writer, base string, rd *client.Readiness) error {
	link := rd.Hub
	switch {
	case rd.Hub == "none":
		link = "none (no hub configured: payments to other co-ops are refused with no_route)"
	case rd.HubSince != "":
		link += " since " + rd.HubSince
	}
	if rd.FailedAttempts > 0 {
		link += fmt.Sprintf(" (%d failed attempts)", rd.FailedAttempts)
	}
	rows := [][2]string{{"coop", rd.Coop}, {"gateway", base}, {"status", rd.Status}, {"hub link", link}}
	if rd.Hub != "none" {
		node := orDash(rd.HubNode)
		if rd.HubAddr != "" {
			node += " at " + rd.HubAddr
		}
		registered := "unknown"
		switch {
		case rd.Registered != nil && *rd.Registered:
			registered = "yes"
		case rd.Registered != nil:
			registered = "no (the hub has not admitted this node's key)"
		}
		rows = append(rows, [2]string{"hub node", node}, [2]string{"leader", orDash(rd.Leader)}, [2]string{"registered", registered})
		if rd.LastError != "" {
			rows = append(rows, [2]string{"last error", rd.LastError})
		}
	}
	head := fmt.Sprintf("#%d", rd.LedgerSeq)
	if rd.LedgerHead != "" {
		head += " " + rd.LedgerHead
	}
	rows = append(rows, [2]string{"open transfers", fmt.Sprint(rd.OpenTransfers)}, [2]string{"ledger head", head})
	return kv(w, rows...)
}

func newVerifyLedgerCmd() *cobra.Command {
	var cfgPath, dbPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify-ledger (--config coop.toml | --db ledger.db)",
		Short: "Re-walk the hash chain, recompute every balance and report mismatches",
		Long: `Re-walk the ledger's hash chain from the first entry, check that every entry's
postings sum to zero, recompute every balance and hold, and compare with what is
stored. Exits non-zero if anything disagrees. Run it with the node stopped (the
ledger file is locked while a node has it open).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := dbPath
			opts := ledger.Options{}
			if cfgPath != "" {
				cfg, err := coopnode.LoadConfig(cfgPath)
				if err != nil {
					return err
				}
				path = cfg.LedgerPath()
				if opts, err = cfg.LedgerOptions(); err != nil {
					return err
				}
			}
			if path == "" {
				return fmt.Errorf("pass --config coop.toml or --db path/to/ledger.db")
			}
			opts.Path = path
			opts.Buckets = nil
			st, err := ledger.Open(opts)
			if err != nil {
				return fmt.Errorf("%w (is the node still running?)", err)
			}
			defer st.Close()
			rep, err := st.Verify()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.MarshalIndent(rep, "", "  ")
				fmt.Fprintln(out, string(b))
			} else {
				fmt.Fprintf(out, "entries:   %d\nhead hash: %s\naccounts:  %d\npayments:  %d\nopen:      %d\n", rep.Entries, rep.HeadHash, rep.Accounts, rep.Payments, rep.Open)
				for _, m := range rep.Mismatches {
					fmt.Fprintln(out, "MISMATCH:", m)
				}
			}
			if !rep.OK() {
				return fmt.Errorf("ledger %s: %d mismatches", path, len(rep.Mismatches))
			}
			if !asJSON {
				fmt.Fprintln(out, "ledger OK")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the node's coop.toml")
	cmd.Flags().StringVar(&dbPath, "db", "", "path of ledger.db (instead of --config)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// reloadOnHUP calls reload at each SIGHUP until ctx ends or the returned
// stop is called (SIGHUP would otherwise end the process).
func reloadOnHUP(ctx context.Context, log *slog.Logger, reload func() (bool, error)) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				switch changed, err := reload(); {
				case err != nil:
					log.Error("SIGHUP: tls certificate not reloaded; still serving the previous one", "err", err)
				case changed:
					log.Info("SIGHUP: tls certificate reloaded")
				default:
					log.Info("SIGHUP: tls certificate unchanged")
				}
			}
		}
	}()
	return func() { signal.Stop(hup); cancel() }
}
