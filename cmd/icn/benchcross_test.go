package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
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
	if r["bench"] != "cross" || num("ops_per_s") <= 0 || num("errors") != 0 {
		t.Errorf("result: %s", out.String())
	}
	// Measured from the nodes' counters over every payment of the run
	// (warmup, window and the payments in flight at its end). A payment
	// routed once costs exactly four verifications: the payer's gateway
	// checks the intent (with the session's device key, the only key of a
	// bench member), the hub leader the intent and the payee's receipt,
	// the payee co-op the intent. Only a payment routed again costs more
	// (a co-op's reconciler resending a hold whose answer was lost, a hub
	// leader lost mid-transfer), and in this small run on a settled
	// cluster none is; a payment the hub rejects before delivery costs
	// two, and none is. So the count is exact, not a range.
	decided, sigs := num("payments_decided"), num("signature_verifications")
	if decided < num("ok") || sigs != 4*decided || num("verifications_per_payment") != 4 {
		t.Errorf("want 4 verifications for each of at least %v payments decided, got %v for %v: %s", num("ok"), sigs, decided, out.String())
	}
	by, _ := r["verifications_per_payment_by"].(map[string]any)
	want := map[string]float64{"gateway/intent": 1, "dataplane/intent": 1, "dataplane/receipt": 1, "hubpeer/intent": 1}
	if len(by) != len(want) {
		t.Errorf("verifications_per_payment_by = %v, want %v", by, want)
	}
	for k, v := range want {
		if got, _ := by[k].(float64); got != v {
			t.Errorf("verifications_per_payment_by[%q] = %v, want %v", k, by[k], v)
		}
	}
	if num("p50_ms") <= 0 || num("p99_ms") < num("p50_ms") {
		t.Errorf("implausible latencies: %s", out.String())
	}
	// CPU per payment (getrusage over the window): a payment costs at
	// least its four verifications and a signature, tens of µs, and the
	// process cannot have used more than all its cores.
	if us, cores := num("cpu_us_per_payment"), num("cpu_cores"); us < 20 || cores <= 0 || cores > float64(runtime.NumCPU())+0.5 {
		t.Errorf("implausible cpu_us_per_payment %v / cpu_cores %v: %s", us, cores, out.String())
	}
	// Each payment writes two ledger commands on each co-op, some sharing
	// a transaction: between 1/(writes per transaction) and 4 transactions.
	commits, writes := num("ledger_commits_per_payment"), num("ledger_writes_per_commit")
	if commits <= 0 || commits > 4.5 || writes < 1 || commits*writes < 3.5 {
		t.Errorf("implausible ledger_commits_per_payment %v, ledger_writes_per_commit %v: %s", commits, writes, out.String())
	}
}
