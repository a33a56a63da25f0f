package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

func operatorCreditCmd() *cobra.Command {
	o := &hubOpts{}
	cmd := &cobra.Command{
		Use:   "credit",
		Short: "Set and show participants' net debit caps",
		Long: `A participant's net debit cap bounds how far its position in the current
period (received - sent - pending) may go below zero. The effective cap is the
base cap set here times the credit factor of the class of the federation's
trust in the participant.

Connection flags as for icn federation (--hub, --hub-did, --key).`,
		Example: `  icn credit set  --did did:icn:... --cap 500.00
  icn credit show did:icn:... -o json`,
	}
	o.addFlags(cmd)
	cmd.AddCommand(o.creditSetCmd(), o.creditShowCmd())
	return cmd
}

func (o *hubOpts) creditSetCmd() *cobra.Command {
	var did, capAmount, currency string
	cmd := &cobra.Command{
		Use:     "set --did DID --cap AMOUNT [--currency hours]",
		Short:   "Set a participant's base net debit cap in one currency",
		Example: `  icn credit set --did ` + exampleDID + ` --cap 500.00`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDID("did", did, "the participant whose cap to set"); err != nil {
				return err
			}
			if capAmount == "" {
				return errors.New("--cap is required: the base net debit cap as a decimal, e.g. --cap 500.00")
			}
			if currency == "" {
				return errors.New("--currency must not be empty: a currency the federation clears, e.g. --currency hours")
			}
			// Check amounts of known currencies here for a clearer message; the
			// hub checks again and knows the federation's own currencies.
			if c, err := money.DefaultCurrencies().Lookup(currency); err == nil {
				a, err := money.Parse(capAmount, c)
				if err != nil {
					return fmt.Errorf("--cap: %w (%s has %d decimal places), e.g. --cap 500.00", err, c.Code, c.Scale)
				}
				if a.Sign() < 0 {
					return fmt.Errorf("--cap must not be negative (got %s); 0 allows no net debit", capAmount)
				}
			}
			req := &icnv1.SetCreditPolicyRequest{Did: did, Currency: currency, DebitCap: capAmount, RequestId: newRequestID()}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				p := &icnv1.CreditPolicy{}
				if err := c.invoke(ctx, icnv1.CreditService_SetCreditPolicy_FullMethodName, req, p); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), p, func(w io.Writer) error { return printCreditPolicy(w, p) })
			})
		},
	}
	cmd.Flags().StringVar(&did, "did", "", "the participant (required)")
	cmd.Flags().StringVar(&capAmount, "cap", "", "base net debit cap, a decimal such as 500.00 (required)")
	cmd.Flags().StringVar(&currency, "currency", money.Hours.Code, "currency code")
	return cmd
}

func (o *hubOpts) creditShowCmd() *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "show DID [--stale]",
		Short: "Show a participant's caps and current positions, one row per currency",
		Args:  didArg("icn credit show DID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				r := &icnv1.GetCreditPolicyResponse{}
				if err := c.invoke(ctx, icnv1.CreditService_GetCreditPolicy_FullMethodName, &icnv1.GetCreditPolicyRequest{Did: args[0], Stale: stale}, r); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), r, func(w io.Writer) error {
					rows := make([][]string, 0, len(r.GetPolicies()))
					for _, p := range r.GetPolicies() {
						rows = append(rows, []string{p.GetCurrency(), p.GetDebitCap(), p.GetEffectiveCap(), p.GetTrustClass(),
							p.GetNet(), p.GetSent(), p.GetReceived(), p.GetReserved(), p.GetCarried()})
					}
					return printTable(w, []string{"CURRENCY", "DEBIT CAP", "EFFECTIVE CAP", "TRUST CLASS", "NET", "SENT", "RECEIVED", "RESERVED", "CARRIED"}, rows)
				})
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without a round trip to the leader (may lag)")
	return cmd
}
