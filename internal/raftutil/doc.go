// Package raftutil holds what the project's two Raft groups — the hub
// cluster and a replicated co-op node — share: raft's stream layer over
// TLS 1.3 pinned to node DIDs, the hclog → slog adapter, the log store, and
// the group commit that packs concurrent proposals into one log entry.
package raftutil
