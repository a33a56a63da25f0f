package cluster

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkPropose: 200-byte commands proposed by parallel callers on the
// leader of a 3-node cluster on 127.0.0.1 (raft-boltdb on disk, TLS).
func BenchmarkPropose(b *testing.B) {
	tc := newCluster(b, 3, nil)
	l := tc.leader()
	before, _ := l.sm.counts()
	pad := make([]byte, 190)
	var seq atomic.Int64
	b.SetParallelism(32) // 32 × GOMAXPROCS proposers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cmd := fmt.Appendf(nil, "%010d", seq.Add(1))
			if _, err := l.c.Propose(b.Context(), append(cmd, pad...)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	after, _ := l.sm.counts()
	b.ReportMetric(float64(b.N)/float64(max(after-before, 1)), "cmds/entry")
}
