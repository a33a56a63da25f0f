// Package trust holds the federation's directed trust graph of signed attestations, transitive
// trust (the best product of weights along a bounded path), trust classes and class policies.
//
// Everything here is pure and deterministic: the hub's replicated state machine calls it, so
// results never depend on map iteration order, on the order edges were interned, or on a clock.
package trust
