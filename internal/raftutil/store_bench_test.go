package raftutil

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/icn-coop/icn/internal/proccpu"
)

// BenchmarkStoreLogs appends batches of 400-byte entries to the log store
// the nodes use, fsync'd as in production, and reports the CPU time (user +
// system) of each append beside its wall time: on a virtual disk the
// kernel's share of an fsync can cost as much CPU as a payment's signatures
// (docs/BENCHMARKS.md).
func BenchmarkStoreLogs(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := OpenLogStore(filepath.Join(b.TempDir(), "raft.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, 400)
			next := uint64(1)
			meter := proccpu.Start()
			for b.Loop() {
				logs := make([]*raft.Log, batch)
				for i := range logs {
					logs[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
			}
			if us, ok := meter.PerOp(b.N); ok {
				b.ReportMetric(us, "cpu-µs/append")
			}
		})
	}
}
