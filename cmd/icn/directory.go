package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/routing/directory"
)

func newDirectoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "directory",
		Short: "The federation directory: make its private network key, look up where a co-op sits",
	}
	cmd.AddCommand(directoryPSKCmd(), directoryLookupCmd())
	return cmd
}

func directoryPSKCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "psk --out FILE",
		Short: "Write a new private network key for the directory (64 hex digits, mode 0600)",
		Long: `Write a new 32-byte private network key for the federation directory, as
64 hex digits, mode 0600. Every hub node of every participating federation
names the same file in [directory] psk_file; nodes without it cannot connect
to the directory at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required: the path of the key file to write")
			}
			psk := make([]byte, 32)
			if _, err := rand.Read(psk); err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			if _, err := fmt.Fprintln(f, hex.EncodeToString(psk)); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "wrote", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write (refuses to overwrite)")
	return cmd
}

type directoryLookupOpts struct {
	config, pskFile string
	peers, anchors  []string
	timeout         time.Duration
	jsonOut         bool
}

func directoryLookupCmd() *cobra.Command {
	var o directoryLookupOpts
	cmd := &cobra.Command{
		Use:   "lookup COOP [--config hub.toml | --peer DID@HOST:PORT ... --anchor DID ...]",
		Short: "Look up a co-op's directory record: the chain of federations it sits under",
		Long: `Join the federation directory for a moment and look up COOP (its DID or
name): the record its federation published, checked as every hub node checks
it (each link signed by the federation that admitted the member, unexpired,
reaching an anchor). With --config, the [directory] section of a hub node's
hub.toml gives the peers, the private network key and the anchors; flags add
to it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), cmd.OutOrStdout(), args[0]) },
	}
	cmd.Flags().StringVar(&o.config, "config", "", "a hub node's hub.toml, for its [directory] section")
	cmd.Flags().StringArrayVar(&o.peers, "peer", nil, "a directory node to join through, DID@HOST:PORT (repeatable)")
	cmd.Flags().StringArrayVar(&o.anchors, "anchor", nil, "a root federation's DID records must reach (repeatable)")
	cmd.Flags().StringVar(&o.pskFile, "psk-file", "", "the directory's private network key file")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to look")
	cmd.Flags().BoolVar(&o.jsonOut, "json", false, "print the record as JSON")
	return cmd
}

// section is the [directory] section to join with: the config's, plus flags.
func (o *directoryLookupOpts) section() (hub.DirectoryFile, error) {
	var d hub.DirectoryFile
	if o.config != "" {
		fc, err := hub.LoadConfig(o.config)
		if err != nil {
			return d, err
		}
		if d = fc.Directory; d.Listen == "" {
			return d, fmt.Errorf("%s has no [directory] section", o.config)
		}
	}
	d.Listen = "127.0.0.1:0"
	if o.pskFile != "" {
		d.PSKFile = o.pskFile
	}
	d.Anchors = append(d.Anchors, o.anchors...)
	for _, p := range o.peers {
		did, addr, ok := strings.Cut(p, "@")
		if !ok {
			return d, fmt.Errorf("--peer %q: want DID@HOST:PORT", p)
		}
		d.Peers = append(d.Peers, hub.DirectoryPeerFile{DID: did, Addr: addr})
	}
	if len(d.Peers) == 0 {
		return d, errors.New("no directory node to join: give --config hub.toml or --peer DID@HOST:PORT")
	}
	if len(d.Anchors) == 0 {
		return d, errors.New("no anchor: give --config hub.toml or --anchor with the root federation's DID")
	}
	return d, d.Validate()
}

func (o *directoryLookupOpts) run(ctx context.Context, out io.Writer, coop string) error {
	d, err := o.section()
	if err != nil {
		return err
	}
	key, err := identity.GenerateKey(rand.Reader) // a passer-by, not a hub node
	if err != nil {
		return err
	}
	fc := hub.FileConfig{Directory: d}
	dc, err := fc.DirectoryConfig(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dc.Logger = slog.New(slog.DiscardHandler)
	n, err := directory.Start(ctx, *dc)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.WaitJoined(ctx); err != nil {
		return fmt.Errorf("no directory node answered (tried %d); check the addresses and the private network key", len(d.Peers))
	}
	rec, err := n.Lookup(ctx, directory.CoopKey(coop))
	if err != nil {
		return fmt.Errorf("look up %s: %w", coop, err)
	}
	if o.jsonOut {
		return printJSON(out, recordJSON(rec))
	}
	fmt.Fprintf(out, "%s (%s), record seq %d, valid until %s\n", rec.SubjectName, rec.Subject, rec.Seq, rec.Expires.UTC().Format(time.RFC3339))
	for _, l := range rec.Path {
		fmt.Fprintf(out, "  admitted by %s as %s (seq %d, until %s)\n", l.Federation, l.MemberName, l.Seq, l.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

type linkJSON struct {
	Federation identity.DID `json:"federation"`
	Member     identity.DID `json:"member"`
	MemberName string       `json:"member_name"`
	Seq        uint64       `json:"seq"`
	Expires    time.Time    `json:"expires"`
}

func recordJSON(r directory.Record) any {
	path := make([]linkJSON, len(r.Path))
	for i, l := range r.Path {
		path[i] = linkJSON{l.Federation, l.Member, l.MemberName, l.Seq, l.Expires.UTC()}
	}
	return struct {
		Subject    identity.DID `json:"subject"`
		Name       string       `json:"name"`
		Federation bool         `json:"federation"`
		Seq        uint64       `json:"seq"`
		Expires    time.Time    `json:"expires"`
		Path       []linkJSON   `json:"path"`
	}{r.Subject, r.SubjectName, r.Federation, r.Seq, r.Expires.UTC(), path}
}
