// Package clearing is the hub's clearing book: the two-phase transfer state
// machine (prepared → committed | aborted, or rejected at once), the bilateral
// positions of the current settlement period per currency, and net debit caps
// that count pending transfers (Mojaloop's rule: position + reserved + amount ≤ cap).
//
// The position the cap limits is the unsettled net debit across periods:
// closing a period settles nothing, so each participant's net debit of the
// closed period is carried into the next (Position.Carried) and the cap keeps
// counting it (Position.CapDebit). Settlement, which a later change adds,
// reduces the carried positions.
//
// The package is pure: no network, disk, clock or goroutines. Time comes in as
// int64 unix nanoseconds; the registry, trust and credit policy come in through
// Env; transfer records are stored through Records (the hub's bbolt bucket).
// Every command is deterministic: no map iteration order reaches an output or
// the order of Records.Put calls.
//
// Memory holds only what the hot checks need: the pending transfers (with an
// expiry heap keyed (ExpiresAt, ID)), per participant and currency the period's
// gross sent/received, the reserved amount and the carried net debit of closed
// periods, and the period's bilateral sums.
// Decided transfers live only in Records.
//
// Business rejections are never errors: they are Outcomes with a Reason (or a
// Conflict). A returned error means a Records failure or a broken invariant,
// and the caller should treat the book as unusable.
//
// A Book is not safe for concurrent use; the hub's state machine serialises
// commands.
package clearing
