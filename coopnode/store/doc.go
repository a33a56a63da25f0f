// Package store owns a co-op node's state file (bbolt) and the one state
// machine that writes it: every write is a CoopCommand, applied at an index.
//
// Ledger, membership, gateway sessions and hub statements build commands and
// Submit them; each registers a Handler for its own command kinds with Handle.
// A Handler runs inside the write transaction and must be deterministic: it
// reads only the transaction and the command (Tx.Now is the command's time),
// so applying the same commands in the same order to the same state gives the
// same state on any node. That is what lets a Raft group replicate the state
// later: its FSM calls ApplyBatch with the log's entries, and Submit hands
// commands to the group instead of the local writer (SetProposer).
//
// On a single node, Submit goes to a group-commit writer: concurrent commands
// are applied in one bbolt transaction and share its fsync. A command whose
// handler fails leaves no trace: the batch is retried without it, as bbolt's
// own Batch does. Effects outside the file (feed subscribers, caches) are
// registered with Tx.AfterCommit and run, in order, once the batch is durable.
//
// Reads go through View, a read-only transaction; raw bbolt is confined to
// this package.
package store
