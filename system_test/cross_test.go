package systest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// coopProc is one `icn coop` process peering with the hub cluster; its
// admin is the payer and payee of the test's payments.
type coopProc struct {
	id       string
	key      *identity.Key // the node's key (its participant DID)
	admin    *identity.Key
	url      string
	cmd      *exec.Cmd
	waitDone chan struct{}
	logs     strings.Builder
	mu       sync.Mutex
}

func (p *coopProc) log() string { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.String() }

// startCoop writes coop.toml for co-op id (peering with c's nodes) and
// starts `icn coop`.
func startCoop(t *testing.T, c *hubCluster, id string) *coopProc {
	t.Helper()
	dir := t.TempDir()
	p := &coopProc{id: id, key: genKey(t), admin: genKey(t), url: "http://" + freePort(t)}
	if err := keyfile.Write(filepath.Join(dir, "node.key"), p.key); err != nil {
		t.Fatal(err)
	}
	var hubs strings.Builder
	for _, h := range c.procs {
		fmt.Fprintf(&hubs, "[[hub.nodes]]\ndid = %q\naddr = %q\n\n", h.key.DID(), h.data)
	}
	body := fmt.Sprintf(`coop_id = %q
data_dir = %q
admin = %q

[gateway]
listen = %q

[gateway.rate_limits]
per_did = 100000
per_did_burst = 100000
per_ip = 100000
per_ip_burst = 100000

[[currencies]]
code = "hours"
scale = 2
default_credit_limit = "1000.00"

[hub]
federation = %q

%s
[log]
level = "warn"
`, id, dir, p.admin.DID(), strings.TrimPrefix(p.url, "http://"), c.fed.DID(), hubs.String())
	cfg := filepath.Join(dir, "coop.toml")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(icnBin, "coop", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = &lockedWriter{b: &p.logs, mu: &p.mu}, &lockedWriter{b: &p.logs, mu: &p.mu}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.waitDone = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.waitDone) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.waitDone
		if t.Failed() {
			t.Logf("%s log:\n%s", id, p.log())
		}
	})
	waitFor(t, 30*time.Second, id+" ready", func() bool {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// registerCoop makes the co-op a participant with trust both ways and a cap.
func (c *hubCluster) registerCoop(ctx context.Context, p *coopProc, leader int) {
	c.t.Helper()
	cc := c.conn(leader)
	if _, err := icnv1.NewFederationServiceClient(cc).RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{
		Did: string(p.key.DID()), Name: p.id, Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP}); err != nil {
		c.t.Fatalf("register %s: %v", p.id, err)
	}
	for _, pair := range [][2]*identity.Key{{c.fed, p.key}, {p.key, c.fed}} {
		s, err := trust.Sign(pair[0], trust.Attestation{From: pair[0].DID(), To: pair[1].DID(), Weight: trust.One, IssuedAt: time.Now().UnixNano()})
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := icnv1.NewTrustServiceClient(cc).SetTrust(ctx, &icnv1.SetTrustRequest{Attestation: &icnv1.SignedMessage{
			Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}); err != nil {
			c.t.Fatalf("trust %s: %v", p.id, err)
		}
	}
	if _, err := icnv1.NewCreditServiceClient(cc).SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{
		Did: string(p.key.DID()), Currency: "hours", DebitCap: "100000.00"}); err != nil {
		c.t.Fatalf("cap %s: %v", p.id, err)
	}
}

// hubNet is the co-op's net position at the hub, read from node i.
func (c *hubCluster) hubNet(ctx context.Context, i int, did identity.DID) (money.Amount, error) {
	resp, err := icnv1.NewCreditServiceClient(c.conn(i)).GetCreditPolicy(ctx, &icnv1.GetCreditPolicyRequest{Did: string(did)})
	if err != nil {
		return money.Amount{}, err
	}
	for _, p := range resp.GetPolicies() {
		if p.GetCurrency() == "hours" {
			return money.Parse(p.GetNet(), money.Hours)
		}
	}
	return money.Amount{}, fmt.Errorf("no hours policy")
}

// TestCrossCoopProcessesSurviveHubLeaderKill runs three `icn hub` and two
// `icn coop` processes on 127.0.0.1, streams cross-co-op payments both ways
// through the wallet API, and SIGKILLs the hub leader mid-stream: the co-op
// nodes find the new leader, every payment ends committed or rejected on
// both sides alike, and each admin's balance equals its co-op's position at
// the hub (the co-op ledgers and the hub agree to the cent).
func TestCrossCoopProcessesSurviveHubLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := newHubCluster(t, 3, "")
	li := c.leader([]int{0, 1, 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	coops := []*coopProc{startCoop(t, c, "coop-a"), startCoop(t, c, "coop-b")}
	for _, p := range coops {
		c.registerCoop(ctx, p, li)
	}
	var sess [2]*client.Session
	for i, p := range coops {
		s, err := client.New(p.url).Login(ctx, p.admin, p.id)
		if err != nil {
			t.Fatalf("login %s: %v", p.id, err)
		}
		sess[i] = s
	}
	pay := func(from int) (*client.PaymentResult, error) {
		return sess[from].Pay(ctx, client.PaymentIntent{To: coops[1-from].admin.DID(), ToCoop: coops[1-from].id, Amount: "0.01",
			ExpiresAt: client.FormatTime(time.Now().Add(20 * time.Second))}, coops[from].admin)
	}
	// The co-op nodes connect (with backoff) once registered.
	waitFor(t, 60*time.Second, "a first cross-co-op payment", func() bool {
		r, err := pay(0)
		return err == nil && r.Status == "committed"
	})

	type told struct {
		id, status string
		from       int
	}
	var (
		mu      sync.Mutex
		answers []told
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(from int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := pay(from)
				if err != nil {
					continue
				}
				mu.Lock()
				answers = append(answers, told{r.ID, r.Status, from})
				mu.Unlock()
			}
		}(w % 2)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(answers) }
	waitFor(t, 30*time.Second, "payments before the kill", func() bool { return count() >= 40 })
	c.procs[li].kill()
	alive := []int{}
	for i := range c.procs {
		if i != li {
			alive = append(alive, i)
		}
	}
	nl := c.leader(alive)
	before := count()
	waitFor(t, 60*time.Second, "payments after the kill", func() bool { return count() >= before+40 })
	close(stop)
	wg.Wait()

	// Every answered payment ends the same on both sides; none stays pending.
	status := func(side int, id string) string {
		r, err := sess[side].PaymentStatus(ctx, coops[side].id, id)
		if err != nil {
			return "missing"
		}
		return r.Status
	}
	mu.Lock()
	all := append([]told(nil), answers...)
	mu.Unlock()
	committed := 0
	for _, a := range all {
		var payer, payee string
		waitFor(t, 60*time.Second, "payment "+a.id+" decided on both sides", func() bool {
			payer, payee = status(a.from, a.id), status(1-a.from, a.id)
			return payer != "pending" && payee != "pending"
		})
		switch {
		case payer == "committed" && payee != "committed":
			t.Fatalf("%s committed at the payer only (payee %s)", a.id, payee)
		case payer != "committed" && payee == "committed":
			t.Fatalf("%s committed at the payee only (payer %s)", a.id, payer)
		case a.status == "committed" && payer != "committed":
			t.Fatalf("%s: the payer was told committed, its ledger says %s", a.id, payer)
		case a.status == "rejected" && payer != "rejected":
			t.Fatalf("%s: the payer was told rejected, its ledger says %s", a.id, payer)
		}
		if payer == "committed" {
			committed++
		}
	}
	// Money is conserved: each admin's balance (its co-op's only member) is
	// its co-op's position at the hub, and the positions sum to zero.
	var sum int64
	for i, p := range coops {
		var bal *client.Balance
		var net money.Amount
		waitFor(t, 30*time.Second, p.id+" balance equal to its hub position", func() bool {
			var err error
			if bal, err = sess[i].Balance(ctx, p.id, p.admin.DID(), "hours"); err != nil {
				return false
			}
			if net, err = c.hubNet(ctx, nl, p.key.DID()); err != nil {
				return false
			}
			return bal.Balance == net.String()
		})
		sum += net.Units()
	}
	if sum != 0 {
		t.Fatalf("hub positions sum to %d units", sum)
	}
	t.Logf("%d payments answered (%d committed); hub leader %d killed, %d leads", len(all), committed, li, nl)
}
