package ledger

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/internal/proccpu"
	"github.com/icn-coop/icn/money"
)

// benchStore opens a ledger with real fsyncs (unless noSync) and members whose
// limits never reject a benchmark payment.
func benchStore(b *testing.B, noSync bool, members int) (*Store, []Account) {
	b.Helper()
	opts := testOptions(filepath.Join(b.TempDir(), "bench.db"))
	opts.NoSync = noSync
	opts.Clock = time.Now
	opts.DefaultLimits = map[string]money.Amount{money.Hours.Code: hours(math.MaxInt64 / 4)}
	s := mustOpen(b, opts)
	return s, memberDIDs(b, 1234, members)
}

var benchIDs atomic.Uint64

func benchTransfer(accts []Account, n uint64) Transfer {
	k := uint64(len(accts))
	return Transfer{
		ID:   fmt.Sprintf("b%d", benchIDs.Add(1)),
		From: accts[n%k], To: accts[(n+1+(n/k)%(k-1))%k], Amount: hours(int64(1 + n%500)),
		CreatedAt: time.Unix(1700000000, 0),
	}
}

// BenchmarkPayParallel: many concurrent writers sharing group commits; the
// CPU per payment is the floor of one ledger write (docs/BENCHMARKS.md).
func BenchmarkPayParallel(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		writers int
		noSync  bool
	}{{64, false}, {256, false}, {256, true}} {
		p := (tc.writers + procs - 1) / procs
		name := fmt.Sprintf("writers=%d", p*procs)
		if tc.noSync {
			name += "/nosync"
		}
		b.Run(name, func(b *testing.B) {
			s, accts := benchStore(b, tc.noSync, 64)
			var batches, ops atomic.Int64
			s.SetCommitHook(func(n int) { batches.Add(1); ops.Add(int64(n)) })
			var ctr atomic.Uint64
			b.SetParallelism(p)
			b.ResetTimer()
			meter := proccpu.Start()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tr := benchTransfer(accts, ctr.Add(1))
					if p, err := s.Pay(bg, tr); err != nil || p.Status != StatusCommitted {
						b.Errorf("pay: %s %v", p.Status, err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
			if us, ok := meter.PerOp(b.N); ok {
				b.ReportMetric(us, "cpu-µs/payment")
			}
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(ops.Load())/float64(n), "ops/batch")
			}
		})
	}
}

// BenchmarkPaySequential: one writer, one fsync'd transaction per payment.
func BenchmarkPaySequential(b *testing.B) {
	s, accts := benchStore(b, false, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Pay(bg, benchTransfer(accts, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
}

// BenchmarkBalance: reading one balance (a bbolt read transaction).
func BenchmarkBalance(b *testing.B) {
	s, accts := benchStore(b, true, 64)
	for i := 0; i < 2000; i++ {
		if _, err := s.Pay(bg, benchTransfer(accts, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Balance(accts[i%len(accts)], money.Hours); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "balances/s")
}
