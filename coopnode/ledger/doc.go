// Package ledger is a co-op node's member ledger, kept in its state file
// (coopnode/store): double-entry, hash-chained entries, balances with credit
// limits, both sides of two-phase cross-co-op transfers (holds at the payer,
// pending credits at the payee, and an index of those still open), idempotent
// payment records, and the event feeds.
//
// Every write is a command (RecordPayment, DecidePayment, SetCreditLimit)
// applied by the store's state machine, whose group commit packs concurrent
// callers into one transaction that shares its fsync. A feed event is written
// in the same transaction as the entry it reports, so a feed never shows what
// the chain lacks; subscribers see it once the transaction is durable.
package ledger
