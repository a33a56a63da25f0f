package main

import "testing"

func TestBenchDirectoryJSON(t *testing.T) {
	v := decodeJSON(t, mustICN(t, "bench", "directory", "--federations", "40", "--national", "3", "--sector", "2",
		"--coops", "4000", "--payments", "2000", "--dht-nodes", "12", "--records", "10", "--lookups", "20", "--json"))
	if v["payments"] != float64(2000) || v["hub_hops_max"].(float64) > 4 || v["lookup_failures"] != float64(0) {
		t.Fatalf("bench directory: %v", v)
	}
	for _, k := range []string{"lookup_p50_ms", "lookup_p99_ms", "queries_per_lookup_p50", "setup_seconds", "heap_mb_per_node"} {
		if _, ok := v[k].(float64); !ok {
			t.Errorf("bench directory --json: %s missing or not a number in %v", k, v)
		}
	}
	wantContains(t, "table", mustICN(t, "bench", "directory", "--federations", "20", "--national", "3", "--sector", "2", "--coops", "200", "--payments", "100", "--dht-nodes", "0"),
		"hub hops per payment", "target ≤ 4")
	m := decodeJSON(t, mustICN(t, "bench", "directory", "--federations", "40", "--national", "3", "--sector", "2",
		"--coops", "4000", "--payments", "100", "--records", "10", "--lookups", "20", "--model-validate", "10", "--model-nodes", "30", "--json")) // the model is the default
	model, ok := m["model"].(map[string]any)
	if !ok || len(model["validations"].([]any)) != 1 || len(model["runs"].([]any)) != 1 {
		t.Fatalf("bench directory --model: %v", m)
	}
	if run := model["runs"].([]any)[0].(map[string]any); run["nodes"] != float64(30) || run["failures"] != float64(0) || run["lookup_p99_ms"].(float64) <= 0 {
		t.Fatalf("bench directory --model: run %v", run)
	}
	wantContains(t, "table", mustICN(t, "bench", "directory", "--federations", "20", "--national", "3", "--sector", "2", "--coops", "200",
		"--payments", "10", "--records", "5", "--lookups", "10", "--model", "--model-validate", "8", "--model-nodes", "20"),
		"validation, 8 nodes", "model, 20 nodes", "target ≤ 50 ms")
	if _, err := runICN(t, "bench", "directory", "--national", "0", "--dht-nodes", "0"); err == nil {
		t.Fatal("a tree without a national federation accepted")
	}
	if _, err := runICN(t, "bench", "directory", "--model", "--dht-nodes", "12"); err == nil {
		t.Fatal("--model with --dht-nodes accepted")
	}
}
