package gateway

import (
	"encoding/hex"
	"net/http"
	"time"
)

// HubLink is the co-op node's link to its hub cluster as /readyz reports it
// (Config.HubLink). The gateway does not hold the link; the node passes a
// function that reads it.
type HubLink struct {
	// State is connecting, connected, disconnected (lost or unreachable,
	// retrying with backoff) or refused (the hub refused this node's key:
	// not a registered participant).
	State string
	// Node is the hub node connected to (or last connected to), Addr the
	// address connected to or last tried, Leader the hub leader as last
	// learned; each may be empty.
	Node, Addr, Leader string
	// Registered: the hub admitted this node's key at the last handshake
	// that got an answer.
	Registered bool
	// Since is when State last changed.
	Since time.Time
	// FailedAttempts in a row and the LastError (while not connected).
	FailedAttempts int
	LastError      string
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	// Status is "ready", or "degraded" while a configured hub link is not
	// connected: the node serves its members (logins, balances, history,
	// payments inside the co-op), and holds payments to other co-ops as
	// pending until the link is back. Both answer 200. "catching_up" (503):
	// a node of a replicated co-op that has not caught up with its group
	// since it started (it restores its snapshot and replays its log), so
	// its own copy would answer stale reads from before its restart. An
	// unreadable ledger answers 503 with an error.
	Status        string `json:"status"`
	Coop          string `json:"coop"`
	LedgerSeq     uint64 `json:"ledger_seq"`
	LedgerHead    string `json:"ledger_head"` // hex SHA-256 of the newest entry, "" before any
	OpenTransfers int    `json:"open_transfers"`
	// Hub is the link's state, "none" without a hub configured, "standby" on
	// a node of a replicated co-op that does not lead (its leader holds the link).
	Hub            string `json:"hub"`
	HubNode        string `json:"hub_node,omitempty"`
	HubAddr        string `json:"hub_addr,omitempty"`
	Leader         string `json:"leader,omitempty"`
	Registered     *bool  `json:"registered,omitempty"` // nil without a hub
	HubSince       string `json:"hub_since,omitempty"`
	FailedAttempts int    `json:"failed_attempts,omitempty"`
	LastError      string `json:"last_error,omitempty"`
	// Error is the API's error object beside the rest on a 503
	// catching_up, so clients that read errors read this one.
	Error *ReadinessError `json:"error,omitempty"`
}

// ReadinessError is Readiness.Error: the API's {"code","message"}.
type ReadinessError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	seq, hash, err := g.cfg.Ledger.Head()
	if err != nil {
		writeError(w, errf(http.StatusServiceUnavailable, "not_ready", "ledger unreadable: %v", err))
		return
	}
	open, err := g.cfg.Ledger.OpenCount()
	if err != nil {
		writeError(w, errf(http.StatusServiceUnavailable, "not_ready", "ledger unreadable: %v", err))
		return
	}
	rd := Readiness{Status: "ready", Coop: g.cfg.CoopID, LedgerSeq: seq, LedgerHead: hex.EncodeToString(hash),
		OpenTransfers: open, Hub: "none"}
	if g.cfg.HubLink != nil {
		l := g.cfg.HubLink()
		rd.Hub, rd.HubNode, rd.HubAddr, rd.Leader = l.State, l.Node, l.Addr, l.Leader
		rd.Registered, rd.FailedAttempts, rd.LastError = &l.Registered, l.FailedAttempts, l.LastError
		if !l.Since.IsZero() {
			rd.HubSince = rfc3339(l.Since)
		}
		// "standby": a replicated co-op's node that does not lead; its
		// leader holds the link.
		if l.State != "connected" && l.State != "standby" {
			rd.Status = "degraded"
		}
	}
	code := http.StatusOK
	if g.cfg.Cluster != nil && !g.cfg.Cluster.CaughtUp() {
		rd.Status, code = "catching_up", http.StatusServiceUnavailable
		rd.Error = &ReadinessError{Code: "catching_up", Message: "this node of a replicated co-op is restoring its state from the group " +
			"since it started (its raft snapshot and log); it is ready once a leader has brought it up to date"}
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, rd)
}
