package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

func newCertCmd() *cobra.Command {
	var keyFile, outDir string
	var validFor time.Duration
	cmd := &cobra.Command{
		Use:   "cert --key FILE --out DIR",
		Short: "Write a self-signed TLS certificate over a key, as PEM, for grpcurl and other tools",
		Long: `Write DIR/cert.pem and DIR/key.pem (mode 0600): a self-signed certificate over
the key in FILE, the form every icn node presents and checks (peers are pinned by
DID, not by a CA). With an operator key, it lets standard tools call a hub:
  grpcurl -insecure -cert DIR/cert.pem -key DIR/key.pem 127.0.0.1:7200 list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" || outDir == "" {
				return fmt.Errorf("--key and --out are required, e.g. icn cert --key operator.key --out ./tls")
			}
			k, err := keyfile.Read(keyFile)
			if err != nil {
				return err
			}
			cert, err := identity.Certificate(k, time.Now(), validFor)
			if err != nil {
				return err
			}
			der, err := x509.MarshalPKCS8PrivateKey(k.PrivateKey())
			if err != nil {
				return err
			}
			if err := os.MkdirAll(outDir, 0o700); err != nil {
				return err
			}
			files := map[string][]byte{
				"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
				"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(outDir, name), b, 0o600); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s for %s\n", filepath.Join(outDir, "cert.pem"), filepath.Join(outDir, "key.pem"), k.DID())
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "key file (icn keygen)")
	cmd.Flags().StringVar(&outDir, "out", "", "directory for cert.pem and key.pem")
	cmd.Flags().DurationVar(&validFor, "valid-for", 365*24*time.Hour, "certificate lifetime")
	return cmd
}
