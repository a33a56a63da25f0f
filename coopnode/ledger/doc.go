// Package ledger is a co-op node's member ledger in one bbolt file: double-entry,
// hash-chained entries, balances with credit limits, both sides of two-phase
// cross-co-op transfers (holds at the payer, pending credits at the payee, and
// an index of those still open), idempotent payment records, and the event feeds.
//
// Writes go through one group-commit writer: concurrent callers are packed into
// one bbolt transaction and share its fsync. A feed event is written in the same
// transaction as the entry it reports, so a feed never shows what the chain lacks.
package ledger
