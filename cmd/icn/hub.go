package main

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

func newHubCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "hub --config hub.toml",
		Short: "Run one node of a federation's hub cluster",
		Long: `Run one hub node: the Raft-replicated federation registry, trust graph and
clearing book, with the operators' gRPC control plane (TLS on the node key) and
/metrics, /healthz and /readyz over HTTP. A node listed in [[peers]] with no
state bootstraps the cluster with exactly those peers; any other node waits to
be added with icn cluster join. Stops cleanly on SIGINT or SIGTERM.
See deploy/hub.toml for an annotated configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return fmt.Errorf("--config is required: see deploy/hub.toml for an example")
			}
			fc, err := hub.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			log, err := newLogger(fc.Log.Level, fc.Log.Format)
			if err != nil {
				return err
			}
			key, err := keyfile.LoadOrCreate(fc.KeyFile, func() (*identity.Key, error) { return identity.GenerateKey(rand.Reader) })
			if err != nil {
				return fmt.Errorf("node key: %w", err)
			}
			var fedKey *identity.Key
			if fc.Federation.KeyFile != "" {
				if fedKey, err = keyfile.Read(fc.Federation.KeyFile); err != nil {
					return fmt.Errorf("federation.key_file: %w", err)
				}
				if fedKey.DID() != identity.DID(fc.Federation.DID) {
					return fmt.Errorf("federation.key_file holds the key of %s, not of federation.did %s", fedKey.DID(), fc.Federation.DID)
				}
			}
			grpcLn, err := net.Listen("tcp", fc.GRPC.Listen)
			if err != nil {
				return fmt.Errorf("grpc listen: %w", err)
			}
			var httpLn net.Listener
			if fc.HTTP.Listen != "" {
				if httpLn, err = net.Listen("tcp", fc.HTTP.Listen); err != nil {
					grpcLn.Close()
					return fmt.Errorf("http listen: %w", err)
				}
			}
			cfg := fc.NodeConfig(key)
			cfg.Logger = log
			cfg.Parents, cfg.FederationKey = fc.ParentLinks(), fedKey
			if cfg.Directory, err = fc.DirectoryConfig(key); err != nil {
				grpcLn.Close()
				if httpLn != nil {
					httpLn.Close()
				}
				return err
			}
			svc, err := hub.StartService(cfg, fc.OperatorDIDs(), grpcLn, httpLn)
			if err != nil {
				grpcLn.Close()
				if httpLn != nil {
					httpLn.Close()
				}
				return err
			}
			log.Info("hub node serving", "did", key.DID(), "raft", fc.Raft.Listen, "grpc", svc.GRPCAddr(), "http", fc.HTTP.Listen)
			select {
			case <-cmd.Context().Done():
			case err := <-svc.Done():
				log.Error("listener stopped", "err", err)
			}
			if err := svc.Close(); err != nil {
				return fmt.Errorf("stop hub: %w", err)
			}
			log.Info("hub node stopped", "did", key.DID())
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", os.Getenv(envConfig), "path of hub.toml (default $"+envConfig+")")
	cmd.AddCommand(hubBackupCmd(), hubRestoreCmd())
	return cmd
}
