package main

import "github.com/spf13/cobra"

// addOperatorCommands adds the hub operators' commands (federation, trust,
// credit, cluster) to root. Each group has the connection flags of hubOpts
// (--hub, --hub-did, --key, --timeout, --output) as persistent flags.
func addOperatorCommands(root *cobra.Command) {
	root.AddCommand(operatorFederationCmd(), operatorTrustCmd(), operatorCreditCmd(), operatorClusterCmd(), operatorSettlementCmd())
}
