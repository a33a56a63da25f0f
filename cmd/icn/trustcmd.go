package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

func operatorTrustCmd() *cobra.Command {
	o := &hubOpts{}
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Record and query the federation's trust graph",
		Long: `Trust is directed and weighted in [0, 1]: "A trusts B with 0.8". Each edge is
an attestation signed by its author (A); transitive trust is the best product
of weights along a path of at most the federation's max hops. Classes:
isolated < 0.1 <= known < 0.4 <= partner < 0.7 <= federated.

Connection flags as for icn federation (--hub, --hub-did, --key).`,
		Example: `  icn trust set  --to did:icn:... --weight 0.8 --as coop-a.key
  icn trust show did:icn:...
  icn trust path --from did:icn:... --to did:icn:... -o json`,
	}
	o.addFlags(cmd)
	cmd.AddCommand(o.trustSetCmd(), o.trustShowCmd(), o.trustPathCmd())
	return cmd
}

func (o *hubOpts) trustSetCmd() *cobra.Command {
	var to, weight, as string
	cmd := &cobra.Command{
		Use:   "set --to DID --weight W [--as KEYFILE]",
		Short: "Sign a trust attestation (author → DID, weight, now) and record it",
		Long: `Builds the attestation "author trusts --to with --weight", issued now, signs it
with the author's key and sends it. The author is the key of --as, or the
operator key (--key) without it; the author must be a participant or the
federation itself. A newer attestation for the same pair replaces the older.`,
		Example: `  icn trust set --to ` + exampleDID + ` --weight 0.8 --as ./coop-a.key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDID("to", to, "the DID trusted"); err != nil {
				return err
			}
			if weight == "" {
				return errors.New("--weight is required: a decimal in [0, 1] with at most 6 places, e.g. --weight 0.8")
			}
			w, err := trust.ParseWeight(weight)
			if err != nil {
				return fmt.Errorf("--weight: %w, e.g. --weight 0.8", err)
			}
			var author *identity.Key
			if as != "" {
				if author, err = keyfile.Read(as); err != nil {
					return fmt.Errorf("--as: %w", err)
				}
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				if author == nil {
					author = c.key
				}
				a := trust.Attestation{From: author.DID(), To: identity.DID(to), Weight: w, IssuedAt: time.Now().UnixNano()}
				if a.From == a.To {
					return fmt.Errorf("--to is the author's own DID (%s): a participant cannot attest trust in itself", a.From)
				}
				s, err := trust.Sign(author, a)
				if err != nil {
					return err
				}
				req := &icnv1.SetTrustRequest{RequestId: newRequestID(), Attestation: &icnv1.SignedMessage{
					Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}
				e := &icnv1.TrustEdge{}
				if err := c.invoke(ctx, icnv1.TrustService_SetTrust_FullMethodName, req, e); err != nil {
					if as == "" && status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), string(author.DID())) {
						return fmt.Errorf("%w (the author is your operator key, %s: sign as the trusting participant with --as KEYFILE)", err, author.DID())
					}
					return err
				}
				return c.show(cmd.OutOrStdout(), e, func(w io.Writer) error { return printTrustEdge(w, e) })
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the DID trusted (required)")
	cmd.Flags().StringVar(&weight, "weight", "", "trust weight, a decimal in [0, 1] such as 0.8 (required)")
	cmd.Flags().StringVar(&as, "as", "", "key file of the attestation's author (default: the operator key, --key)")
	return cmd
}

func (o *hubOpts) trustShowCmd() *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "show DID [--stale]",
		Short: "Show a participant's trust edges: whom it trusts and who trusts it",
		Args:  didArg("icn trust show DID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				r := &icnv1.ShowTrustResponse{}
				if err := c.invoke(ctx, icnv1.TrustService_ShowTrust_FullMethodName, &icnv1.ShowTrustRequest{Did: args[0], Stale: stale}, r); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), r, func(w io.Writer) error { return printTrust(w, args[0], r) })
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a round trip to the leader (may lag)")
	return cmd
}

func printTrust(w io.Writer, did string, r *icnv1.ShowTrustResponse) error {
	section := func(title, col string, edges []*icnv1.TrustEdge, other func(*icnv1.TrustEdge) string) error {
		fmt.Fprintf(w, "%s (%d)\n", title, len(edges))
		if len(edges) == 0 {
			_, err := fmt.Fprintln(w, "  none")
			return err
		}
		rows := make([][]string, 0, len(edges))
		for _, e := range edges {
			rows = append(rows, []string{"  " + other(e), e.GetWeight(), classOfWeight(e.GetWeight()), fmtTime(e.GetIssuedAtUnixNano())})
		}
		return printTable(w, []string{"  " + col, "WEIGHT", "CLASS", "ISSUED"}, rows)
	}
	short := identity.DID(did).Short()
	if err := section("outgoing: "+short+" trusts", "TO", r.GetOutgoing(), (*icnv1.TrustEdge).GetTo); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return section("incoming: trust in "+short, "FROM", r.GetIncoming(), (*icnv1.TrustEdge).GetFrom)
}

func (o *hubOpts) trustPathCmd() *cobra.Command {
	var from, to string
	var stale bool
	cmd := &cobra.Command{
		Use:     "path --from DID --to DID [--stale]",
		Short:   "Show the best trust path from one participant to another, its weight and class",
		Example: `  icn trust path --from ` + exampleDID + ` --to did:icn:...`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDID("from", from, "the DID that trusts"); err != nil {
				return err
			}
			if err := requireDID("to", to, "the DID trusted"); err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				r := &icnv1.TrustPathResponse{}
				if err := c.invoke(ctx, icnv1.TrustService_TrustPath_FullMethodName, &icnv1.TrustPathRequest{From: from, To: to, Stale: stale}, r); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), r, func(w io.Writer) error {
					path := fmt.Sprintf("(none within %d hops)", r.GetMaxHops())
					hops := "-"
					if len(r.GetPath()) > 0 {
						short := make([]string, len(r.GetPath()))
						for i, d := range r.GetPath() {
							short[i] = identity.DID(d).Short()
						}
						path = strings.Join(short, " -> ")
						hops = fmt.Sprintf("%d (at most %d)", len(r.GetPath())-1, r.GetMaxHops())
					}
					return kv(w, [2]string{"from", from}, [2]string{"to", to}, [2]string{"weight", r.GetWeight()},
						[2]string{"class", r.GetClass()}, [2]string{"hops", hops}, [2]string{"path", path})
				})
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the DID that trusts (required)")
	cmd.Flags().StringVar(&to, "to", "", "the DID trusted (required)")
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a round trip to the leader (may lag)")
	return cmd
}
