// Package governance owns a co-op's decision rules: proposals and their
// kinds, rules and periods, signed votes (tag icn/v1/vote), delegation, the
// tally, the outcome as typed effects for the co-op node to apply, removal
// and appeal, and the schedule of dues.
//
// It is pure: time comes in with every event, nothing is stored, nothing
// is read from the network or the clock. Every method that changes a record
// either succeeds or leaves the record as it was, so the co-op node can
// call it inside the transaction that stores the result.
package governance
