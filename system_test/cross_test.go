package systest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	proc
	id    string
	key   *identity.Key // the node's key (its participant DID)
	admin *identity.Key
	url   string
	// urls are every gateway of a replicated co-op (nil: url alone).
	urls []string
	cfg  string
}

// gateways are the co-op's gateway URLs.
func (p *coopProc) gateways() []string {
	if len(p.urls) > 0 {
		return p.urls
	}
	return []string{p.url}
}

// startCoop writes coop.toml for co-op id (peering with c's nodes) and
// starts `icn coop` on 127.0.0.1.
func startCoop(t *testing.T, c *hubCluster, id string) *coopProc {
	t.Helper()
	return startCoopOn(t, c, id, nil)
}

// startCoopOn starts co-op id on node (nil: 127.0.0.1) and waits until it
// is ready.
func startCoopOn(t *testing.T, c *hubCluster, id string, node *labNode) *coopProc {
	t.Helper()
	dir := t.TempDir()
	p := &coopProc{proc: proc{t: t, node: node}, id: id, key: genKey(t), admin: genKey(t)}
	listen, plain := freePort(t), ""
	if node != nil { // a test's private network: no TLS in front
		listen, plain = node.host()+":7104", "plain_http = true"
	}
	p.url = "http://" + listen
	if err := keyfile.Write(filepath.Join(dir, "node.key"), p.key); err != nil {
		t.Fatal(err)
	}
	body := coopTOML(c, id, dir, p.admin.DID(), listen, plain, "")
	p.cfg = filepath.Join(dir, "coop.toml")
	p.args = []string{"coop", "--config", p.cfg}
	if err := os.WriteFile(p.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p.launch(id)
	p.waitReady()
	return p
}

func (p *coopProc) waitReady() {
	p.t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	waitFor(p.t, 30*time.Second, p.id+" ready", func() bool {
		resp, err := hc.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// coopTOML is the coop.toml of a system test's co-op node peering with c's
// hub nodes: gatewayExtra goes in [gateway], extra before [log].
func coopTOML(c *hubCluster, id, dir string, admin identity.DID, listen, gatewayExtra, extra string) string {
	var hubs strings.Builder
	for _, h := range c.procs {
		fmt.Fprintf(&hubs, "[[hub.nodes]]\ndid = %q\naddr = %q\n\n", h.key.DID(), h.data)
	}
	return fmt.Sprintf(`coop_id = %q
data_dir = %q
admin = %q

[gateway]
listen = %q
%s

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
%s
[log]
level = "warn"
`, id, dir, admin, listen, gatewayExtra, c.fed.DID(), hubs.String(), extra)
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
// both sides alike, and each co-op's members' balances sum to its position
// at the hub (the co-op ledgers and the hub agree to the cent). The payers'
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
	load := newCrossLoad(ctx, t, c, coops, li)
	load.start()
	waitFor(t, 30*time.Second, "payments before the kill", func() bool { return load.count() >= 40 })
	c.procs[li].kill()
	alive := []int{}
	for i := range c.procs {
		if i != li {
			alive = append(alive, i)
		}
	}
	nl := c.leader(alive)
	before := load.count()
	waitFor(t, 60*time.Second, "payments after the kill", func() bool { return load.count() >= before+40 })
	load.stop()
	answered, committed := load.verify(nl)
	t.Logf("%d payments answered (%d committed); hub leader %d killed, %d leads", answered, committed, li, nl)
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
