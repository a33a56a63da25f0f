// Package proccpu reads the CPU time this process has used, for the
// benchmarks that report CPU per operation beside wall time.
package proccpu

import "time"

// Meter is the process's CPU time at a start, for CPU per operation.
type Meter struct {
	t0 time.Duration
	ok bool
}

// Start reads the process's CPU time now.
func Start() Meter {
	t0, ok := Used()
	return Meter{t0: t0, ok: ok}
}

// PerOp is the CPU time used since Start divided by n, in microseconds, and
// whether this platform reports it.
func (m Meter) PerOp(n int) (float64, bool) {
	t1, ok := Used()
	if !m.ok || !ok || n <= 0 {
		return 0, false
	}
	return float64((t1 - m.t0).Nanoseconds()) / 1e3 / float64(n), true
}
