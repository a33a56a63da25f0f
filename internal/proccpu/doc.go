// Package proccpu reads the CPU time this process has used, for the
// benchmarks that report CPU per operation beside wall time.
package proccpu
