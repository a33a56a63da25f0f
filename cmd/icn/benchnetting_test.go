package main

import "testing"

func TestBenchNettingJSON(t *testing.T) {
	v := decodeJSON(t, mustICN(t, "bench", "netting", "--transfers", "3000", "--coops", "30", "--runs", "3", "--json"))
	for _, k := range []string{"ops_per_s", "p50_ms", "p99_ms", "report_ops_per_s", "report_p50_ms", "report_p99_ms", "errors", "instructions"} {
		if _, ok := v[k].(float64); !ok {
			t.Errorf("bench netting --json: %s missing or not a number in %v", k, v)
		}
	}
	if v["errors"] != float64(0) || v["gomaxprocs"] != float64(1) || v["transfers"] != float64(3000) {
		t.Fatalf("bench netting: %v", v)
	}
	if n := v["instructions"].(float64); n < 1 || n > 29 {
		t.Fatalf("instructions %v for 30 co-ops", n)
	}
	wantContains(t, "table", mustICN(t, "bench", "netting", "--transfers", "500", "--coops", "5", "--runs", "1"), "net + instructions", "Merkle")
	if _, err := runICN(t, "bench", "netting", "--coops", "1"); err == nil {
		t.Fatal("one co-op accepted")
	}
}
