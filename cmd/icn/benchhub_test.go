package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func runBenchHub(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runBench(t, "hub", args...)
}

func TestBenchHubJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node hub cluster and loads it for a second")
	}
	out, err := runBenchHub(t, "--duration", "1s", "--warmup", "200ms", "--clients", "16", "--json")
	if err != nil {
		t.Fatalf("icn bench hub: %v\n%s", err, out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var r map[string]any
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("want exactly one JSON object, got more after it: %s (%v)", extra, err)
	}
	for _, k := range []string{"ops_per_s", "transfers_per_s", "p50_ms", "p99_ms", "transfer_p50_ms", "transfer_p99_ms",
		"errors", "commands", "transfers", "batch_commands", "entry_commands", "nodes", "clients", "duration_s",
		"go_version", "gomaxprocs", "converged", "applied_index"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	num := func(k string) float64 { f, _ := r[k].(float64); return f }
	if num("ops_per_s") <= 0 || num("transfers_per_s") <= 0 {
		t.Errorf("no throughput: %s", out)
	}
	if num("errors") != 0 {
		t.Errorf("errors: %s", out)
	}
	if num("p50_ms") <= 0 || num("p99_ms") < num("p50_ms") || num("transfer_p50_ms") < num("p50_ms") {
		t.Errorf("implausible latencies: %s", out)
	}
	if num("nodes") != 3 || num("clients") != 16 || num("duration_s") != 1 {
		t.Errorf("nodes, clients or duration: %s", out)
	}
	if num("batch_commands") < 1 || num("entry_commands") < 1 {
		t.Errorf("batch sizes: %s", out)
	}
	if c, _ := r["converged"].(bool); !c {
		t.Errorf("nodes did not converge: %s", out)
	}
	if idx, _ := r["applied_index"].([]any); len(idx) != 3 {
		t.Errorf("applied_index: %s", out)
	}
}

func TestBenchHubFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--clients", "0"}, "--clients"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--warmup", "-1s"}, "--warmup"},
		{[]string{"--coops", "1"}, "--coops"},
		{[]string{"--nodes", "0"}, "--nodes"},
		{[]string{"--max-batch", "-1"}, "--max-batch"},
		{[]string{"--ids", "v1"}, "--ids"},
	} {
		_, err := runBenchHub(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
