package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/internal/keyfile"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// writeVerified writes a backup with fill to out.partial beside out, makes
// it durable, runs verify on it and only then renames it to out, so that out
// is never a partial or unchecked copy.
func writeVerified(out string, fill func(io.Writer) error, verify func(path string) error) error {
	tmp := out + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp)
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := verify(tmp); err != nil {
		return fmt.Errorf("the copy does not check out, nothing written to %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if d, err := os.Open(filepath.Dir(out)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// hubBackupCmd is icn hub backup: a consistent copy of a running node's
// state over the control plane.
func hubBackupCmd() *cobra.Command {
	o := &hubOpts{}
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE [--hub ADDR --hub-did DID --key operator.key]",
		Short: "Copy a running hub node's replicated state to a file (operators)",
		Long: `Stream a consistent copy of the state machine of the first --hub node that
answers (one read transaction, as a raft snapshot: writes go on meanwhile),
check it by restoring it into a scratch state machine and comparing state
hashes, and only then write FILE (mode 0600). The copy holds everything
the cluster had applied on that node, up to the index printed; name the
leader first to include every acknowledged write.

Restore with icn hub restore on every node of the cluster to be rebuilt.
Connection flags as for icn federation (--hub, --hub-did, --key).`,
		Example: `  icn hub backup --out hub-$(date +%F).icnbak
  icn hub backup --hub 10.0.0.1:7200 --hub-did did:icn:... --key operator.key --out /backups/hub.icnbak`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required: the file to write the backup to")
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				var info hub.BackupInfo
				var from string
				err := writeVerified(out, func(w io.Writer) error {
					var err error
					from, err = c.backup(ctx, w)
					return err
				}, func(path string) error {
					var err error
					info, err = hub.VerifyBackup(path)
					return err
				})
				if err != nil {
					return err
				}
				return kv(cmd.OutOrStdout(), [2]string{"backup", out}, [2]string{"from", fmt.Sprintf("%s at %s", info.Node, from)},
					[2]string{"index", fmt.Sprint(info.Index)}, [2]string{"voters", fmt.Sprint(len(info.Voters))},
					[2]string{"state hash", info.StateHash}, [2]string{"checked", "restored into a scratch state machine: same state hash"})
			})
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "file to write (an existing one is replaced only once the new copy checks out)")
	t := cmd.PersistentFlags().Lookup("timeout")
	t.DefValue = "10m0s"
	_ = t.Value.Set("10m")
	return cmd
}

// backup streams a backup from the first node that answers into w; a node
// that is unavailable before anything was received is skipped.
func (c *hubClient) backup(ctx context.Context, w io.Writer) (string, error) {
	var last error
	for _, a := range c.nodes {
		stream, err := icnv1.NewBackupServiceClient(a.cc).Backup(ctx, &icnv1.BackupRequest{})
		if err != nil {
			last = err
			continue
		}
		first := true
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return a.addr, nil
			}
			if err != nil {
				if d := a.rejectedDID(); d != "" {
					err = fmt.Errorf("the hub at %s presented key %s, which is not one of --hub-did", a.addr, d)
				}
				if first && status.Code(err) == codes.Unavailable {
					last = err
					break
				}
				return "", fmt.Errorf("backup from %s: %w", a.addr, err)
			}
			first = false
			if _, err := w.Write(chunk.GetData()); err != nil {
				return "", fmt.Errorf("write backup: %w", err)
			}
		}
	}
	return "", fmt.Errorf("no hub node answered: %w", last)
}

func hubRestoreCmd() *cobra.Command {
	var cfgPath, from string
	cmd := &cobra.Command{
		Use:   "restore --config hub.toml --from FILE",
		Short: "Prepare an empty data_dir so that the node starts from a backup",
		Long: `Check the backup (restored into a scratch state machine, same state hash),
then write it into data_dir as the node's raft snapshot, with the cluster of
[[peers]]. data_dir must hold no raft state. Run it on every node of the
cluster being rebuilt, with the same FILE and the same [[peers]] (the nodes
the backup came from: their keys, at any addresses), then start the nodes:
they elect a leader and go on from the backup's index.`,
		Example: `  icn hub restore --config /etc/icn/hub.toml --from hub-2026-05-01.icnbak`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				cfgPath = os.Getenv(envConfig)
			}
			if cfgPath == "" || from == "" {
				return errors.New("--config and --from are required")
			}
			fc, err := hub.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			key, err := keyfile.Read(fc.KeyFile)
			if err != nil {
				return fmt.Errorf("node key (restore with the key the node had): %w", err)
			}
			peers := fc.NodeConfig(key).Peers
			if len(peers) == 0 {
				return errors.New("[[peers]] is empty: list the cluster's nodes (the backup's voters)")
			}
			info, err := hub.RestoreBackup(fc.DataDir, peers, from)
			if err != nil {
				return err
			}
			return kv(cmd.OutOrStdout(), [2]string{"restored", from}, [2]string{"into", fc.DataDir},
				[2]string{"index", fmt.Sprint(info.Index)}, [2]string{"state hash", info.StateHash},
				[2]string{"next", "start every node of [[peers]]: icn hub --config " + cfgPath})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the node's hub.toml (default $"+envConfig+")")
	cmd.Flags().StringVar(&from, "from", "", "backup file (icn hub backup)")
	return cmd
}

func coopBackupCmd() *cobra.Command {
	var gatewayURL, coop, keyFile, out string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "backup --gateway URL --coop ID --key moderator.key --out FILE",
		Short: "Copy a running co-op node's ledger file to a file (moderators)",
		Long: `Download a consistent copy of the node's ledger file (one read transaction:
payments go on meanwhile) over the wallet gateway, logged in as a moderator,
check it (its state hash and ledger head are the ones the node announced),
and only then write FILE (mode 0600). The file holds the ledger, memberships
and sessions, not the node key: back that up once, separately.

Restore with icn coop restore, the node stopped.`,
		Example: `  icn coop backup --gateway https://coop.example --coop riverside --key admin.key --out riverside.db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if gatewayURL == "" || coop == "" || keyFile == "" || out == "" {
				return errors.New("--gateway, --coop, --key and --out are required")
			}
			if err := checkGatewayURL(gatewayURL); err != nil {
				return err
			}
			key, err := keyfile.Read(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			s, err := client.New(strings.TrimRight(gatewayURL, "/"), client.WithUserAgent("icn-coop-backup")).Login(ctx, key, coop)
			if err != nil {
				return fmt.Errorf("log in to %s at %s as %s: %w", coop, gatewayURL, key.DID(), err)
			}
			var sent *client.BackupInfo
			var got ledger.BackupInfo
			err = writeVerified(out, func(w io.Writer) error {
				var err error
				sent, err = s.Backup(ctx, coop, w)
				return err
			}, func(path string) error {
				var err error
				if got, err = ledger.VerifyBackup(path); err != nil {
					return err
				}
				if got.StateHash != sent.StateHash || got.Seq != sent.LedgerSeq || got.Head != sent.LedgerHead {
					return fmt.Errorf("the node announced entry #%d %s, state %s; the copy holds #%d %s, state %s",
						sent.LedgerSeq, sent.LedgerHead, sent.StateHash, got.Seq, got.Head, got.StateHash)
				}
				return nil
			})
			if err != nil {
				return err
			}
			return kv(cmd.OutOrStdout(), [2]string{"backup", out}, [2]string{"coop", coop},
				[2]string{"ledger head", fmt.Sprintf("#%d %s", got.Seq, got.Head)}, [2]string{"state hash", got.StateHash},
				[2]string{"size", fmt.Sprintf("%d bytes", got.Size)}, [2]string{"checked", "state hash and head as the node announced"})
		},
	}
	cmd.Flags().StringVar(&gatewayURL, "gateway", "", "the node's wallet gateway URL")
	cmd.Flags().StringVar(&coop, "coop", "", "the co-op's id")
	cmd.Flags().StringVar(&keyFile, "key", "", "a moderator's key file")
	cmd.Flags().StringVar(&out, "out", "", "file to write")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "time limit for the whole backup")
	return cmd
}

func coopRestoreCmd() *cobra.Command {
	var cfgPath, from string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore --config coop.toml --from FILE [--force]",
		Short: "Put a ledger backup in place as the node's ledger (the node stopped)",
		Long: `Check the backup, copy it to data_dir/ledger.db (durably, then renamed into
place), open it as the node would and re-walk its hash chain (as icn coop
verify-ledger does). An existing ledger.db is refused unless --force, which
keeps it as ledger.db.before-restore. Restore with the node's own key file:
tokens and membership credentials were signed with it.`,
		Example: `  icn coop restore --config /etc/icn/coop.toml --from riverside.db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				cfgPath = os.Getenv(envConfig)
			}
			if cfgPath == "" || from == "" {
				return errors.New("--config and --from are required")
			}
			cfg, err := coopnode.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			if cfg.Cluster.Enabled() {
				// One node's file swapped under its raft log would diverge
				// from the others: a replicated co-op heals a node from its
				// peers (remove it, add it back empty) instead.
				return fmt.Errorf("%s has [cluster]: a replicated co-op's node is not restored from a backup; "+
					"remove the node (icn coop cluster remove) and add it back with an empty data directory", cfgPath)
			}
			info, err := restoreLedger(cfg, from, force)
			if err != nil {
				return err
			}
			return kv(cmd.OutOrStdout(), [2]string{"restored", from}, [2]string{"into", cfg.LedgerPath()},
				[2]string{"ledger head", fmt.Sprintf("#%d %s", info.Seq, info.Head)}, [2]string{"state hash", info.StateHash},
				[2]string{"checked", "hash chain and balances re-walked: ledger OK"})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the node's coop.toml (default $"+envConfig+")")
	cmd.Flags().StringVar(&from, "from", "", "backup file (icn coop backup)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing ledger.db (kept as ledger.db.before-restore)")
	return cmd
}

// restoreLedger puts the backup at from in place as cfg's ledger and checks it.
func restoreLedger(cfg coopnode.Config, from string, force bool) (ledger.BackupInfo, error) {
	info, err := ledger.VerifyBackup(from)
	if err != nil {
		return info, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return info, err
	}
	dst := cfg.LedgerPath()
	if _, err := os.Stat(dst); err == nil {
		if !force {
			return info, fmt.Errorf("%s exists: pass --force to replace it (it is kept as ledger.db.before-restore)", dst)
		}
	}
	in, err := os.Open(from)
	if err != nil {
		return info, err
	}
	defer in.Close()
	err = writeVerified(dst+".restoring", func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}, func(path string) error {
		got, err := ledger.VerifyBackup(path)
		if err == nil && got.StateHash != info.StateHash {
			err = fmt.Errorf("copied state hash %s, want %s", got.StateHash, info.StateHash)
		}
		return err
	})
	if err != nil {
		return info, err
	}
	if _, err := os.Stat(dst); err == nil {
		if err := os.Rename(dst, dst+".before-restore"); err != nil {
			return info, err
		}
	}
	if err := os.Rename(dst+".restoring", dst); err != nil {
		return info, err
	}
	opts, err := cfg.LedgerOptions()
	if err != nil {
		return info, err
	}
	opts.Path, opts.Buckets = dst, nil
	st, err := ledger.Open(opts)
	if err != nil {
		return info, fmt.Errorf("open the restored ledger: %w", err)
	}
	defer st.Close()
	rep, err := st.Verify()
	if err != nil {
		return info, err
	}
	if !rep.OK() {
		return info, fmt.Errorf("the restored ledger has %d mismatches: %v", len(rep.Mismatches), rep.Mismatches)
	}
	return info, nil
}
