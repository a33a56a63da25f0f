// Package identity owns Ed25519 keys, did:icn identifiers, tagged signatures
// (Ed25519 over TAG || 0x0A || PAYLOAD), key files, and membership credentials.
//
// Everything signed travels as the exact bytes that were signed: verifiers never
// re-serialise. A signature made for one purpose (tag) never verifies for another.
// Signing and verification use curve25519-voi, which gives crypto/ed25519's
// signatures and verdicts in less time, with a bounded cache of expanded keys.
package identity
