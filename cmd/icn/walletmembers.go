package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// The membership commands of icn wallet: a moderator invites, the newcomer
// applies with its own key, a moderator approves (or later revokes); and
// anyone reads a payment's status. They share the wallet's flags.

// leafArg is leaf for a command that takes one argument, named by use.
func leafArg(use, short, long string, run func(cmd *cobra.Command, arg string) error) *cobra.Command {
	return &cobra.Command{
		Use:          use,
		Short:        short,
		Long:         long,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE:         func(cmd *cobra.Command, args []string) error { return run(cmd, args[0]) },
	}
}

// needsRole adds to a refusal of the gateway's role check which role the
// command needs and which roles the session has (a session that holds the
// role was refused for another reason, which the error says).
func needsRole(err error, s *client.Session, role string) error {
	var ae *client.APIError
	if errors.As(err, &ae) && (ae.Code == "forbidden_role" || ae.Code == "not_member") && !s.HasRole(role) {
		roles := strings.Join(s.Roles(), ", ")
		if roles == "" {
			roles = "none"
		}
		return fmt.Errorf("%w\n(this needs role %s; %s has roles: %s; pass --key with a %s's key file)", err, role, s.DID().Short(), roles, role)
	}
	return err
}

func (o *walletOpts) inviteCmd() *cobra.Command {
	cmd := leaf("invite", "Create an invite code for a newcomer (role moderator)", func(cmd *cobra.Command) error {
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			inv, err := s.Invite(ctx, t.coop)
			if err != nil {
				return needsRole(err, s, client.RoleModerator)
			}
			out := cmd.OutOrStdout()
			if o.output == "json" {
				return printJSON(out, inv)
			}
			if err := kv(out, [2]string{"invite code", inv.Code}, [2]string{"expires", orDash(inv.ExpiresAt)}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "\nThe newcomer applies with its own key (icn keygen --out new.key):\n"+
				"  icn wallet apply --gateway %s --coop %s --key new.key --invite %s --name NAME --email EMAIL\n", t.gateway, t.coop, inv.Code)
			return err
		})
	})
	cmd.Long = `Create a single-use invite code (role moderator). The newcomer names it in
its application (icn wallet apply); a moderator then approves the application.`
	return cmd
}

func (o *walletOpts) applyCmd() *cobra.Command {
	var invite, name, email string
	cmd := leaf("apply", "Apply for membership with an invite code, signed by your key", func(cmd *cobra.Command) error {
		switch {
		case o.keyFile == "":
			return errors.New("--key is required: the newcomer's own key file (icn keygen --out new.key), which the application is signed with")
		case invite == "":
			return errors.New("--invite is required: the code a moderator created with icn wallet invite")
		case strings.TrimSpace(name) == "":
			return errors.New("--name is required: the name the co-op knows you by")
		case !strings.Contains(email, "@"):
			return fmt.Errorf("--email %q: give an email address such as ann@example.org", email)
		}
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			res, err := s.Apply(ctx, t.coop, t.key, client.Application{InviteCode: invite, Name: name, Email: email})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.output == "json" {
				return printJSON(out, res)
			}
			if err := kv(out, [2]string{"application", res.ID}, [2]string{"status", res.Status}, [2]string{"did", string(s.DID())}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "\nA moderator approves it with:\n  icn wallet approve %s --gateway %s --coop %s --key MODERATOR.key\n", res.ID, t.gateway, t.coop)
			return err
		})
	})
	cmd.Long = `Apply for membership of the co-op as the DID of --key (which need not be a
member yet: it logs in with no roles). The application names the invite code,
your name and email, and is signed by your key. It stays pending until a
moderator approves it (icn wallet approve ID); then --key logs in as a member.`
	f := cmd.Flags()
	f.StringVar(&invite, "invite", "", "invite code from a moderator (required)")
	f.StringVar(&name, "name", "", "your name as the co-op knows you (required)")
	f.StringVar(&email, "email", "", "your email address (required)")
	return cmd
}

// credentialSummary is what approve shows of the credential it issued.
type credentialSummary struct {
	ID        string       `json:"id"`
	Subject   identity.DID `json:"subject"`
	CoopID    string       `json:"coop_id"`
	Roles     []string     `json:"roles"`
	IssuedAt  string       `json:"issued_at"`
	ExpiresAt string       `json:"expires_at"`
}

func (o *walletOpts) approveCmd() *cobra.Command {
	return leafArg("approve APPLICATION_ID", "Approve a membership application (role moderator)",
		`Approve the pending application APPLICATION_ID (the id icn wallet apply
printed): the node issues the newcomer a membership credential signed by its
key, and a MemberJoined event goes out on the feeds.`,
		func(cmd *cobra.Command, id string) error {
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				a, err := s.Approve(ctx, t.coop, id)
				if err != nil {
					return needsRole(err, s, client.RoleModerator)
				}
				out := cmd.OutOrStdout()
				if o.output == "json" {
					return printJSON(out, a)
				}
				var c credentialSummary
				if err := json.Unmarshal(a.Credential, &c); err != nil || c.Subject == "" {
					return fmt.Errorf("approve %s: the gateway's credential does not parse: %s", id, a.Credential)
				}
				return kv(out, [2]string{"approved", id}, [2]string{"member", string(c.Subject)},
					[2]string{"roles", strings.Join(c.Roles, ", ")}, [2]string{"credential", c.ID},
					[2]string{"issued", c.IssuedAt}, [2]string{"expires", c.ExpiresAt})
			})
		})
}

func (o *walletOpts) revokeCmd() *cobra.Command {
	return leafArg("revoke DID", "Revoke a member's membership and credential (role moderator)",
		`Revoke the membership of DID: its credential is revoked at once and its
tokens stop working on every member route.`,
		func(cmd *cobra.Command, did string) error {
			if _, _, err := identity.ParseDID(did); err != nil {
				return fmt.Errorf("DID %q: %w", did, err)
			}
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				if identity.DID(did) == s.DID() {
					fmt.Fprintln(cmd.ErrOrStderr(), "note: revoking your own membership")
				}
				if err := s.RevokeMember(ctx, t.coop, identity.DID(did)); err != nil {
					return needsRole(err, s, client.RoleModerator)
				}
				v := struct {
					DID    string `json:"did"`
					Status string `json:"status"`
				}{did, "revoked"}
				if o.output == "json" {
					return printJSON(cmd.OutOrStdout(), v)
				}
				return kv(cmd.OutOrStdout(), [2]string{"did", v.DID}, [2]string{"status", v.Status})
			})
		})
}

func (o *walletOpts) paymentCmd() *cobra.Command {
	return leafArg("payment ID", "Show a payment's status: committed, pending or rejected (with the reason)",
		`Show the status of payment ID (the id icn wallet pay printed, or the --id it
was sent with). A member reads its own payments; moderators and treasurers
anyone's in the co-op. A pending payment to another co-op is finished by the
node once the hub decides it; ask again.`,
		func(cmd *cobra.Command, id string) error {
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				res, err := s.PaymentStatus(ctx, t.coop, id)
				if err != nil {
					return err
				}
				return printPayment(cmd.OutOrStdout(), o.output, res)
			})
		})
}

func printPayment(w io.Writer, output string, res *client.PaymentResult) error {
	if output == "json" {
		return printJSON(w, res)
	}
	rows := [][2]string{{"payment", res.ID}, {"status", res.Status}}
	if res.Reason != "" {
		rows = append(rows, [2]string{"reason", res.Reason})
	}
	return kv(w, rows...)
}
