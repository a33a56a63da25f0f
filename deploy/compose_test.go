package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// compose drives one docker-compose project of deploy/compose.
type compose struct {
	t       *testing.T
	project string
	env     []string
	cmd     []string // "docker-compose" or "docker compose"
	keys    string   // host copy of the etc volume's keys/
	ports   map[string]string
}

func composeCommand() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	return []string{"docker-compose"}
}

func (c *compose) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(append(append([]string{}, c.cmd[1:]...), "-p", c.project, "-f", "compose/docker-compose.yml"), args...)
	cmd := exec.CommandContext(ctx, c.cmd[0], full...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// container is the id of service's container (running or not).
func (c *compose) container(service string) string {
	c.t.Helper()
	id := docker(c.t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.project, "--filter", "label=com.docker.compose.service="+service)
	if id == "" || strings.Contains(id, "\n") {
		c.t.Fatalf("container of %s: %q", service, id)
	}
	return id
}

func (c *compose) network() string {
	c.t.Helper()
	return docker(c.t, "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+c.project)
}

func (c *compose) key(name string) *identity.Key {
	c.t.Helper()
	k, err := keyfile.Read(filepath.Join(c.keys, name+".key"))
	if err != nil {
		c.t.Fatal(err)
	}
	return k
}

// freePorts returns n TCP ports on 127.0.0.1 free a moment ago.
func freePorts(t *testing.T, n int) []string {
	var out []string
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		out = append(out, p)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// hubConn is an operator connection to one published control plane, pinned
// to the node's DID.
func hubConn(t *testing.T, op *identity.Key, addr string, did identity.DID) *grpc.ClientConn {
	t.Helper()
	cfg, err := identity.TLSConfig(op, identity.Pin(did))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func status(cc *grpc.ClientConn) (*icnv1.ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return icnv1.NewClusterServiceClient(cc).Status(ctx, &icnv1.ClusterStatusRequest{})
}

func signedTrust(t *testing.T, from *identity.Key, to identity.DID) *icnv1.SetTrustRequest {
	t.Helper()
	s, err := trust.Sign(from, trust.Attestation{From: from.DID(), To: to, Weight: trust.One, IssuedAt: time.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	return &icnv1.SetTrustRequest{Attestation: &icnv1.SignedMessage{Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}
}

// admit registers participant p (kind k) at the cluster behind cc, with
// trust both ways (signed by fed and by p's key) and a debit cap.
func admit(t *testing.T, ctx context.Context, cc *grpc.ClientConn, fed, p *identity.Key, name string, kind icnv1.ParticipantKind) {
	t.Helper()
	if _, err := icnv1.NewFederationServiceClient(cc).RegisterParticipant(ctx, &icnv1.RegisterParticipantRequest{
		Did: string(p.DID()), Name: name, Kind: kind, RequestId: "register-" + name}); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	for _, req := range []*icnv1.SetTrustRequest{signedTrust(t, fed, p.DID()), signedTrust(t, p, fed.DID())} {
		if _, err := icnv1.NewTrustServiceClient(cc).SetTrust(ctx, req); err != nil {
			t.Fatalf("trust %s: %v", name, err)
		}
	}
	if _, err := icnv1.NewCreditServiceClient(cc).SetCreditPolicy(ctx, &icnv1.SetCreditPolicyRequest{
		Did: string(p.DID()), Currency: "hours", DebitCap: "100000.00"}); err != nil {
		t.Fatalf("cap %s: %v", name, err)
	}
}

// TestComposeFederation brings deploy/compose up on the Docker Engine from
// the image make image built, admits the co-ops and the region, pays across
// co-ops over HTTPS through the hub cluster while it `docker kill`s the hub
// leader's container (and starts it again) and `docker network disconnect`s
// another hub (and reconnects it), then checks that every payment the
// co-ops acknowledged is committed on both sides, that each co-op's
// clearing account mirrors its position at the hub to the cent, that every
// ledger and the hub's positions sum to zero, and tears it all down.
// make docker-test runs it (ICN_DOCKER_TEST=1); .ci/run does when a Docker
// Engine answers.
func TestComposeFederation(t *testing.T) {
	if os.Getenv("ICN_DOCKER_TEST") != "1" {
		t.Skip("needs the Docker Engine and the image: make docker-test (ICN_DOCKER_TEST=1)")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("ICN_DOCKER_TEST=1 but no Docker Engine answers: %v\n%s", err, out)
	}
	image := os.Getenv("ICN_IMAGE")
	if image == "" {
		image = "icn:dev"
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	suffix := make([]byte, 4)
	rand.Read(suffix)
	p := freePorts(t, 6)
	c := &compose{t: t, project: "icntest" + hex.EncodeToString(suffix), cmd: composeCommand(),
		ports: map[string]string{"hub-1": p[0], "hub-2": p[1], "hub-3": p[2], "parent-1": p[3], "coop-a": p[4], "coop-b": p[5]}}
	c.env = []string{"ICN_IMAGE=" + image, "ICN_RESTART=no",
		"ICN_HUB1_GRPC=" + p[0], "ICN_HUB2_GRPC=" + p[1], "ICN_HUB3_GRPC=" + p[2], "ICN_PARENT_GRPC=" + p[3],
		"ICN_COOP_A_PORT=" + p[4], "ICN_COOP_B_PORT=" + p[5]}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.run(time.Minute, "logs", "--no-color", "--tail", "60")
			t.Logf("compose logs:\n%s", out)
		}
		out, err := c.run(3*time.Minute, "down", "-v", "--remove-orphans", "-t", "3")
		if err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	if out, err := c.run(5*time.Minute, "up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	upAt := time.Since(start)

	// The init step's keys, for the operator's and the members' side.
	etc := t.TempDir()
	docker(t, "cp", c.container("init")+":/etc/icn/keys", etc)
	c.keys = filepath.Join(etc, "keys")
	op, regionFed, parentFed := c.key("operator"), c.key("region-federation"), c.key("parent-federation")
	hubs := []string{"hub-1", "hub-2", "hub-3"}
	hubDID := map[identity.DID]string{}
	conns := map[string]*grpc.ClientConn{}
	for _, h := range append(hubs, "parent-1") {
		k := c.key(h)
		hubDID[k.DID()] = h
		conns[h] = hubConn(t, op, "127.0.0.1:"+c.ports[h], k.DID())
	}
	leaderAmong := func(alive []string) string {
		t.Helper()
		var l string
		testutil.WaitFor(t, 90*time.Second, fmt.Sprintf("a leader among %v", alive), func() bool {
			for _, h := range alive {
				if st, err := status(conns[h]); err == nil && st.GetState() == "leader" && st.GetAppliedIndex() >= st.GetCommitIndex() {
					l = h
					return true
				}
			}
			return false
		})
		return l
	}
	leader := leaderAmong(hubs)
	leaderAmong([]string{"parent-1"})
	clusterUp := time.Since(start)

	// The operators' part: the region and the parent admit each other, the
	// region admits both co-ops (a co-op signs its own trust in the region).
	admit(t, ctx, conns["parent-1"], parentFed, regionFed, "riverside-region", icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION)
	admit(t, ctx, conns[leader], regionFed, parentFed, "national", icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION)
	coopIDs := []string{"coop-a", "coop-b"}
	for _, id := range coopIDs {
		admit(t, ctx, conns[leader], regionFed, c.key(id), id, icnv1.ParticipantKind_PARTICIPANT_KIND_COOP)
	}

	// Members' side: each co-op's admin over HTTPS, trusting the example's CA.
	caPEM, err := os.ReadFile(filepath.Join(c.keys, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	tr := client.NewTransport()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	admins := []*identity.Key{c.key("coop-a-admin"), c.key("coop-b-admin")}
	gw := func(i int) string { return "https://127.0.0.1:" + c.ports[coopIDs[i]] }
	var sess [2]*client.Session
	for i := range coopIDs {
		testutil.WaitFor(t, 60*time.Second, coopIDs[i]+" logged in over HTTPS", func() bool {
			s, err := client.New(gw(i), client.WithHTTPClient(hc)).Login(ctx, admins[i], coopIDs[i])
			sess[i] = s
			return err == nil
		})
	}
	pay := func(from int) (*client.PaymentResult, error) {
		return sess[from].Pay(ctx, client.PaymentIntent{To: admins[1-from].DID(), ToCoop: coopIDs[1-from], Amount: "0.01",
			ExpiresAt: client.FormatTime(time.Now().Add(30 * time.Second))}, admins[from])
	}
	testutil.WaitFor(t, 90*time.Second, "a first cross-co-op payment", func() bool {
		r, err := pay(0)
		return err == nil && r.Status == "committed"
	})
	firstPayment := time.Since(start)

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
					if ctx.Err() != nil {
						return
					}
					continue
				}
				mu.Lock()
				answers = append(answers, told{r.ID, r.Status, from})
				mu.Unlock()
			}
		}(w % 2)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(answers) }
	more := func(what string, n int) {
		t.Helper()
		before := count()
		testutil.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d payments %s", n, what), func() bool { return count() >= before+n })
	}
	others := func(skip string) []string {
		var out []string
		for _, h := range hubs {
			if h != skip {
				out = append(out, h)
			}
		}
		return out
	}
	caughtUp := func(h, leader string) {
		t.Helper()
		testutil.WaitFor(t, 90*time.Second, h+" caught up with "+leader, func() bool {
			ls, err1 := status(conns[leader])
			st, err2 := status(conns[h])
			return err1 == nil && err2 == nil && st.GetLeaderDid() == ls.GetNodeDid() && st.GetAppliedIndex() >= ls.GetCommitIndex()
		})
	}
	more("before the kill", 40)

	// 1. The leader's container is killed, then started again.
	killed := leader
	docker(t, "kill", c.container(killed))
	leader = leaderAmong(others(killed))
	more("with "+killed+" killed", 40)
	docker(t, "start", c.container(killed))
	caughtUp(killed, leader)
	more("after "+killed+" came back", 20)

	// 2. One hub (the leader now) is cut off the network, then reconnected.
	cut := leader
	docker(t, "network", "disconnect", c.network(), c.container(cut))
	leader = leaderAmong(others(cut))
	more("with "+cut+" disconnected", 40)
	docker(t, "network", "connect", "--alias", cut, c.network(), c.container(cut))
	caughtUp(cut, leader)
	more("after "+cut+" was reconnected", 20)
	close(stop)
	wg.Wait()

	// Every answered payment ends alike on both sides; every acknowledged
	// (committed) one is committed at both.
	mu.Lock()
	all := append([]told(nil), answers...)
	mu.Unlock()
	statusAt := func(side int, id string) string {
		r, err := sess[side].PaymentStatus(ctx, coopIDs[side], id)
		if err != nil {
			return "missing"
		}
		return r.Status
	}
	committed := 0
	for _, a := range all {
		var payer, payee string
		testutil.WaitFor(t, 90*time.Second, "payment "+a.id+" decided on both sides", func() bool {
			payer, payee = statusAt(a.from, a.id), statusAt(1-a.from, a.id)
			return payer != "pending" && payee != "pending"
		})
		switch {
		case a.status == "committed" && (payer != "committed" || payee != "committed"):
			t.Fatalf("%s was acknowledged committed; payer has %s, payee %s", a.id, payer, payee)
		case payer != payee && !(payer == "rejected" && payee == "missing"):
			t.Fatalf("%s: payer %s, payee %s", a.id, payer, payee)
		}
		if payer == "committed" {
			committed++
		}
	}

	// Conservation: each co-op's clearing account mirrors its position at
	// the hub, its ledger sums to zero, and the hub's positions do too.
	hubNet := func(did identity.DID) (money.Amount, error) {
		resp, err := icnv1.NewCreditServiceClient(conns[leader]).GetCreditPolicy(ctx, &icnv1.GetCreditPolicyRequest{Did: string(did)})
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
	var hubSum int64
	for i, id := range coopIDs {
		var net money.Amount
		var clearing, adminBal ledger.Balance
		testutil.WaitFor(t, 60*time.Second, id+"'s clearing account equal to its hub position", func() bool {
			var err error
			if net, err = hubNet(c.key(id).DID()); err != nil {
				return false
			}
			var buf bytes.Buffer
			if _, err := sess[i].Backup(ctx, id, &buf); err != nil {
				t.Logf("backup of %s: %v", id, err)
				return false
			}
			path := filepath.Join(t.TempDir(), id+".db")
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := ledger.Open(ledger.Options{Path: path})
			if err != nil {
				t.Fatalf("open %s's ledger copy: %v", id, err)
			}
			defer st.Close()
			rep, err := st.Verify()
			if err != nil || !rep.OK() {
				t.Fatalf("%s's ledger copy: %v %v", id, err, rep.Mismatches)
			}
			if clearing, err = st.Balance(ledger.ClearingAccount(string(regionFed.DID())), money.Hours); err != nil {
				t.Fatal(err)
			}
			if adminBal, err = st.Balance(ledger.Account(admins[i].DID()), money.Hours); err != nil {
				t.Fatal(err)
			}
			return clearing.Balance.Neg().String() == net.String() && adminBal.Balance.String() == net.String()
		})
		if s, _ := clearing.Balance.Add(adminBal.Balance); s.Sign() != 0 {
			t.Fatalf("%s's ledger: clearing %s + admin %s ≠ 0", id, clearing.Balance, adminBal.Balance)
		}
		hubSum += net.Units()
		t.Logf("%s: hub position %s, clearing account %s, admin %s", id, net, clearing.Balance, adminBal.Balance)
	}
	if hubSum != 0 {
		t.Fatalf("the hub's positions sum to %d units", hubSum)
	}
	// The parent admitted the region: its registry shows it.
	if pp, err := icnv1.NewFederationServiceClient(conns["parent-1"]).GetParticipant(ctx, &icnv1.GetParticipantRequest{Did: string(regionFed.DID())}); err != nil || pp.GetName() != "riverside-region" {
		t.Fatalf("the parent's record of the region: %v %v", pp, err)
	}
	t.Logf("%d payments answered (%d committed); killed %s, disconnected %s; compose up %v, cluster led %v, first payment %v, whole test %v",
		len(all), committed, killed, cut, upAt.Round(time.Millisecond), clusterUp.Round(time.Millisecond), firstPayment.Round(time.Millisecond), time.Since(start).Round(time.Second))
}
