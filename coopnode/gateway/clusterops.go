package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/identity"
)

// ClusterAdmin is the membership of a replicated co-op's Raft group, for
// its moderators (icn coop cluster). The node's Cluster implements it.
type ClusterAdmin interface {
	Status() (cluster.Status, error)
	AddVoter(ctx context.Context, did identity.DID, raftAddr string) error
	RemoveServer(ctx context.Context, did identity.DID) error
	// PeerAPI is the gateway URL configured for a node ("" if none).
	PeerAPI(did identity.DID) string
}

// allRoutes is routes() and the cluster's operator routes.
func (g *Gateway) allRoutes() []route {
	return append(g.routes(),
		route{"GET", "/cluster/{coop}", "cluster_status", ruleModerator, g.getCluster},
		route{"POST", "/cluster/{coop}/nodes", "cluster_add", ruleModerator, g.postClusterNode},
		route{"DELETE", "/cluster/{coop}/nodes/{did}", "cluster_remove", ruleModerator, g.deleteClusterNode},
	)
}

// ClusterStatus is the body of the cluster routes: the group as the
// answering node sees it.
type ClusterStatus struct {
	Node              string          `json:"node"`
	State             string          `json:"state"` // leader, follower, candidate, shutdown
	Leading           bool            `json:"leading"`
	Leader            string          `json:"leader"`
	LeaderAPI         string          `json:"leader_api,omitempty"`
	Term              uint64          `json:"term"`
	CommitIndex       uint64          `json:"commit_index"`
	AppliedIndex      uint64          `json:"applied_index"`
	LastSnapshotIndex uint64          `json:"last_snapshot_index"`
	Servers           []ClusterServer `json:"servers"`
}

// ClusterServer is one node of the group.
type ClusterServer struct {
	DID      string `json:"did"`
	Raft     string `json:"raft"`
	Suffrage string `json:"suffrage"` // voter, nonvoter, staging
	API      string `json:"api,omitempty"`
}

type clusterNodeReq struct {
	DID  string `json:"did"`
	Raft string `json:"raft"`
}

func (g *Gateway) clusterAdmin() (ClusterAdmin, error) {
	if a := g.cfg.ClusterAdmin; a != nil {
		return a, nil
	}
	return nil, errf(http.StatusNotFound, "not_replicated", "this co-op runs on a single node: it has no [cluster]")
}

func (g *Gateway) getCluster(w http.ResponseWriter, r *http.Request, _ *caller) error {
	if err := pathCoopMismatch(g, r); err != nil {
		return err
	}
	a, err := g.clusterAdmin()
	if err != nil {
		return err
	}
	return g.writeClusterStatus(w, a)
}

func (g *Gateway) postClusterNode(w http.ResponseWriter, r *http.Request, _ *caller) error {
	if err := pathCoopMismatch(g, r); err != nil {
		return err
	}
	a, err := g.clusterAdmin()
	if err != nil {
		return err
	}
	var req clusterNodeReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	if _, _, err := identity.ParseDID(req.DID); err != nil {
		return errf(http.StatusBadRequest, "invalid_request", "did: the new node's cluster DID (icn coop cluster id): %v", err)
	}
	if req.Raft == "" {
		return errf(http.StatusBadRequest, "invalid_request", "raft: the new node's raft address, host:port")
	}
	if err := a.AddVoter(r.Context(), identity.DID(req.DID), req.Raft); err != nil {
		return clusterChangeError(err)
	}
	return g.writeClusterStatus(w, a)
}

func (g *Gateway) deleteClusterNode(w http.ResponseWriter, r *http.Request, _ *caller) error {
	if err := pathCoopMismatch(g, r); err != nil {
		return err
	}
	a, err := g.clusterAdmin()
	if err != nil {
		return err
	}
	did := r.PathValue("did")
	if _, _, err := identity.ParseDID(did); err != nil {
		return errf(http.StatusBadRequest, "invalid_request", "the node's cluster DID: %v", err)
	}
	st, err := a.Status()
	if err != nil {
		return err
	}
	known := false
	for _, s := range st.Servers {
		known = known || string(s.DID) == did
	}
	if !known {
		return errf(http.StatusNotFound, "not_found", "%s is not a node of the co-op's cluster", did)
	}
	if err := a.RemoveServer(r.Context(), identity.DID(did)); err != nil {
		return clusterChangeError(err)
	}
	return g.writeClusterStatus(w, a)
}

// clusterChangeError: a change the leader lost on the way is retried; any
// other failure (a bad address raft refused, a timeout) says what it was.
func clusterChangeError(err error) error {
	if errors.Is(err, cluster.ErrNotLeader) {
		return errNoLeader
	}
	return errf(http.StatusConflict, "cluster_change_failed", "%v", err)
}

func (g *Gateway) writeClusterStatus(w http.ResponseWriter, a ClusterAdmin) error {
	st, err := a.Status()
	if err != nil {
		return err
	}
	out := ClusterStatus{Node: string(st.DID), State: st.State, Leading: st.Leading, Leader: string(st.Leader),
		LeaderAPI: a.PeerAPI(st.Leader), Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		LastSnapshotIndex: st.LastSnapshotIndex, Servers: []ClusterServer{}}
	for _, s := range st.Servers {
		out.Servers = append(out.Servers, ClusterServer{DID: string(s.DID), Raft: s.RaftAddr, Suffrage: s.Suffrage, API: a.PeerAPI(s.DID)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
