package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/icn-coop/icn/cmd/icn/internal/peerbench"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

func runBenchPeers(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newBenchCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"peers"}, args...))
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// TestBenchPeersJSON runs the workloads that need no outside server (the
// co-op ledger alone, Ed25519), and etcd and PostgreSQL where they are
// installed, and checks the JSON and that every check ran and passed.
func TestBenchPeersJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a ledger (and etcd and PostgreSQL where installed) for a second each")
	}
	only := []string{"ledger", "crypto"}
	if _, err := peerbench.FindEtcd(""); err == nil {
		only = append(only, "etcd")
	} else {
		t.Logf("etcd not installed, left out: %v", err)
	}
	if _, err := peerbench.FindPostgres(""); err == nil {
		only = append(only, "postgres")
	} else {
		t.Logf("PostgreSQL not installed, left out: %v", err)
	}
	out, errOut, err := runBenchPeers(t, "--only", strings.Join(only, ","), "--rounds", "2", "--duration", "500ms", "--warmup", "100ms",
		"--crypto-duration", "50ms", "--hub-clients", "16", "--coop-clients", "8", "--json")
	if err != nil {
		t.Fatalf("icn bench peers: %v\n%s\n%s", err, out, errOut)
	}
	var r benchPeersResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if r.Bench != "peers" || len(r.Ledger) != 2 || len(r.Ed25519) != 2 || r.Hub != nil || r.Cross != nil {
		t.Fatalf("workloads: %s", out)
	}
	for _, w := range only {
		if w != "crypto" && r.Checks[w] != "ok" {
			t.Errorf("check of %s: %q", w, r.Checks[w])
		}
	}
	for i, l := range r.Ledger {
		if l.OpsPerS <= 0 || l.Errors != 0 || l.P99Ms <= 0 || r.Ed25519[i].VerifyPerS <= 0 {
			t.Errorf("figures of round %d: %s", i+1, out)
		}
	}
	var ledgerRow *peersRow
	for i := range r.Rows {
		if strings.HasPrefix(r.Rows[i].Workload, "co-op ledger alone") {
			ledgerRow = &r.Rows[i]
		}
	}
	if ledgerRow == nil || ledgerRow.ICNOpsPerS != round2((r.Ledger[0].OpsPerS+r.Ledger[1].OpsPerS)/2) {
		t.Fatalf("no ledger row with the median of the rounds: %s", out)
	}
	if r.Postgres != nil {
		want := round2(r.Ledger[0].OpsPerS/r.Postgres[0].OpsPerS*100) / 100
		if len(ledgerRow.Ratios) != 2 || math.Abs(ledgerRow.Ratios[0]-want) > 0.011 || ledgerRow.Ratio <= 0 {
			t.Errorf("ledger row against PostgreSQL: %+v, want a first ratio of %v", ledgerRow, want)
		}
	}
	for _, e := range r.Etcd {
		if e.OpsPerS <= 0 || e.Errors != 0 || e.Transfers == 0 {
			t.Errorf("etcd: %+v", e)
		}
	}
}

func TestBenchPeersFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--only", "mysql"}, "--only"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--coops", "1"}, "--coops"},
		{[]string{"--hub-clients", "0"}, "--hub-clients"},
		{[]string{"--members", "1"}, "--members"},
		{[]string{"--rounds", "0"}, "--rounds"},
		{[]string{"--only", "etcd", "--etcd", "/nonexistent/etcd"}, "etcd server not found"},
		{[]string{"--only", "postgres", "--pg-bin", "/nonexistent"}, "postgres server not found"},
	} {
		_, _, err := runBenchPeers(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// TestCheckHubBook runs the hub check on a real cluster after transfers,
// and against a position that no longer sums to zero.
func TestCheckHubBook(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 1-node hub cluster")
	}
	c, err := startBenchCluster(t.TempDir(), 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx := t.Context()
	if err := c.waitLeader(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	coops, err := c.setupCoops(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Two transfers committed, one left prepared.
	for i, commit := range []bool{true, true, false} {
		id := uuid.NewString()
		prep := &icnv1.Command{Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: &icnv1.PrepareTransfer{
			Id: id, From: string(coops[i]), To: string(coops[(i+1)%3]), Currency: "hours", AmountUnits: 1,
			ExpiresAtUnixNano: 1 << 62}}}
		if res, err := c.propose(ctx, prep); err != nil || res.GetErrorCode() != "" {
			t.Fatalf("prepare: %v %v", res, err)
		}
		if commit {
			if res, err := c.propose(ctx, &icnv1.Command{Cmd: &icnv1.Command_CommitTransfer{CommitTransfer: &icnv1.CommitTransfer{Id: id}}}); err != nil || res.GetErrorCode() != "" {
				t.Fatalf("commit: %v %v", res, err)
			}
		}
	}
	if err := checkHubBook(c, benchHubCap); err != nil {
		t.Errorf("check of a sound hub: %v", err)
	}
	// A cap lower than the one the co-ops have is reported.
	if err := checkHubBook(c, 10); err == nil || !strings.Contains(err.Error(), "has a cap of") {
		t.Errorf("check with a lower cap: %v", err)
	}
}
