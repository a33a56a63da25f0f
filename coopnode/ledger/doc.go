// Package ledger is a co-op node's member ledger in one bbolt file: double-entry,
// hash-chained entries, balances with credit limits, holds for two-phase
// transfers, idempotent payment records, and the event feeds.
//
// Writes go through one group-commit writer: concurrent callers are packed into
// one bbolt transaction and share its fsync. A feed event is written in the same
// transaction as the entry it reports, so a feed never shows what the chain lacks.
package ledger
