package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// exampleDID stands for a DID in examples and error messages (a well-formed
// one, so that a pasted example fails at the hub, not at parsing).
const exampleDID = "did:icn:6BoT7babwa3tgn3sqeqrGumRpvyYX1gt5PkQ57D1MUAw"

func operatorFederationCmd() *cobra.Command {
	o := &hubOpts{}
	cmd := &cobra.Command{
		Use:   "federation",
		Short: "Show the federation and manage its participants (co-ops and child federations)",
		Long: `icn federation talks to a hub cluster's control plane (gRPC over TLS) as an
operator: the connection is pinned to the hub nodes' DIDs (--hub-did) and
authenticated with your operator key (--key). Writes sent to a follower are
forwarded to the leader; a write that finds no leader is retried with the
same request id, so it takes effect at most once.`,
		Example: `  icn federation show --hub 127.0.0.1:7200 --hub-did did:icn:... --key operator.key
  export ICN_HUB=127.0.0.1:7200,127.0.0.1:7201 ICN_HUB_DID=did:icn:...,did:icn:... ICN_KEY=operator.key
  icn federation coop add --did did:icn:... --name "Riverside Bakery"
  icn federation coop list -o json
  icn federation coop suspend did:icn:... --reason "settlement overdue"`,
	}
	o.addFlags(cmd)
	coop := &cobra.Command{
		Use:   "coop",
		Short: "Register, list, show, suspend and reinstate participants",
	}
	coop.AddCommand(o.coopAddCmd(), o.coopListCmd(), o.coopShowCmd(), o.coopSuspendCmd(), o.coopReinstateCmd())
	cmd.AddCommand(o.federationShowCmd(), coop, o.federationSettlementCmd())
	return cmd
}

// didArg accepts exactly one positional DID; usage is the command line to
// show in the error, e.g. "icn federation coop show DID".
func didArg(usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s takes one DID, e.g. %s", usage, strings.Replace(usage, "DID", exampleDID, 1))
		}
		if _, _, err := identity.ParseDID(args[0]); err != nil {
			return fmt.Errorf("%s: %w", usage, err)
		}
		return nil
	}
}

// requireDID checks a required DID flag.
func requireDID(flag, v, what string) error {
	if v == "" {
		return fmt.Errorf("--%s is required: %s, e.g. --%s %s", flag, what, flag, exampleDID)
	}
	if _, _, err := identity.ParseDID(v); err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	return nil
}

func (o *hubOpts) federationShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the federation: identity, rules, current period and counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				f := &icnv1.Federation{}
				if err := c.invoke(ctx, icnv1.FederationService_GetFederation_FullMethodName, &icnv1.GetFederationRequest{}, f); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), f, func(w io.Writer) error { return printFederation(w, f) })
			})
		},
	}
}

func printFederation(w io.Writer, f *icnv1.Federation) error {
	var curs, rules []string
	for _, cs := range f.GetCurrencies() {
		curs = append(curs, fmt.Sprintf("%s (%d decimals)", cs.GetCode(), cs.GetScale()))
	}
	for _, r := range f.GetSettlement() {
		rules = append(rules, ruleText(r))
	}
	return kv(w, [2]string{"did", orDash(f.GetDid())}, [2]string{"name", orDash(f.GetName())},
		[2]string{"min trust", f.GetMinTrust()}, [2]string{"max hops", fmt.Sprint(f.GetMaxHops())},
		[2]string{"currencies", orDash(strings.Join(curs, ", "))},
		[2]string{"settlement", orDash(strings.Join(rules, "; "))},
		[2]string{"period", fmt.Sprintf("%d (opened %s)", f.GetPeriod(), fmtTime(f.GetPeriodOpenedAtUnixNano()))},
		[2]string{"participants", fmt.Sprint(f.GetParticipants())}, [2]string{"trust edges", fmt.Sprint(f.GetTrustEdges())},
		[2]string{"pending transfers", fmt.Sprint(f.GetPendingTransfers())})
}

func parseKind(s string) (icnv1.ParticipantKind, error) {
	switch s {
	case "coop":
		return icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, nil
	case "federation":
		return icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION, nil
	}
	return 0, fmt.Errorf("--kind must be coop or federation (a child federation's hub cluster), not %q", s)
}

func (o *hubOpts) coopAddCmd() *cobra.Command {
	var did, name, kind string
	cmd := &cobra.Command{
		Use:     "add --did DID --name NAME [--kind coop|federation]",
		Short:   "Register a participant: a co-op node or a child federation",
		Example: `  icn federation coop add --did ` + exampleDID + ` --name "Riverside Bakery"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDID("did", did, "the participant's DID (a co-op node logs it when it starts)"); err != nil {
				return err
			}
			if name == "" {
				return errors.New(`--name is required: the participant's display name, e.g. --name "Riverside Bakery"`)
			}
			k, err := parseKind(kind)
			if err != nil {
				return err
			}
			req := &icnv1.RegisterParticipantRequest{Did: did, Name: name, Kind: k, RequestId: newRequestID()}
			return o.participantCall(cmd, icnv1.FederationService_RegisterParticipant_FullMethodName, req)
		},
	}
	cmd.Flags().StringVar(&did, "did", "", "the participant's DID (required)")
	cmd.Flags().StringVar(&name, "name", "", "display name (required)")
	cmd.Flags().StringVar(&kind, "kind", "coop", "coop, or federation for a child federation's hub cluster")
	return cmd
}

// participantCall sends a request answered by a Participant and prints it.
func (o *hubOpts) participantCall(cmd *cobra.Command, method string, req proto.Message) error {
	return o.run(cmd, func(ctx context.Context, c *hubClient) error {
		p := &icnv1.Participant{}
		if err := c.invoke(ctx, method, req, p); err != nil {
			return err
		}
		return c.show(cmd.OutOrStdout(), p, func(w io.Writer) error { return printParticipant(w, p) })
	})
}

func (o *hubOpts) coopListCmd() *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "list [--stale]",
		Short: "List the participants in DID order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				r := &icnv1.ListParticipantsResponse{}
				if err := c.invoke(ctx, icnv1.FederationService_ListParticipants_FullMethodName, &icnv1.ListParticipantsRequest{Stale: stale}, r); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), r, func(w io.Writer) error {
					if len(r.GetParticipants()) == 0 {
						_, err := fmt.Fprintln(w, "no participants yet: add one with icn federation coop add --did DID --name NAME")
						return err
					}
					rows := make([][]string, 0, len(r.GetParticipants()))
					for _, p := range r.GetParticipants() {
						st := statusWord(p.GetStatus())
						if p.GetStatusReason() != "" {
							st += " (" + clip(p.GetStatusReason(), 40) + ")"
						}
						rows = append(rows, []string{p.GetDid(), clip(p.GetName(), 40), kindWord(p.GetKind()), st, fmtTime(p.GetRegisteredAtUnixNano())})
					}
					return printTable(w, []string{"DID", "NAME", "KIND", "STATUS", "REGISTERED"}, rows)
				})
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a round trip to the leader (may lag)")
	return cmd
}

func (o *hubOpts) coopShowCmd() *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "show DID [--stale]",
		Short: "Show one participant",
		Args:  didArg("icn federation coop show DID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.participantCall(cmd, icnv1.FederationService_GetParticipant_FullMethodName,
				&icnv1.GetParticipantRequest{Did: args[0], Stale: stale})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a round trip to the leader (may lag)")
	return cmd
}

func (o *hubOpts) coopSuspendCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "suspend DID --reason TEXT",
		Short:   "Suspend a participant: the hub refuses its new transfers until it is reinstated",
		Example: `  icn federation coop suspend ` + exampleDID + ` --reason "settlement overdue"`,
		Args:    didArg("icn federation coop suspend DID --reason TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return errors.New(`--reason is required: say why, for the record, e.g. --reason "settlement overdue"`)
			}
			return o.participantCall(cmd, icnv1.FederationService_SetParticipantStatus_FullMethodName,
				&icnv1.SetParticipantStatusRequest{Did: args[0], Status: icnv1.ParticipantStatus_PARTICIPANT_STATUS_SUSPENDED,
					Reason: reason, RequestId: newRequestID()})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the participant is suspended (required; shown with its status)")
	return cmd
}

func (o *hubOpts) coopReinstateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reinstate DID",
		Short: "Make a suspended participant active again",
		Args:  didArg("icn federation coop reinstate DID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.participantCall(cmd, icnv1.FederationService_SetParticipantStatus_FullMethodName,
				&icnv1.SetParticipantStatusRequest{Did: args[0], Status: icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE,
					RequestId: newRequestID()})
		},
	}
}
