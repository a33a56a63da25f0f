package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// runBench runs `icn bench <sub> args...` and returns its standard output.
func runBench(t *testing.T, sub string, args ...string) (stdout string, err error) {
	t.Helper()
	cmd := newBenchCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{sub}, args...))
	err = cmd.Execute()
	if testing.Verbose() {
		t.Logf("stderr:\n%s", errOut.String())
	}
	return out.String(), err
}

func runBenchScale(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runBench(t, "scale", args...)
}

func TestBenchScaleJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node hub cluster, registers 200 co-ops and loads it twice for two seconds")
	}
	out, err := runBenchScale(t, "--coops", "200", "--small", "5", "--duration", "2s", "--warmup", "300ms", "--clients", "8", "--json")
	if err != nil {
		t.Fatalf("icn bench scale: %v\n%s", err, out)
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
	for _, k := range []string{"nodes", "clients", "duration_s", "prepare_p50_ratio", "prepare_p99_ratio",
		"payments_per_s_ratio", "heap_per_coop_node_bytes", "snapshot_per_coop_bytes", "go_version", "gomaxprocs"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	for size, want := range map[string]float64{"small": 5, "large": 200} {
		p, _ := r[size].(map[string]any)
		num := func(k string) float64 {
			v, ok := p[k].(float64)
			if !ok {
				t.Errorf("%s lacks the number %q: %s", size, k, out)
			}
			return v
		}
		if num("coops") != want || num("trust_edges") != 2*want {
			t.Errorf("%s: coops or trust edges: %s", size, out)
		}
		if num("payments") <= 0 || num("payments_per_s") <= 0 || num("errors") != 0 {
			t.Errorf("%s: no payments or errors: %s", size, out)
		}
		if num("prepare_p50_ms") <= 0 || num("prepare_p99_ms") < num("prepare_p50_ms") || num("payment_p50_ms") < num("prepare_p50_ms") {
			t.Errorf("%s: implausible latencies: %s", size, out)
		}
		if num("heap_inuse_mib") <= 0 || num("rss_mib") < num("heap_inuse_mib") {
			t.Errorf("%s: implausible memory: %s", size, out)
		}
		if num("rss_anon_mib") <= 0 || num("rss_file_mib") < 0 {
			t.Errorf("%s: implausible RSS split: %s", size, out)
		}
		num("register_s")
		for _, when := range []string{"snapshot_registered", "snapshot_loaded"} {
			snap, _ := p[when].(map[string]any)
			if snap["bytes"].(float64) <= 0 || snap["index"].(float64) <= 0 || snap["ms"].(float64) <= 0 || snap["restore_ms"].(float64) <= 0 {
				t.Errorf("%s %s: snapshot or restore not measured: %s", size, when, out)
			}
			if ok, _ := snap["hash_ok"].(bool); !ok {
				t.Errorf("%s %s: the restored state hash differs from the leader's: %s", size, when, out)
			}
		}
		reg, _ := p["snapshot_registered"].(map[string]any)
		loaded, _ := p["snapshot_loaded"].(map[string]any)
		if loaded["transfers"].(float64) < reg["transfers"].(float64)+num("payments") {
			t.Errorf("%s: the snapshot after traffic holds fewer transfers than were paid: %s", size, out)
		}
		if ok, _ := p["converged"].(bool); !ok {
			t.Errorf("%s: nodes did not converge: %s", size, out)
		}
	}
	small, _ := r["small"].(map[string]any)
	large, _ := r["large"].(map[string]any)
	index := func(p map[string]any, when string) float64 { return p[when].(map[string]any)["index"].(float64) }
	if !(index(small, "snapshot_registered") < index(small, "snapshot_loaded") &&
		index(small, "snapshot_loaded") < index(large, "snapshot_registered") &&
		index(large, "snapshot_registered") < index(large, "snapshot_loaded")) {
		t.Errorf("the snapshots are not in order: %s", out)
	}
}

func TestBenchScaleTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node hub cluster")
	}
	out, err := runBenchScale(t, "--coops", "30", "--small", "3", "--duration", "2s", "--warmup", "300ms", "--clients", "4")
	if err != nil {
		t.Fatalf("icn bench scale: %v\n%s", err, out)
	}
	for _, want := range []string{"co-ops", "payments/s", "prepare p50 (ms)", "prepare p99 (ms)", "Go heap in use (MiB)",
		"RSS (MiB)", "size (KiB)", "snapshot time (ms)", "restore time (ms)", "transfers held", "per added co-op"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "restored hash equal") || strings.Contains(out, "false") {
		t.Errorf("restore hash check not reported as passed:\n%s", out)
	}
}

func TestBenchScaleFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--small", "1"}, "--small"},
		{[]string{"--small", "20", "--coops", "20"}, "--coops"},
		{[]string{"--clients", "0"}, "--clients"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--warmup", "-1s"}, "--warmup"},
	} {
		_, err := runBenchScale(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
