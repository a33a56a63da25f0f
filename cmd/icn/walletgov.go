package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// The governance commands of icn wallet (docs/governance.md): list and read
// proposals, open one, vote, delegate, close or cancel, appeal a removal.

func (o *walletOpts) governanceCmds() []*cobra.Command {
	return []*cobra.Command{o.proposalsCmd(), o.proposalCmd(), o.proposeCmd(), o.voteCmd(), o.delegateCmd(),
		o.proposalActionCmd("close", "Close voting on a proposal early (role moderator)", (*client.Session).CloseProposal),
		o.proposalActionCmd("cancel", "Cancel a proposal (its proposer or a moderator)", (*client.Session).CancelProposal),
		o.appealCmd()}
}

func (o *walletOpts) proposalsCmd() *cobra.Command {
	var status string
	cmd := leaf("proposals", "List the co-op's proposals with their tallies, newest first", func(cmd *cobra.Command) error {
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			ps, err := s.Proposals(ctx, t.coop, status)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.output == "json" {
				return printJSON(out, ps)
			}
			if len(ps) == 0 {
				_, err := fmt.Fprintln(out, "no proposals")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tPHASE\tFOR\tAGAINST\tABSTAIN\tELIGIBLE\tVOTING ENDS\tTITLE")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", p.ID, p.Kind, p.Phase, p.Tally.For, p.Tally.Against,
					p.Tally.Abstain, p.Tally.Eligible, p.VotingEnds.UTC().Format(time.RFC3339), p.Title)
			}
			return tw.Flush()
		})
	})
	cmd.Flags().StringVar(&status, "status", "", "only proposals in this status or phase (discussion, voting, closing, passed, failed, cancelled) or open")
	return cmd
}

func (o *walletOpts) proposalCmd() *cobra.Command {
	return leafArg("proposal ID", "Show a proposal: its phase, tally and outcome", "", func(cmd *cobra.Command, id string) error {
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			p, err := s.Proposal(ctx, t.coop, id)
			if err != nil {
				return err
			}
			return o.printProposal(cmd.OutOrStdout(), p)
		})
	})
}

func (o *walletOpts) printProposal(out io.Writer, p *client.Proposal) error {
	if o.output == "json" {
		return printJSON(out, p)
	}
	rows := [][2]string{{"proposal", p.ID}, {"kind", p.Kind}, {"title", p.Title}, {"proposer", string(p.Proposer)},
		{"phase", p.Phase}, {"voting", p.VotingStarts.UTC().Format(time.RFC3339) + " to " + p.VotingEnds.UTC().Format(time.RFC3339)},
		{"tally", fmt.Sprintf("%d for, %d against, %d abstain of %d", p.Tally.For, p.Tally.Against, p.Tally.Abstain, p.Tally.Eligible)},
		{"ballots", strconv.Itoa(len(p.Ballots))}}
	if p.Outcome != nil {
		rows = append(rows, [2]string{"outcome", p.Outcome.Status + " (" + p.Outcome.Result + ")"})
		for _, e := range p.Outcome.Effects {
			line := e.Type
			if e.Member != "" {
				line += " " + e.Member.Short()
			}
			if e.Detail != "" {
				line += ": " + e.Detail
			}
			if e.Skipped != "" {
				line += " (skipped: " + e.Skipped + ")"
			}
			rows = append(rows, [2]string{"effect", line})
		}
	}
	return kv(out, rows...)
}

// pairFlag parses DID=VALUE.
func pairFlag(flag, s string) (identity.DID, string, error) {
	did, v, ok := strings.Cut(s, "=")
	if !ok || v == "" {
		return "", "", fmt.Errorf("--%s %q: give DID=VALUE", flag, s)
	}
	d, _, err := identity.ParseDID(did)
	if err != nil {
		return "", "", fmt.Errorf("--%s %q: %w", flag, s, err)
	}
	return d, v, nil
}

type proposeFlags struct {
	id, kind, title, body      string
	limits, grants, revokes    []string
	defaultLimit, remove, dues string
	duesDay                    int
	duesCron, duesZone         string
	treasury                   string
}

// change builds the change of the flags' kind in currency.
func (f *proposeFlags) change(currency string) (map[string]any, error) {
	c := map[string]any{}
	amount := func(v string) client.Amount { return client.Amount{Amount: v, Currency: currency} }
	var limits []map[string]any
	for _, l := range f.limits {
		did, v, err := pairFlag("credit-limit", l)
		if err != nil {
			return nil, err
		}
		limits = append(limits, map[string]any{"member": did, "limit": amount(v)})
	}
	if limits != nil {
		c["credit_limits"] = limits
	}
	if f.defaultLimit != "" {
		c["default_credit_limit"] = amount(f.defaultLimit)
	}
	var roles []map[string]any
	for _, r := range append(f.grants, f.revokes...) {
		flag, grant := "grant", len(roles) < len(f.grants)
		if !grant {
			flag = "revoke-role"
		}
		did, role, err := pairFlag(flag, r)
		if err != nil {
			return nil, err
		}
		roles = append(roles, map[string]any{"member": did, "role": role, "grant": grant})
	}
	if roles != nil {
		c["roles"] = roles
	}
	if f.remove != "" {
		did, _, err := identity.ParseDID(f.remove)
		if err != nil {
			return nil, fmt.Errorf("--remove: %w", err)
		}
		c["remove"] = did
	}
	if f.dues != "" {
		if f.treasury == "" {
			return nil, errors.New("--treasury is required with --dues: the ledger account that receives the dues")
		}
		d := map[string]any{"amount": amount(f.dues), "treasury": f.treasury}
		if f.duesCron != "" {
			d["cron"] = f.duesCron
		} else {
			d["day"] = f.duesDay
		}
		if f.duesZone != "" {
			d["time_zone"] = f.duesZone
		}
		c["dues"] = d
	}
	if len(c) == 0 {
		return nil, errors.New("the proposal changes nothing: give --credit-limit, --default-credit-limit, --grant, --revoke-role, --remove or --dues")
	}
	return c, nil
}

func (o *walletOpts) proposeCmd() *cobra.Command {
	f := &proposeFlags{}
	cmd := leaf("propose", "Open a proposal (role proposer)", func(cmd *cobra.Command) error {
		if strings.TrimSpace(f.title) == "" {
			return errors.New("--title is required")
		}
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			change, err := f.change(t.currency)
			if err != nil {
				return err
			}
			p, err := s.OpenProposal(ctx, t.coop, client.ProposalDraft{ID: f.id, Kind: f.kind, Title: f.title, Body: f.body, Change: change})
			if err != nil {
				return needsRole(err, s, "proposer")
			}
			return o.printProposal(cmd.OutOrStdout(), p)
		})
	})
	cmd.Long = `Open a proposal of --kind economic (--credit-limit DID=AMOUNT, repeatable;
--default-credit-limit AMOUNT), membership (--grant DID=ROLE, --revoke-role
DID=ROLE; roles proposer, moderator, steward, treasurer), removal (--remove
DID) or dues (--dues AMOUNT --dues-day N --treasury ACCOUNT). Amounts are in
the co-op's currency. Members discuss it, then vote (icn wallet vote).`
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "kind", "", "economic, membership, removal or dues (required)")
	fl.StringVar(&f.title, "title", "", "the proposal's title (required)")
	fl.StringVar(&f.body, "body", "", "the text under discussion")
	fl.StringVar(&f.id, "id", "", "the proposal's id (default: the node picks one)")
	fl.StringArrayVar(&f.limits, "credit-limit", nil, "DID=AMOUNT: a member's new credit limit (economic)")
	fl.StringVar(&f.defaultLimit, "default-credit-limit", "", "AMOUNT: the credit limit of new members (economic)")
	fl.StringArrayVar(&f.grants, "grant", nil, "DID=ROLE: grant a role (membership)")
	fl.StringArrayVar(&f.revokes, "revoke-role", nil, "DID=ROLE: revoke a role (membership)")
	fl.StringVar(&f.remove, "remove", "", "DID: the member to remove (removal)")
	fl.StringVar(&f.dues, "dues", "", "AMOUNT: dues from every member, monthly or by --dues-cron (dues)")
	fl.IntVar(&f.duesDay, "dues-day", 1, "day of the month the dues fall due, 1-28 (dues)")
	fl.StringVar(&f.duesCron, "dues-cron", "", `cron expression of the instants the dues fall due, instead of --dues-day: "minute hour day-of-month month day-of-week" or @monthly, @weekly…; at most daily (dues)`)
	fl.StringVar(&f.duesZone, "dues-time-zone", "", "IANA time zone of the due instants, e.g. Europe/Berlin (dues; default UTC)")
	fl.StringVar(&f.treasury, "treasury", "", "ledger account that receives the dues (dues)")
	return cmd
}

func (o *walletOpts) voteCmd() *cobra.Command {
	var revision uint32
	cmd := &cobra.Command{
		Use:          "vote ID for|against|abstain",
		Short:        "Sign and cast a vote on a proposal",
		Args:         cobra.ExactArgs(2),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, choice := args[0], args[1]
			if choice != "for" && choice != "against" && choice != "abstain" {
				return fmt.Errorf("choice %q: give for, against or abstain", choice)
			}
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				res, err := s.Vote(ctx, t.coop, id, t.key, choice, revision)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.output == "json" {
					return printJSON(out, res)
				}
				if !res.Recorded {
					fmt.Fprintln(out, "this vote was recorded before; nothing changed")
				}
				return o.printProposal(out, &res.Proposal)
			})
		},
	}
	cmd.Long = `Sign a vote (tag icn/v1/vote) with --key, the DID's own key, and cast it.
A member may change their vote until the proposal closes; each change carries
a higher revision (by default one above your latest recorded vote).`
	cmd.Flags().Uint32Var(&revision, "revision", 0, "the vote's revision (default: one above your latest)")
	return cmd
}

func (o *walletOpts) delegateCmd() *cobra.Command {
	var revoke bool
	cmd := &cobra.Command{
		Use:          "delegate [DID]",
		Short:        "Delegate your vote to another member, or --revoke the delegation",
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if revoke == (len(args) == 1) {
				return errors.New("give the DID to delegate to, or --revoke (not both)")
			}
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				if revoke {
					if err := s.RevokeDelegation(ctx, t.coop); err != nil {
						return err
					}
					_, err := fmt.Fprintln(cmd.OutOrStdout(), "delegation revoked: you hold your own vote")
					return err
				}
				to, _, err := identity.ParseDID(args[0])
				if err != nil {
					return err
				}
				if err := s.Delegate(ctx, t.coop, to); err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "your vote goes to %s on every proposal you do not vote on yourself\n", to)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&revoke, "revoke", false, "revoke your delegation")
	return cmd
}

func (o *walletOpts) proposalActionCmd(name, short string, act func(*client.Session, context.Context, string, string) (*client.Proposal, error)) *cobra.Command {
	return leafArg(name+" ID", short, "", func(cmd *cobra.Command, id string) error {
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			p, err := act(s, ctx, t.coop, id)
			if err != nil {
				return err
			}
			return o.printProposal(cmd.OutOrStdout(), p)
		})
	})
}

func (o *walletOpts) appealCmd() *cobra.Command {
	var title, body string
	cmd := leaf("appeal", "Appeal your removal (within 30 days of it)", func(cmd *cobra.Command) error {
		if strings.TrimSpace(title) == "" {
			return errors.New("--title is required")
		}
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			p, err := s.Appeal(ctx, t.coop, title, body)
			if err != nil {
				return err
			}
			return o.printProposal(cmd.OutOrStdout(), p)
		})
	})
	cmd.Flags().StringVar(&title, "title", "", "the appeal's title (required)")
	cmd.Flags().StringVar(&body, "body", "", "what you ask the members to reconsider")
	return cmd
}
