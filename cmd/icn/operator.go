package main

import "github.com/spf13/cobra"

// addOperatorCommands adds the hub operators' commands (federation, trust,
// credit, cluster) to root.
func addOperatorCommands(root *cobra.Command) {}
