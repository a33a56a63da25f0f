// Package trust holds the federation's directed trust graph of signed attestations, transitive
// trust (the best product of weights along a bounded path), trust classes and class policies.
package trust
