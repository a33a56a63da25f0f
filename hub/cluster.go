package hub

import (
	"context"
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

func lastSnapshot(r *raft.Raft) (uint64, error) {
	return strconv.ParseUint(r.Stats()["last_snapshot_index"], 10, 64)
}

// Status describes the cluster as this node sees it.
func (n *Node) Status() (*icnv1.ClusterStatus, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	snap, _ := lastSnapshot(n.raft)
	st := &icnv1.ClusterStatus{
		NodeDid: string(n.DID()), State: stateName(n.raft.State()), LeaderDid: string(leader),
		Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.fsm.AppliedIndex(),
		LastSnapshotIndex: snap,
	}
	nodes := n.fsm.HubNodes()
	for _, s := range f.Configuration().Servers {
		cn := &icnv1.ClusterNode{Did: string(s.ID), RaftAddress: string(s.Address),
			Suffrage: suffrageName(s.Suffrage), Leader: s.ID == leader}
		cn.GrpcAddress = n.peerGRPC(identity.DID(s.ID))
		if hn := nodes[identity.DID(s.ID)]; hn.GetGrpcAddress() != "" {
			cn.GrpcAddress = hn.GetGrpcAddress()
		}
		st.Nodes = append(st.Nodes, cn)
	}
	return st, nil
}

func stateName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	}
	return "shutdown"
}

func suffrageName(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	}
	return "staging"
}

// Join adds a node to the cluster (leader only): its control-plane address
// is recorded first so the others can forward to it once it leads.
func (n *Node) Join(ctx context.Context, req *icnv1.JoinRequest) error {
	did, _, err := identity.ParseDID(req.GetDid())
	if err != nil {
		return refuse(fsm.CodeInvalidArgument, "node did: %v", err)
	}
	if req.GetRaftAddress() == "" {
		return refuse(fsm.CodeInvalidArgument, "raft_address is required")
	}
	if !n.IsLeader() {
		return ErrNotLeader
	}
	res, err := n.Propose(ctx, &icnv1.Command{Cmd: &icnv1.Command_RegisterHubNode{RegisterHubNode: &icnv1.RegisterHubNode{
		Did: string(did), RaftAddress: req.GetRaftAddress(), GrpcAddress: req.GetGrpcAddress()}}})
	if err != nil {
		return err
	}
	if res.GetErrorCode() != "" {
		return &fsm.CommandError{Code: res.GetErrorCode(), Message: res.GetErrorMessage()}
	}
	add := n.raft.AddVoter
	if req.GetNonvoter() {
		add = n.raft.AddNonvoter
	}
	if err := add(raft.ServerID(did), raft.ServerAddress(req.GetRaftAddress()), 0, timeoutOf(ctx)).Error(); err != nil {
		return fmt.Errorf("add %s: %w", did, err)
	}
	return nil
}

// Remove takes a node out of the cluster (leader only).
func (n *Node) Remove(ctx context.Context, did identity.DID) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	if err := n.raft.RemoveServer(raft.ServerID(did), 0, timeoutOf(ctx)).Error(); err != nil {
		return fmt.Errorf("remove %s: %w", did, err)
	}
	return nil
}

// TransferLeadership hands leadership to did, or to a node raft picks.
func (n *Node) TransferLeadership(ctx context.Context, did identity.DID) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	var f raft.Future
	if did == "" {
		f = n.raft.LeadershipTransfer()
	} else {
		var addr raft.ServerAddress
		cf := n.raft.GetConfiguration()
		if err := cf.Error(); err != nil {
			return err
		}
		for _, s := range cf.Configuration().Servers {
			if s.ID == raft.ServerID(did) {
				addr = s.Address
			}
		}
		if addr == "" {
			return refuse(fsm.CodeInvalidArgument, "%s is not a member of the cluster", did)
		}
		f = n.raft.LeadershipTransferToServer(raft.ServerID(did), addr)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	return nil
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Second
}

// refuse is a command error of the node's own (not the state machine's).
func refuse(code, format string, args ...any) *fsm.CommandError {
	return &fsm.CommandError{Code: code, Message: fmt.Sprintf(format, args...)}
}
