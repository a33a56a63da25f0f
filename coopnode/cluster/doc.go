// Package cluster replicates a co-op node's state over 2–3 nodes: one Raft
// group (hashicorp/raft, raft-boltdb/v2, file snapshots, TLS pinned to node
// DIDs — the hub's engine) driving a StateMachine that the store provides.
//
// # What it owns
//
// The Raft log, stable store and snapshot files in Config.DataDir; the
// transport between co-op nodes; the group commit that packs concurrent
// proposals into one log entry; linearizable read barriers; leadership
// (who runs the hub peer and the reconciler); and cluster membership. It
// knows nothing of what a command means: commands are opaque bytes.
//
// # The state machine contract
//
//   - Apply must be deterministic: the same state and the same commands give
//     the same new state and results on every node. No clocks, randomness,
//     map-order effects or reads of anything outside the state inside Apply:
//     time and ids come in the command.
//   - Apply gets every command of one log entry in one call, so a store can
//     write the entry in one transaction together with index. An entry may
//     hold no command (each new leader appends one to learn its commit
//     index); Apply is not called for it.
//   - A bad command is a result (an error value the store chooses), never a
//     panic: Apply returns exactly one result per command, in order, and
//     Propose hands each proposer its own.
//   - Snapshot is called between two Applies and must be cheap (open a bbolt
//     read transaction); the Snapshot it returns is written out
//     concurrently with later Applies and must show the state as of that
//     moment. Restore replaces the whole state with an image Snapshot wrote.
//   - After a restart raft restores the newest snapshot and replays the log
//     after it: a store that keeps its state on disk either lets Restore
//     replace that state or skips the indexes it has already applied
//     (recording the index in the same transaction, as hub/fsm does).
//
// # Proposals whose fate is unknown
//
// Propose on a follower fails at once with a *NotLeaderError (nothing was
// proposed; it names the leader for forwarding). Once a command is handed
// to raft, a lost leadership, a shutdown or the caller's deadline leave its
// outcome unknown (ErrOutcomeUnknown): it may yet be committed by the next
// leader. The caller must retry with the same request id — on whichever
// node leads then — and the state machine must make the retry harmless
// (deduplicate by the id in the command and return the first outcome).
// Idempotency is the state machine's job, not this package's.
//
// # Two nodes
//
// A 2-node group needs both nodes for a quorum: while either is down there
// are no writes and no linearizable reads (the survivor steps down within
// LeaderLease), though no acknowledged command is lost and the survivor's
// disk holds everything committed. Three nodes survive one down.
package cluster
