package routing_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/proccpu"
	"github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// BenchmarkCall is the data plane's floor per message exchange: concurrent
// Calls over one real QUIC connection on loopback, each a stream carrying a
// prepare-sized request (a 600-byte intent) and its answer, as a co-op's
// prepare to the hub or the hub's delivery to the payee is. It reports the
// CPU time of both ends per call (docs/BENCHMARKS.md, "The design's floor").
func BenchmarkCall(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, per := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", per*procs), func(b *testing.B) {
			hub, coop := testKey(b, 1), testKey(b, 2)
			srv := startServer(b, "127.0.0.1:0", hub, identity.Pin(coop.DID()), hubOpts(), answerPrepare)
			ctx := ctxTimeout(b, time.Minute)
			c, err := routing.Dial(ctx, srv.addr(), coop, hub.DID(), coopOpts())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := &icnv1.Envelope{Body: &icnv1.Envelope_Prepare{Prepare: &icnv1.TransferPrepare{
				TransferId: "0193a3f2-7c1e-7d2a-9b1c-5f3e2a1b0c9d", Intent: &icnv1.SignedMessage{Payload: bytes.Repeat([]byte{'i'}, 500), Signer: string(coop.DID()), Signature: bytes.Repeat([]byte{'s'}, 64)},
				FromCoop: string(coop.DID()), ToCoop: string(hub.DID()), Currency: "hours", AmountUnits: 100,
				ExpiresAtUnixNano: time.Now().Add(time.Hour).UnixNano()}}}
			b.SetParallelism(per)
			meter := proccpu.Start()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var resp icnv1.Envelope
					if err := c.Call(ctx, req, &resp); err != nil || resp.GetAccept() == nil {
						b.Errorf("call: %v (answer %v)", err, resp.GetBody())
						return
					}
				}
			})
			if us, ok := meter.PerOp(b.N); ok {
				b.ReportMetric(us, "cpu-µs/call")
			}
		})
	}
}

// answerPrepare answers a prepare with an accept carrying a receipt-sized
// signature, unchecked: the benchmark measures the transport.
func answerPrepare(s *routing.Stream) {
	var req icnv1.Envelope
	if err := s.Recv(&req); err != nil {
		s.Abort()
		return
	}
	_ = s.Send(&icnv1.Envelope{Body: &icnv1.Envelope_Accept{Accept: &icnv1.TransferAccept{
		TransferId: req.GetPrepare().GetTransferId(), Receipt: &icnv1.SignedMessage{
			Payload: bytes.Repeat([]byte{'r'}, 200), Signature: bytes.Repeat([]byte{'s'}, 64)}}}})
}
