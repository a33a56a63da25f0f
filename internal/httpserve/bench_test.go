package httpserve

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"

	"github.com/icn-coop/icn/internal/proccpu"
)

// BenchmarkRequest is the floor of one wallet request on loopback: a
// keep-alive POST of a signed intent's size (700 bytes, a bearer token)
// through New and LimitBody to a handler that reads it and answers 300
// bytes of JSON, as the gateway's payment route does without its work. It
// reports the CPU time of client and server per request (docs/BENCHMARKS.md,
// "The design's floor").
func BenchmarkRequest(b *testing.B) {
	answer := bytes.Repeat([]byte{'a'}, 300)
	h := LimitBody(16<<10, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	procs := runtime.GOMAXPROCS(0)
	for _, per := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", per*procs), func(b *testing.B) {
			url := "http://" + serve(b, h, Limits{}) + "/v1/payments"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: per * procs}}
			defer client.CloseIdleConnections()
			body := bytes.Repeat([]byte{'b'}, 700)
			b.SetParallelism(per)
			meter := proccpu.Start()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkaWQ6a2V5In0.c2lnbmF0dXJl")
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || n != int64(len(answer)) {
						b.Errorf("answer %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
			if us, ok := meter.PerOp(b.N); ok {
				b.ReportMetric(us, "cpu-µs/request")
			}
		})
	}
}
