// Package hub runs one node of a federation's hub cluster and composes its
// parts: the raft node (raft-boltdb log and stable store, file snapshots,
// TLS transport pinned to node DIDs, batching proposals into log entries,
// linearizable reads), the replicated state machine (package hub/fsm), the
// operators' and treasurers' gRPC control plane (this package: cluster
// membership, registry, trust, credit, settlement, backups, leader
// forwarding), the settlement scheduler and report signer, and the data
// plane (package hub/dataplane, which needs of the node only
// dataplane.Cluster). Service starts them together, as `icn hub` and
// `icn dev` run them.
package hub
