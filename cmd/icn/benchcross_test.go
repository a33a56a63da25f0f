package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestBenchCrossJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node hub cluster and two co-op nodes and loads them for a second")
	}
	cmd := newBenchCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"cross", "--duration", "1s", "--warmup", "200ms", "--clients", "8", "--members", "4", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("icn bench cross: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	dec := json.NewDecoder(strings.NewReader(out.String()))
	var r map[string]any
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("want exactly one JSON object, got more: %s (%v)", extra, err)
	}
	num := func(k string) float64 { f, _ := r[k].(float64); return f }
	for _, k := range []string{"ops_per_s", "p50_ms", "p99_ms", "errors", "verifications_per_payment"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out.String())
		}
	}
	if r["bench"] != "cross" || num("ops_per_s") <= 0 || num("errors") != 0 || num("verifications_per_payment") != 4 {
		t.Errorf("result: %s", out.String())
	}
	if num("p50_ms") <= 0 || num("p99_ms") < num("p50_ms") {
		t.Errorf("implausible latencies: %s", out.String())
	}
}
