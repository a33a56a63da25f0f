package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode"
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
			return n.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "path of coop.toml")
	cmd.AddCommand(newVerifyLedgerCmd())
	return cmd
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
				path = filepath.Join(cfg.DataDir, "ledger.db")
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
