package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// The member trust and recovery commands of icn wallet (docs/governance.md,
// "Member trust and recovery"): vouch, read a member's standing, a
// voucher's emergency revoke, a steward's recovery signature, and the
// recoveries of a DID.

func (o *walletOpts) trustCmds() []*cobra.Command {
	return []*cobra.Command{o.vouchCmd(), o.trustCmd(), o.emergencyRevokeCmd(), o.recoverCmd(), o.recoveryCmd()}
}

// argDID is the DID a command names as its one optional argument, else
// the session's own.
func argDID(args []string, s *client.Session) (identity.DID, error) {
	if len(args) == 0 {
		return s.DID(), nil
	}
	return memberDID(args[0])
}

func memberDID(s string) (identity.DID, error) {
	did, _, err := identity.ParseDID(s)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	return did, nil
}

func (o *walletOpts) vouchCmd() *cobra.Command {
	return leafArg("vouch DID", "Vouch for a member: sign (icn/v1/vouch) and record it",
		`Sign a vouch for the member DID with --key, your DID's own key, and record it.
With [credit_policy] enabled each vouch from a member in good standing adds
to the member's standing, which scales its credit limit (see icn wallet trust).
Vouching again for the same member changes nothing.`,
		func(cmd *cobra.Command, arg string) error {
			did, err := memberDID(arg)
			if err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				res, err := s.Vouch(ctx, t.coop, t.key, did)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.output == "json" {
					return printJSON(out, res)
				}
				if !res.Recorded {
					fmt.Fprintln(out, "you had vouched for this member before; nothing changed")
				}
				return kv(out, [2]string{"voucher", string(res.Vouch.Voucher)}, [2]string{"vouchee", string(res.Vouch.Vouchee)},
					[2]string{"at", res.Vouch.At})
			})
		})
}

func (o *walletOpts) trustCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:          "trust [DID]",
		Short:        "Show a member's standing, vouches and effective credit limits (default: yours)",
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				did, err := argDID(args, s)
				if err != nil {
					return err
				}
				tr, err := s.Trust(ctx, t.coop, did)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.output == "json" {
					return printJSON(out, tr)
				}
				policy := "off: credit limits are as set"
				if tr.PolicyEnabled {
					policy = "on: effective limit = set limit × standing"
				}
				sponsor := "none"
				if tr.Sponsor != "" {
					sponsor = string(tr.Sponsor)
				}
				rows := [][2]string{{"member", string(tr.DID)}, {"credit policy", policy},
					{"standing", strconv.Itoa(tr.StandingPercent) + " %"}, {"sponsor", sponsor}}
				for _, v := range tr.Vouches {
					line := string(v.Voucher) + " at " + v.At
					if !v.Counts {
						line += " (does not count: the voucher is not in good standing)"
					}
					rows = append(rows, [2]string{"vouched by", line})
				}
				for _, d := range tr.Vouched {
					rows = append(rows, [2]string{"vouches for", string(d)})
				}
				for _, l := range tr.Limits {
					rows = append(rows, [2]string{"limit " + l.Currency, l.Effective + " of " + l.Set + " set"})
				}
				if tr.Suspended {
					rows = append(rows, [2]string{"suspended", "yes (a removal)"})
				}
				if tr.Recovery != nil {
					line := tr.Recovery.Status + " since " + tr.Recovery.At
					if tr.Recovery.By != "" {
						line += ", on the word of " + string(tr.Recovery.By)
					}
					if tr.Recovery.NewDID != "" {
						line += "; now " + string(tr.Recovery.NewDID)
					}
					rows = append(rows, [2]string{"recovery", line})
				}
				return kv(out, rows...)
			})
		},
	}
	return cmd
}

func (o *walletOpts) emergencyRevokeCmd() *cobra.Command {
	return leafArg("emergency-revoke DID", "As one who vouched for DID, put it in recovery mode (its keys are lost or stolen)",
		`Sign (icn/v1/voucher-revoke) with --key, your DID's own key, that the member DID,
whom you vouched for, has lost its keys. Its DID goes into recovery mode at
once: its sessions end, it cannot log in (in_recovery), payments from it are
rejected; it can still be paid. The member recovers to a new DID with the
stewards' signatures (icn wallet recover).`,
		func(cmd *cobra.Command, arg string) error {
			did, err := memberDID(arg)
			if err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				m, err := s.VoucherRevoke(ctx, t.coop, t.key, did)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.output == "json" {
					return printJSON(out, m)
				}
				return kv(out, [2]string{"member", string(m.DID)}, [2]string{"status", m.Status}, [2]string{"by", string(m.By)}, [2]string{"since", m.At})
			})
		})
}

type recoverFlags struct {
	id, old, newDID string
	print, send     string
}

func (o *walletOpts) recoverCmd() *cobra.Command {
	f := &recoverFlags{}
	cmd := leaf("recover", "As a steward, sign a recovery of an old DID to a new one, and send it", func(cmd *cobra.Command) error {
		if f.send != "" {
			return o.sendRecovery(cmd, f.send)
		}
		if f.id == "" || f.old == "" || f.newDID == "" {
			return errors.New("--recovery, --old and --new are required (or --send FILE)")
		}
		old, err := memberDID(f.old)
		if err != nil {
			return fmt.Errorf("--old %w", err)
		}
		neu, err := memberDID(f.newDID)
		if err != nil {
			return fmt.Errorf("--new %w", err)
		}
		if f.print != "" {
			t, err := o.resolve(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			req, sig, err := client.SignRecovery(t.coop, f.id, t.key, old, neu)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]string{"request": identity.B64(req), "signature": identity.B64(sig)})
			if err := os.WriteFile(f.print, append(b, '\n'), 0o600); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "signed recovery %s written to %s; anyone may send it with icn wallet recover --send %s\n", f.id, f.print, f.print)
			return err
		}
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			req, sig, err := client.SignRecovery(t.coop, f.id, t.key, old, neu)
			if err != nil {
				return err
			}
			rc, err := s.SendRecovery(ctx, t.coop, req, sig)
			if err != nil {
				return err
			}
			return o.printRecovery(cmd.OutOrStdout(), rc)
		})
	})
	cmd.Long = `Sign (icn/v1/recovery) with --key, a steward's own key, that the member's old
DID is recovered to its new DID under the recovery's id, and send it. When the
signatures of max(2, floor(n/2)+1) of the co-op's n stewards are in, the node
moves the member record, roles, credit limits, vouches and balance to the new
DID and revokes the old one. With --print FILE the signed request is written to
FILE instead, for the member (or anyone) to send with --send FILE.`
	fl := cmd.Flags()
	fl.StringVar(&f.id, "recovery", "", "the recovery's id, the same for every steward (letters, digits, - _ . :)")
	fl.StringVar(&f.old, "old", "", "the member's old DID")
	fl.StringVar(&f.newDID, "new", "", "the member's new DID")
	fl.StringVar(&f.print, "print", "", "write the signed request to this file instead of sending it")
	fl.StringVar(&f.send, "send", "", "send a signed request written with --print (from the --key's session)")
	return cmd
}

func (o *walletOpts) sendRecovery(cmd *cobra.Command, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var body struct {
		Request   string `json:"request"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	req, err := identity.DecodeB64(body.Request)
	if err != nil {
		return fmt.Errorf("%s: request: %w", file, err)
	}
	sig, err := identity.DecodeB64(body.Signature)
	if err != nil {
		return fmt.Errorf("%s: signature: %w", file, err)
	}
	return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
		rc, err := s.SendRecovery(ctx, t.coop, req, sig)
		if err != nil {
			return err
		}
		return o.printRecovery(cmd.OutOrStdout(), rc)
	})
}

func (o *walletOpts) printRecovery(out io.Writer, rc *client.Recovery) error {
	if o.output == "json" {
		return printJSON(out, rc)
	}
	signers := make([]string, 0, len(rc.Signatures))
	for _, g := range rc.Signatures {
		signers = append(signers, g.Steward.Short())
	}
	rows := [][2]string{{"recovery", rc.ID}, {"old", string(rc.Old)}, {"new", string(rc.New)}, {"status", rc.Status},
		{"signatures", fmt.Sprintf("%d signed, %d needed of %d stewards: %s", len(rc.Signatures), rc.Quorum, rc.Stewards, strings.Join(signers, ", "))}}
	if rc.CompletedAt != "" {
		rows = append(rows, [2]string{"completed", rc.CompletedAt})
	}
	for _, p := range rc.Payments {
		rows = append(rows, [2]string{"payment", p})
	}
	return kv(out, rows...)
}

func (o *walletOpts) recoveryCmd() *cobra.Command {
	return &cobra.Command{
		Use:          "recovery [DID]",
		Short:        "Show the recoveries of a DID, old or new (default: yours)",
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
				did, err := argDID(args, s)
				if err != nil {
					return err
				}
				rs, err := s.Recoveries(ctx, t.coop, did)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.output == "json" {
					return printJSON(out, rs)
				}
				if len(rs) == 0 {
					_, err := fmt.Fprintln(out, "no recoveries")
					return err
				}
				for i := range rs {
					if i > 0 {
						fmt.Fprintln(out)
					}
					if err := o.printRecovery(out, &rs[i]); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}
