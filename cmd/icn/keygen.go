package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

func newKeygenCmd() *cobra.Command {
	var out, from string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keygen --out FILE [--json]",
		Short: "Generate an Ed25519 key and write it as a key file (mode 0600)",
		Long: `Generate an Ed25519 key and write it in the key-file form of docs/API.md:
{"did", "public_key", "seed"}, mode 0600. Prints the DID alone on a line, so
that a script can keep it (DID=$(icn keygen --out a.key)); with --json, an
object {"did", "key_file"}.

With --from, write the key of an existing key file instead of a new one: what
a Kubernetes init container runs to turn a key mounted from a Secret (readable
by the pod's group, which icn refuses) into a 0600 file of the node's user.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required: the path of the key file to write")
			}
			var k *identity.Key
			var err error
			if from != "" {
				data, rerr := os.ReadFile(from)
				if rerr != nil {
					return fmt.Errorf("--from: %w", rerr)
				}
				if k, err = identity.UnmarshalKey(data); err != nil {
					return fmt.Errorf("--from %s: %w", from, err)
				}
			} else if k, err = identity.GenerateKey(rand.Reader); err != nil {
				return err
			}
			if err := keyfile.Write(out, k); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintln(cmd.OutOrStdout(), k.DID())
				return nil
			}
			b, _ := json.Marshal(map[string]string{"did": string(k.DID()), "key_file": out})
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "key file to write (refuses to overwrite)")
	cmd.Flags().StringVar(&from, "from", "", "copy the key of this key file (any mode) instead of generating one")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {\"did\", \"key_file\"} instead of the DID alone")
	return cmd
}
