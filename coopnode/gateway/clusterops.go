package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// ClusterAdmin is the membership of a replicated co-op's Raft group, for
// its moderators (icn coop cluster). The node's Cluster implements it.
type ClusterAdmin interface {
	Status() (cluster.Status, error)
	AddVoter(ctx context.Context, did identity.DID, raftAddr string) error
	RemoveServer(ctx context.Context, did identity.DID) error
	// PeerAPI is the gateway URL of a node: configured in [[cluster.peers]],
	// else recorded when it was added ("" if neither).
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
	// API is the new node's gateway URL, recorded in the state so that
	// every follower can forward to it while it leads.
	API string `json:"api,omitempty"`
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
	if req.API != "" {
		if err := checkPeerAPI(req.API); err != nil {
			return errf(http.StatusBadRequest, "invalid_request", "api: %v", err)
		}
	}
	if err := a.AddVoter(r.Context(), identity.DID(req.DID), req.Raft); err != nil {
		return clusterChangeError(err)
	}
	if req.API != "" {
		if err := g.recordPeerAPI(r.Context(), identity.DID(req.DID), req.API); err != nil {
			return errf(http.StatusConflict, "cluster_change_failed", "the node was added, its gateway URL not recorded (add it again): %v", err)
		}
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
	if g.RecordedPeerAPI(identity.DID(did)) != "" {
		// A leader that removed itself no longer leads: the next one's
		// forwarding never looks the removed node up again anyway.
		if err := g.recordPeerAPI(r.Context(), identity.DID(did), ""); err != nil {
			g.cfg.Logger.Warn("forget a removed node's gateway URL", "did", did, "err", err)
		}
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

// bktPeerAPIs holds the gateway URLs recorded for nodes added to the group
// (RecordClusterPeer): cluster DID → URL.
var bktPeerAPIs = []byte("gateway.peer_api")

// checkPeerAPI checks a node's gateway base URL.
func checkPeerAPI(api string) error {
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(api) > 512 {
		return fmt.Errorf("%.80q: the node's gateway base URL, http[s]://host:port", api)
	}
	return nil
}

func (g *Gateway) recordPeerAPI(ctx context.Context, did identity.DID, api string) error {
	_, err := g.cfg.Ledger.State().Submit(ctx, &icnv1.CoopCommand{AtUnixNano: g.cfg.Clock().UnixNano(),
		Kind: &icnv1.CoopCommand_RecordClusterPeer{RecordClusterPeer: &icnv1.RecordClusterPeer{Did: string(did), Api: api}}})
	return err
}

func applyRecordClusterPeer(tx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetRecordClusterPeer()
	if _, _, err := identity.ParseDID(c.Did); err != nil {
		return nil, fmt.Errorf("record cluster peer: %w", err)
	}
	if c.Api == "" {
		return nil, tx.Bucket(bktPeerAPIs).Delete([]byte(c.Did))
	}
	if err := checkPeerAPI(c.Api); err != nil {
		return nil, fmt.Errorf("record cluster peer %s: %w", c.Did, err)
	}
	return nil, tx.Bucket(bktPeerAPIs).Put([]byte(c.Did), []byte(c.Api))
}

// RecordedPeerAPI is the gateway URL recorded for node did when it was
// added ("" if none).
func (g *Gateway) RecordedPeerAPI(did identity.DID) string {
	var api string
	if err := g.cfg.Ledger.State().View(func(v *store.View) error {
		api = string(v.Bucket(bktPeerAPIs).Get([]byte(did)))
		return nil
	}); err != nil {
		g.cfg.Logger.Warn("read a node's gateway URL", "did", did, "err", err)
	}
	return api
}
