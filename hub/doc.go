// Package hub runs one node of a federation's hub cluster: a Raft-replicated
// state machine (registry, trust graph, clearing book) and its control plane.
//
// The state machine (FSM) applies batches of protobuf commands
// (icnv1.CommandBatch), deterministically: the only clock it sees is the
// time each command carries. Transfer records and trust attestations live in
// the FSM's own bbolt file, written in one transaction per applied batch;
// memory holds what the hot checks need. The file is rebuilt from the
// latest snapshot and the Raft log at every start.
package hub
