package systest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// both sides alike, and each co-op's members' balances sum to its position at
// the hub (the co-op ledgers and the hub agree to the cent). The payers'
// payments and balance reads, recorded with their times, are checked for
// linearizability against the ledger model (linearizable_test.go).
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
	var payees [2]*identity.Key
	for i, p := range coops {
		s, err := client.New(p.url).Login(ctx, p.admin, p.id)
		if err != nil {
			t.Fatalf("login %s: %v", p.id, err)
		}
		sess[i] = s
		payees[i] = joinMember(ctx, t, p, s, "payee")
	}
	// Each admin only pays (to the other co-op's payee) and each payee only
	// receives, so an admin's balance is the model's: its own committed
	// payments and nothing else.
	h := newHistory()
	pay := func(from int) (string, string, error) {
		id := client.NewPaymentID()
		call := h.now()
		r, err := sess[from].Pay(ctx, client.PaymentIntent{ID: id, To: payees[1-from].DID(), ToCoop: coops[1-from].id, Amount: "0.01",
			ExpiresAt: client.FormatTime(time.Now().Add(20 * time.Second))}, coops[from].admin)
		st := "unknown"
		if err == nil {
			st = r.Status
		}
		h.paid(from, coops[from].id, id, 1, call, st)
		return id, st, err
	}
	// The co-op nodes connect (with backoff) once registered.
	waitFor(t, 60*time.Second, "a first cross-co-op payment", func() bool {
		_, st, err := pay(0)
		return err == nil && st == "committed"
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
				id, st, err := pay(from)
				if err != nil {
					continue
				}
				mu.Lock()
				answers = append(answers, told{id, st, from})
				mu.Unlock()
			}
		}(w % 2)
	}
	for side := range coops {
		wg.Add(1)
		go func() { // a reader of the admin's balance on each side, every 5 ms
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				call := h.now()
				b, err := sess[side].Balance(ctx, coops[side].id, coops[side].admin.DID(), "hours")
				if err != nil {
					continue
				}
				a, err := money.Parse(b.Balance, money.Hours)
				if err != nil {
					t.Errorf("balance %q: %v", b.Balance, err)
					return
				}
				h.read(2+side, coops[side].id, call, a.Units())
			}
		}()
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
		h.settle(a.id, payer)
		if payer == "committed" {
			committed++
		}
	}
	for id, account := range h.openPayments() { // payments whose request failed: decided, or never made
		from := slices.IndexFunc(coops, func(p *coopProc) bool { return p.id == account })
		var payer string
		waitFor(t, 60*time.Second, "payment "+id+" decided", func() bool {
			payer = status(from, id)
			return payer != "pending"
		})
		h.settle(id, payer)
	}
	h.check(t)
	// Money is conserved: each co-op's members' balances (its admin's and
	// payee's) sum to its position at the hub, and the positions to zero.
	var sum int64
	for i, p := range coops {
		var net money.Amount
		var members int64
		waitFor(t, 30*time.Second, p.id+" balances equal to its hub position", func() bool {
			members = 0
			for _, m := range []identity.DID{p.admin.DID(), payees[i].DID()} {
				b, err := sess[i].Balance(ctx, p.id, m, "hours")
				if err != nil {
					return false
				}
				a, err := money.Parse(b.Balance, money.Hours)
				if err != nil {
					return false
				}
				members += a.Units()
			}
			var err error
			if net, err = c.hubNet(ctx, nl, p.key.DID()); err != nil {
				return false
			}
			return members == net.Units()
		})
		sum += net.Units()
	}
	if sum != 0 {
		t.Fatalf("hub positions sum to %d units", sum)
	}
	t.Logf("%d payments answered (%d committed); hub leader %d killed, %d leads", len(all), committed, li, nl)
}

// joinMember makes a new member name of co-op p (invited and approved by
// its admin's session) and returns its key.
func joinMember(ctx context.Context, t *testing.T, p *coopProc, admin *client.Session, name string) *identity.Key {
	t.Helper()
	k := genKey(t)
	code, err := admin.CreateInvite(ctx, p.id)
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.New(p.url).Login(ctx, k, p.id)
	if err != nil {
		t.Fatalf("log in %s before applying: %v", name, err)
	}
	app, err := s.Apply(ctx, p.id, k, client.Application{InviteCode: code, Name: name, Email: name + "@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Approve(ctx, p.id, app.ID); err != nil {
		t.Fatal(err)
	}
	return k
}
