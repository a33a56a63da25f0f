package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

func (o *hubOpts) federationSettlementCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settlement",
		Short: "Show and set how each currency's settlement instructions are carried out",
		Long: `Each currency the federation clears settles in one of three modes, shown on
every instruction of a period's report, in its CSV and on the treasurer pages:

  hours_transfer  the debtor co-op transfers the hours themselves (the default)
  asset_swap      the debtor hands over an asset token at a fixed rate
  fiat            the debtor pays a fiat currency through a bank at a fixed rate
                  (the fiat bridge); marking it paid needs the bank's reference

A rule applies to the periods that close after it is set; a closed period
keeps the rules it closed under.`,
		Example: `  icn federation settlement show
  icn federation settlement set --currency hours --mode fiat --asset EUR --asset-scale 2 --rate 15.50
  icn federation settlement set --currency kwh --mode asset_swap --asset SOLAR --asset-scale 0 --rate 0.25
  icn federation settlement set --currency hours --mode hours_transfer`,
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show each currency's settlement rule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				f := &icnv1.Federation{}
				if err := c.invoke(ctx, icnv1.FederationService_GetFederation_FullMethodName, &icnv1.GetFederationRequest{}, f); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), &icnv1.Federation{Settlement: f.GetSettlement()}, func(w io.Writer) error {
					return printRules(w, f.GetSettlement())
				})
			})
		},
	}
	cmd.AddCommand(show, o.settlementSetCmd())
	return cmd
}

func (o *hubOpts) settlementSetCmd() *cobra.Command {
	var currency, mode, asset, rate string
	var scale int32
	cmd := &cobra.Command{
		Use:   "set --currency CODE --mode MODE [--asset CODE --asset-scale N --rate R]",
		Short: "Set how a currency settles (operators)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if currency == "" {
				return errors.New("--currency is required: the cleared currency the rule is for, e.g. --currency hours")
			}
			r := settlement.Rule{Currency: currency, Mode: mode}
			if mode != settlement.ModeHoursTransfer {
				d, err := settlement.ParseRate(rate)
				if err != nil {
					return fmt.Errorf("--rate: %w", err)
				}
				r.Rate = d
				r.Asset.Code, r.Asset.Scale = asset, scale
			}
			if err := r.Check(); err != nil {
				return fmt.Errorf("%w (see icn federation settlement --help)", err)
			}
			req := &icnv1.SetSettlementRuleRequest{RequestId: newRequestID(), Rule: &icnv1.SettlementRule{
				Currency: currency, Mode: mode}}
			if mode != settlement.ModeHoursTransfer {
				req.Rule.Asset, req.Rule.AssetScale, req.Rule.Rate = asset, uint32(scale), r.Rate.String()
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				f := &icnv1.Federation{}
				if err := c.invoke(ctx, icnv1.FederationService_SetSettlementRule_FullMethodName, req, f); err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), &icnv1.Federation{Settlement: f.GetSettlement()}, func(w io.Writer) error {
					return printRules(w, f.GetSettlement())
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&currency, "currency", "", "the currency the rule is for (required)")
	f.StringVar(&mode, "mode", "", "hours_transfer, asset_swap or fiat (required)")
	f.StringVar(&asset, "asset", "", "asset_swap: the token's code; fiat: the ISO 4217 code, e.g. EUR")
	f.Int32Var(&scale, "asset-scale", 2, "decimals of the asset (EUR: 2)")
	f.StringVar(&rate, "rate", "", "units of the asset per unit of the currency, e.g. 15.50")
	return cmd
}

// ruleText says a rule for people: "hours: fiat, 15.5 EUR per unit".
func ruleText(r *icnv1.SettlementRule) string {
	if r.GetMode() == settlement.ModeHoursTransfer {
		return r.GetCurrency() + ": hours_transfer"
	}
	return fmt.Sprintf("%s: %s, %s %s per unit (%d decimals)", r.GetCurrency(), r.GetMode(), r.GetRate(), r.GetAsset(), r.GetAssetScale())
}

func printRules(w io.Writer, rules []*icnv1.SettlementRule) error {
	var rows [][]string
	for _, r := range rules {
		if r.GetMode() == settlement.ModeHoursTransfer {
			rows = append(rows, []string{r.GetCurrency(), r.GetMode(), "-", "-", "-"})
			continue
		}
		rows = append(rows, []string{r.GetCurrency(), r.GetMode(), r.GetAsset(), fmt.Sprint(r.GetAssetScale()), r.GetRate()})
	}
	return printTable(w, []string{"CURRENCY", "MODE", "ASSET", "ASSET SCALE", "RATE"}, rows)
}
