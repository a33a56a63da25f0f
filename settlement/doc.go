// Package settlement turns a closed period's committed transfers into a
// settlement: multilateral netting, the instructions that settle it, a Merkle
// tree over the transfers, and a signed, canonically encoded report that a
// co-op can check offline against its own transfers without trusting the hub.
//
// The package is pure: no network, disk, clock or goroutines. Times come in
// as int64 unix nanoseconds. Every output is deterministic: it depends only
// on the set of transfers (and the header), never on their order or on map
// iteration.
//
// # Input
//
// Net, NewTree, MerkleRoot and BuildReport take the period's committed
// transfers, as clearing.Transfer records, and refuse the whole input (a
// *TransferError) if any transfer is not committed, is of a different or zero
// period, repeats an id, has an id outside 1..clearing.MaxIDLen bytes, an
// amount ≤ 0, From == To, a malformed DID or currency, or uses a currency
// code with two scales. Nothing is skipped silently: selecting the period's
// committed transfers is the caller's job, and a report always covers exactly
// what it was given.
//
// # Netting and instructions
//
// Per participant and currency: Sent and Received are gross sums, Net =
// Received − Sent (positive: net creditor). Per currency: Transfers, Volume
// (Σ amounts) and NetDebit (Σ of the negative nets' magnitudes = Σ of the
// positive nets). Amounts are int64 minor units; sums are overflow-checked.
// Instruct — the one function that computes instructions — pays debtors to
// creditors greedily (both sorted by amount descending, then DID ascending),
// which needs at most k − 1 payments for k participants with a non-zero net,
// and gives each the settlement mode of its currency's Rule in the Policy
// (hours transfer, asset swap or fiat bridge, the last two with the asset
// amount at the rule's rate). The state machine records its result at a
// period's close; BuildReport carries those recorded instructions and fails
// (ErrInstructionsDiffer) if the transfers and rules give others. The liquidity saving of a currency is
// 1 − NetDebit/Volume (0 for no volume), exact as a big.Rat, and written in
// the report as a decimal rounded half away from zero to SavingPlaces places.
//
// # Canonical transfer bytes (version 1)
//
// The Merkle leaves commit to these bytes of each transfer. Integers are
// big-endian; str(s) is the 4-byte unsigned length of s in bytes followed by
// the bytes of s (no terminator, no normalisation):
//
//	offset  size  field
//	0       1     version: 0x01
//	1       4+n   str(id)             transfer id, raw bytes
//	…       4+n   str(from)           sending participant's DID, e.g. "did:icn:…"
//	…       4+n   str(to)             receiving participant's DID
//	…       4+n   str(currency code)  e.g. "hours"
//	…       1     currency scale      0..9 (hours: 2)
//	…       8     amount              int64 minor units (two's complement)
//	…       8     period              uint64 period number
//	…       8     decided_at          int64 unix nanoseconds of the commit
//
// Example: id "t1", from F, to T, 2.50 hours, period 7, decided at 1e18 ns:
// 01 | 00000002 7431 | len(F) F | len(T) T | 00000005 686f757273 | 02 |
// 00000000000000fa | 0000000000000007 | 0de0b6b3a7640000.
//
// Other fields of clearing.Transfer (intent hash, prepared and expiry times,
// state, reason) are not part of the leaf.
//
// # Merkle tree
//
//	leaf  = SHA-256(0x00 || canonical transfer bytes)
//	inner = SHA-256(0x01 || left || right)
//
// Leaves are ordered by transfer id, ascending byte-wise (ids are unique).
// Levels are built bottom-up: nodes are paired left to right, and when a
// level has an odd number of nodes the last one is promoted unchanged to the
// next level (never duplicated or hashed alone). The root of one leaf is the
// leaf hash; of no leaves, SHA-256 of the empty string (EmptyRoot). This is
// exactly the Merkle Tree Hash of RFC 9162 (RFC 6962) §2.1.1, so any RFC 9162
// library verifies the proofs. A Proof holds the leaf's index, the leaf
// count and the inclusion path (sibling hashes from the leaf's level up);
// VerifyProof is the algorithm of RFC 9162 §2.1.3.2.
//
// # Canonical report (versions 1 and 2)
//
// Report.Canonical is UTF-8 JSON without any white space, with the fields in
// exactly this order (every field always present, arrays possibly empty,
// except the version 2 fields noted below):
//
//	{"version":2,
//	 "federation":"did:icn:…","period":7,
//	 "opened_at":"2026-01-01T00:00:00Z","closed_at":"2026-01-02T00:00:00.5Z",
//	 "transfers":3,
//	 "merkle_root":"<64 lower-case hex digits>",
//	 "currencies":[{"currency":"hours","scale":2,"transfers":3,"volume":"12.50",
//	                "net_debit":"2.50","liquidity_saving":"0.800000"}],
//	 "settlement":[{"currency":"hours","mode":"fiat","asset":"EUR","asset_scale":2,"rate":"15.5"}],
//	 "participants":[{"currency":"hours","did":"did:icn:…","sent":"10.00",
//	                  "received":"0.00","net":"-10.00","sent_count":2,"received_count":0}],
//	 "instructions":[{"currency":"hours","from":"did:icn:…","to":"did:icn:…","amount":"2.50",
//	                  "mode":"fiat","asset":"EUR","asset_amount":"38.75"}]}
//
// (shown wrapped; the real encoding is one line). "settlement" (one rule per
// currency of the report, in code order; an hours_transfer rule is only
// {"currency","mode"}, and a rate is its shortest decimal) and the
// instructions' "mode" (and, but for hours_transfer, "asset" and
// "asset_amount" in the asset's scale) appear in version 2 only: a version 1
// report, of a period closed before settlement modes, has neither and is
// otherwise the same. Integers are JSON numbers
// without sign, exponent or leading zeros. Times are RFC 3339 in UTC ("Z")
// with the fraction of a second written only when non-zero and without
// trailing zeros (Go's time.RFC3339Nano). Amounts are decimal strings with
// exactly the currency's scale ("2.50", "-0.05", "3" for scale 0).
// currencies are sorted by code; participants by currency code, then DID
// (byte-wise); instructions are in the order Instruct produces. Strings
// never need escaping: DIDs are base58, codes are [a-z0-9_].
//
// Report.Hash is SHA-256 of these bytes (so `sha256sum report.json` prints
// it), and a hub node's Signature is Ed25519 over
// "icn/v1/report" || 0x0A || the 32 hash bytes (identity.TagReport). A report
// is final once a quorum of the federation's hub nodes signed it
// (VerifySignatures). ParseReport accepts only canonical bytes of a report
// that passes Report.Check, so one report has exactly one encoding and hash.
//
// # Offline verification
//
// A co-op holds the report, the hub nodes' signatures, its own list of the
// period's transfers and their proofs. VerifySignatures shows the report is
// final; VerifyCoop shows that every transfer of the co-op is under the
// report's root and that the co-op's figures (hence its instructions) count
// exactly those transfers. The root cannot show the absence of transfers that
// involve nobody who checks: it commits the hub to its transfer set, and each
// co-op checks its own part.
//
// # Renderers
//
// A View is what a treasurer sees of a closed period. RenderHTML and
// RenderIndexHTML write server-rendered pages (html/template, embedded style
// sheet, inline SVG charts, no script; serve them under
// ContentSecurityPolicy); WriteFiguresCSV and WriteInstructionsCSV write
// RFC 4180 CSV; ViewJSON wraps the canonical report with signatures and
// statuses. All format amounts exactly as the canonical report does.
package settlement
