// Package fsm is a hub cluster's replicated state machine: the federation
// registry, the trust graph, the clearing book of the open period and the
// settlement history, applied deterministically from raft log entries (no
// clock, randomness or map order inside Apply), kept in its own bbolt file
// with the last applied index, snapshotted and restored whole.
package fsm
