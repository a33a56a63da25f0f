package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// icn bench coop --replicas 3 measures the single node and the
// replicated co-op in alternating windows and reports each round and the
// median ratio.
func TestBenchCoopReplicasJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a single co-op node, then three replicated ones, and loads each for 2s")
	}
	out, err := runBench(t, "coop", "--replicas", "3", "--duration", "1s", "--warmup", "200ms", "--clients", "8", "--rounds", "2", "--json")
	if err != nil {
		t.Fatalf("icn bench coop --replicas 3: %v\n%s", err, out)
	}
	var r benchReplicasResult
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if r.Replicas != 3 || r.Single.OK == 0 || r.Replicated.OK == 0 || r.Ratio <= 0 ||
		r.Single.Gateway == r.Replicated.Gateway {
		t.Fatalf("result: %+v", r)
	}
	if len(r.Rounds) != 2 {
		t.Fatalf("%d rounds, want 2", len(r.Rounds))
	}
	for i, rd := range r.Rounds {
		if rd.SingleOpsPerS <= 0 || rd.ReplicatedOpsPerS <= 0 || rd.Ratio != rd.ReplicatedOpsPerS/rd.SingleOpsPerS {
			t.Fatalf("round %d: %+v", i, rd)
		}
	}
	if r.Ratio != r.Rounds[0].Ratio && r.Ratio != r.Rounds[1].Ratio {
		t.Fatalf("ratio %v is neither round's: %+v", r.Ratio, r.Rounds)
	}
	if _, err := runBench(t, "coop", "--replicas", "3", "--dev", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--dev") {
		t.Fatalf("--replicas with --dev: %v, want a refusal naming --dev", err)
	}
}
