package main

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/devfed"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

// TestDevCommand runs the README's main command as a real process: icn dev
// writes dev.json, its gateways answer, a demo member can log in and pay,
// and SIGTERM stops it cleanly with exit status 0.
func TestDevCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the icn binary")
	}
	bin := filepath.Join(t.TempDir(), "icn")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	cmd := exec.Command(bin, "dev", "--data", data)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	manifest := filepath.Join(data, devfed.ManifestFile)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(manifest); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("icn dev exited early: %v\n%s", err, stdout.String())
		case <-time.After(50 * time.Millisecond): // polling a file the child writes
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dev.json after 60s\n%s", stdout.String())
		}
	}
	m, err := devfed.LoadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Coops) != 3 || len(m.Coops[0].Members) < 2 || len(m.Hubs) != 3 {
		b, _ := json.Marshal(m)
		t.Fatalf("manifest lacks co-ops or members: %s", b)
	}
	for _, c := range m.Coops {
		resp, err := http.Get(c.GatewayURL + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s /readyz: %v %v", c.ID, err, resp)
		}
		resp.Body.Close()
	}
	a := m.Coops[0]
	key, err := keyfile.Read(a.Members[0].KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := client.New(a.GatewayURL).Login(ctx, key, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Pay(ctx, client.PaymentIntent{To: a.Members[1].DID, Amount: "1.25", Memo: "dev test"}, key)
	if err != nil || res.Status != "committed" {
		t.Fatalf("pay: %+v %v", res, err)
	}
	bal, err := s.Balance(ctx, a.ID, key.DID(), "hours")
	if err != nil || bal.Balance != "48.75" {
		t.Fatalf("balance after welcome credit 50.00 and paying 1.25: %+v %v", bal, err)
	}

	checkDevHub(t, m)

	// Across regions: coop-a (region 1) → parent → coop-c (region 2). The
	// regions announce their co-ops to the parent once linked; until then
	// the answer is unknown_coop, and nothing moves.
	c := m.Coops[2]
	var last *client.PaymentResult
	deadline = time.Now().Add(30 * time.Second)
	for last == nil || last.Status != "committed" {
		if time.Now().After(deadline) {
			t.Fatalf("cross-region payment: %+v", last)
		}
		if last, err = s.Pay(ctx, client.PaymentIntent{To: c.Members[0].DID, ToCoop: c.ID, Amount: "2.00"}, key); err != nil {
			t.Fatal(err)
		}
	}
	if bal, err = s.Balance(ctx, a.ID, key.DID(), "hours"); err != nil || bal.Balance != "46.75" {
		t.Fatalf("balance after a cross-region 2.00: %+v %v", bal, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("icn dev exit after SIGTERM: %v\n%s", err, stdout.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("icn dev did not stop within 30s of SIGTERM")
	}
	if !bytes.Contains(stdout.Bytes(), []byte("stopped")) {
		t.Fatalf("no clean-stop message:\n%s", stdout.String())
	}
}

// checkDevHub asks a follower-or-leader node of region 1's hub cluster, as
// the operator, for the participants: the co-ops of region 1 are
// registered.
func checkDevHub(t *testing.T, m *devfed.Manifest) {
	t.Helper()
	if m.Hub == nil || len(m.Hub.Nodes) != 3 {
		t.Fatalf("manifest names no 3-node hub cluster: %+v", m.Hub)
	}
	op, err := keyfile.Read(m.Hub.OperatorKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	n := m.Hub.Nodes[2]
	tlsCfg, err := identity.TLSConfig(op, identity.Pin(n.DID))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(n.GRPC, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := icnv1.NewFederationServiceClient(cc).ListParticipants(ctx, &icnv1.ListParticipantsRequest{})
	if err != nil {
		t.Fatalf("list participants: %v", err)
	}
	got := map[string]bool{}
	for _, p := range resp.GetParticipants() {
		got[p.GetDid()] = true
	}
	for _, c := range m.Coops {
		if c.Federation != m.Hub.FederationDID {
			continue // another region's
		}
		if !got[string(c.DID)] {
			t.Errorf("co-op %s (%s) is not registered at the hub", c.ID, c.DID)
		}
	}
}
