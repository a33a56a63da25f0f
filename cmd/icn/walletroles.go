package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// The roles commands of icn wallet: a moderator grants and revokes the
// roles proposer, moderator, steward and treasurer; a member reads its own
// roles (a moderator anyone's).

func (o *walletOpts) rolesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "roles",
		Short: "Show, grant or revoke a member's roles (grant and revoke: role moderator)",
		Long: `Roles come from the co-op's membership records. A moderator grants and
revokes proposer, moderator, steward and treasurer; member is held by every
member (join by application, leave by removal). The co-op's admin keeps every
role, and the co-op's last moderator cannot be revoked. A change re-issues the
member's credential, with the same expiry, and a RolesChanged event goes out.`,
		Example: `  icn wallet roles show --gateway URL --coop ID --key ann.key
  icn wallet roles grant did:icn:... treasurer --gateway URL --coop ID --key moderator.key
  icn wallet roles revoke did:icn:... treasurer --gateway URL --coop ID --key moderator.key`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(o.roleChangeCmd(true), o.roleChangeCmd(false), o.rolesShowCmd())
	return cmd
}

func (o *walletOpts) roleChangeCmd(grant bool) *cobra.Command {
	use, short := "grant DID ROLE", "Grant ROLE to the member DID (role moderator)"
	if !grant {
		use, short = "revoke DID ROLE", "Revoke ROLE from the member DID (role moderator)"
	}
	return &cobra.Command{
		Use:          use,
		Short:        short,
		Args:         cobra.ExactArgs(2),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			did, role := args[0], args[1]
			if _, _, err := identity.ParseDID(did); err != nil {
				return fmt.Errorf("DID %q: %w", did, err)
			}
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				rc, err := s.SetRole(ctx, t.coop, identity.DID(did), role, grant)
				if err != nil {
					return needsRole(err, s, client.RoleModerator)
				}
				if o.output == "json" {
					return printJSON(cmd.OutOrStdout(), rc)
				}
				changed := "yes"
				if !rc.Changed {
					changed = "no (already so)"
				}
				return kv(cmd.OutOrStdout(), [2]string{"member", string(rc.DID)}, [2]string{"role", rc.Role},
					[2]string{"changed", changed}, [2]string{"roles", strings.Join(rc.Roles, ", ")})
			})
		},
	}
}

func (o *walletOpts) rolesShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:          "show [DID]",
		Short:        "Show a member's roles (your own without DID; anyone's for a moderator or treasurer)",
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if _, _, err := identity.ParseDID(args[0]); err != nil {
					return fmt.Errorf("DID %q: %w", args[0], err)
				}
			}
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				did := s.DID()
				if len(args) == 1 {
					did = identity.DID(args[0])
				}
				m, err := s.Member(ctx, t.coop, did)
				if err != nil {
					return err
				}
				if o.output == "json" {
					return printJSON(cmd.OutOrStdout(), m)
				}
				return kv(cmd.OutOrStdout(), [2]string{"member", string(m.DID)}, [2]string{"status", m.Status},
					[2]string{"roles", strings.Join(m.Roles, ", ")})
			})
		},
	}
}
