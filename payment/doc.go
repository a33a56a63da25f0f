// Package payment owns the payment intent, the JSON a payer's app signs: its
// strict decoding from the exact signed bytes, its hash, its signature, and
// the one rule check every node that handles it calls (the co-op gateway
// that takes it from the member, the hubs that route it, the co-op that is
// paid). It is pure: time comes in, and it imports only money and identity.
package payment
