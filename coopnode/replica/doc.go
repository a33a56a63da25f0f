// Package replica makes a co-op node's state (coopnode/store) the state
// machine of its Raft group (coopnode/cluster), and sends the store's
// commands through the group.
//
// Each log entry's commands are applied in one store transaction at the
// entry's index. The store records the last index it applied in that same
// transaction, so an entry at or below it is skipped: raft replays its log
// after a restart, and the file already holds what it replays. For the same
// reason a snapshot image needs no index of its own: it carries the
// store's, and the entries after it that raft replays are skipped too.
package replica
