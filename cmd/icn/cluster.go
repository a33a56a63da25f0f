package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

func operatorClusterCmd() *cobra.Command {
	o := &hubOpts{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show and change the hub cluster's Raft membership",
		Long: `icn cluster status shows the answering node's view of the cluster (the first
--hub address that answers). join, remove and transfer-leadership are carried
out by the leader; a follower forwards them.

Connection flags as for icn federation (--hub, --hub-did, --key).`,
		Example: `  icn cluster status --hub 127.0.0.1:7200 --hub-did did:icn:... --key operator.key
  icn cluster join --did did:icn:... --raft-addr 10.0.0.4:7100 --grpc-addr 10.0.0.4:7200
  icn cluster remove did:icn:...
  icn cluster transfer-leadership --to did:icn:...`,
	}
	o.addFlags(cmd)
	cmd.AddCommand(o.clusterStatusCmd(), o.clusterJoinCmd(), o.clusterRemoveCmd(), o.clusterTransferCmd())
	return cmd
}

// clusterCall sends a request answered by a ClusterStatus and prints it.
func (o *hubOpts) clusterCall(cmd *cobra.Command, method string, req proto.Message) error {
	return o.run(cmd, func(ctx context.Context, c *hubClient) error {
		st := &icnv1.ClusterStatus{}
		if err := c.invoke(ctx, method, req, st); err != nil {
			return err
		}
		return c.show(cmd.OutOrStdout(), st, func(w io.Writer) error { return printClusterStatus(w, st) })
	})
}

func (o *hubOpts) clusterStatusCmd() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "status [--wait]",
		Short: "Show the nodes (raft and gRPC addresses, suffrage, leader), term and indexes",
		Long: `Show the answering node's view of the cluster. With --wait, keep asking until
a node answers and knows a leader (within --timeout): what a script runs after
starting the nodes.`,
		Example: `  icn cluster status --wait --timeout 60s`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !wait {
				return o.clusterCall(cmd, icnv1.ClusterService_Status_FullMethodName, &icnv1.ClusterStatusRequest{})
			}
			return o.run(cmd, func(ctx context.Context, c *hubClient) error {
				st, err := waitForLeader(ctx, c)
				if err != nil {
					return err
				}
				return c.show(cmd.OutOrStdout(), st, func(w io.Writer) error { return printClusterStatus(w, st) })
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "retry until the cluster has a leader (bounded by --timeout)")
	return cmd
}

// waitForLeader asks for the cluster status until an answer names a leader
// or ctx ends; it returns the last error if none did.
func waitForLeader(ctx context.Context, c *hubClient) (*icnv1.ClusterStatus, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st := &icnv1.ClusterStatus{}
		err := c.invoke(ctx, icnv1.ClusterService_Status_FullMethodName, &icnv1.ClusterStatusRequest{}, st)
		if err == nil && st.GetLeaderDid() != "" {
			return st, nil
		}
		if err == nil {
			err = fmt.Errorf("%s answers but knows no leader yet", st.GetNodeDid())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader within --timeout: %w", err)
		case <-tick.C:
		}
	}
}

func checkAddr(flag, v, example string) error {
	if v == "" {
		return fmt.Errorf("--%s is required: HOST:PORT, e.g. --%s %s", flag, flag, example)
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("--%s %q: want HOST:PORT, e.g. --%s %s", flag, v, flag, example)
	}
	return nil
}

func (o *hubOpts) clusterJoinCmd() *cobra.Command {
	var did, raftAddr, grpcAddr string
	var nonvoter bool
	cmd := &cobra.Command{
		Use:   "join --did DID --raft-addr HOST:PORT --grpc-addr HOST:PORT [--nonvoter]",
		Short: "Add a hub node to the cluster (start it first; its hub.toml must not list it in [[peers]])",
		Long: `Add a hub node to the cluster. Start the new node first with a hub.toml whose
[[peers]] list the existing nodes but not itself: a node that is not listed
does not bootstrap a cluster of its own, it waits to be joined. Then run this
command against any node of the cluster (a follower forwards it to the
leader). See docs/hub-cluster.md.`,
		Example: `  icn cluster join --did ` + exampleDID + ` --raft-addr 10.0.0.4:7100 --grpc-addr 10.0.0.4:7200
  icn cluster join --did ` + exampleDID + ` --raft-addr 10.0.0.5:7100 --grpc-addr 10.0.0.5:7200 --nonvoter`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDID("did", did, "the new node's DID (it logs it when it starts)"); err != nil {
				return err
			}
			if err := checkAddr("raft-addr", raftAddr, "10.0.0.4:7100"); err != nil {
				return err
			}
			if err := checkAddr("grpc-addr", grpcAddr, "10.0.0.4:7200"); err != nil {
				return err
			}
			return o.clusterCall(cmd, icnv1.ClusterService_Join_FullMethodName,
				&icnv1.JoinRequest{Did: did, RaftAddress: raftAddr, GrpcAddress: grpcAddr, Nonvoter: nonvoter})
		},
	}
	cmd.Flags().StringVar(&did, "did", "", "the new node's DID (required)")
	cmd.Flags().StringVar(&raftAddr, "raft-addr", "", "the address other nodes reach its Raft transport at (required)")
	cmd.Flags().StringVar(&grpcAddr, "grpc-addr", "", "its control-plane (gRPC) address, for forwarding (required)")
	cmd.Flags().BoolVar(&nonvoter, "nonvoter", false, "join as a non-voter (a read replica, or a node still catching up)")
	return cmd
}

func (o *hubOpts) clusterRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove DID",
		Short: "Remove a node from the cluster (to remove the leader, transfer leadership first)",
		Args:  didArg("icn cluster remove DID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.clusterCall(cmd, icnv1.ClusterService_Remove_FullMethodName, &icnv1.RemoveRequest{Did: args[0]})
		},
	}
}

func (o *hubOpts) clusterTransferCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "transfer-leadership [--to DID]",
		Short: "Hand leadership to another voter (for a rolling restart); without --to Raft picks one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to != "" {
				if err := requireDID("to", to, "the node to lead"); err != nil {
					return err
				}
			}
			return o.clusterCall(cmd, icnv1.ClusterService_TransferLeadership_FullMethodName, &icnv1.TransferLeadershipRequest{Did: to})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the node to hand leadership to (default: Raft picks the most up-to-date voter)")
	return cmd
}
