package systest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/money"
)

// replicatedCoop is a co-op served by several `icn coop` processes, one
// Raft group: rep stands for the co-op in the cross load (its key, admin
// and every gateway), nodes are the processes.
type replicatedCoop struct {
	rep   *coopProc
	nodes []*coopProc
	dids  []identity.DID // each node's cluster DID
	dirs  []string
}

// startReplicatedCoop starts co-op id on n nodes on 127.0.0.1, sharing the
// co-op's key, peering with c's hub nodes (the leader runs the hub peer).
func startReplicatedCoop(t *testing.T, c *hubCluster, id string, n int) *replicatedCoop {
	t.Helper()
	return startReplicatedCoopOn(t, c, id, make([]*labNode, n))
}

// startReplicatedCoopOn starts co-op id with a node on each of nodes (nil:
// on 127.0.0.1).
func startReplicatedCoopOn(t *testing.T, c *hubCluster, id string, nodes []*labNode) *replicatedCoop {
	t.Helper()
	n := len(nodes)
	rc := &replicatedCoop{rep: &coopProc{proc: proc{t: t}, id: id, key: genKey(t), admin: genKey(t)}}
	var peers strings.Builder
	gws, rafts, plain := make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		dir := t.TempDir()
		nk := genKey(t)
		for name, k := range map[string]*identity.Key{"node.key": rc.rep.key, "cluster.key": nk} {
			if err := keyfile.Write(filepath.Join(dir, name), k); err != nil {
				t.Fatal(err)
			}
		}
		gws[i], rafts[i] = freePort(t), freePort(t)
		if nodes[i] != nil { // a test's private network: no TLS in front
			gws[i], rafts[i], plain[i] = nodes[i].host()+":7104", nodes[i].host()+":7105", "plain_http = true"
		}
		rc.dirs, rc.dids = append(rc.dirs, dir), append(rc.dids, nk.DID())
		rc.rep.urls = append(rc.rep.urls, "http://"+gws[i])
		fmt.Fprintf(&peers, "[[cluster.peers]]\ndid = %q\nraft = %q\napi = %q\n\n", nk.DID(), rafts[i], "http://"+gws[i])
	}
	rc.rep.url = rc.rep.urls[0]
	for i := range n {
		p := &coopProc{proc: proc{t: t, node: nodes[i]}, id: fmt.Sprintf("%s/%d", id, i), key: rc.rep.key, admin: rc.rep.admin, url: rc.rep.urls[i]}
		cluster := fmt.Sprintf("[cluster]\nbind = %q\nheartbeat_timeout = \"500ms\"\n\n%s", rafts[i], peers.String())
		body := coopTOML(c, id, rc.dirs[i], rc.rep.admin.DID(), gws[i], plain[i], cluster)
		p.cfg = filepath.Join(rc.dirs[i], "coop.toml")
		p.args = []string{"coop", "--config", p.cfg}
		if err := os.WriteFile(p.cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		p.launch(p.id)
		rc.nodes = append(rc.nodes, p)
	}
	for _, p := range rc.nodes {
		p.waitReady()
	}
	// The first leader makes the admin a moderator; until then a login
	// succeeds without roles.
	waitFor(t, 30*time.Second, id+"'s admin bootstrapped", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := client.New(rc.rep.url).Login(ctx, rc.rep.admin, id)
		return err == nil && len(s.Roles()) > 0
	})
	return rc
}

// leader asks the co-op's nodes (as its admin) which one leads, and
// returns its index.
func (rc *replicatedCoop) leader(ctx context.Context, t *testing.T, admin *gateways, alive []int) int {
	t.Helper()
	l := -1
	waitFor(t, 30*time.Second, rc.rep.id+"'s leader", func() bool {
		for _, i := range alive {
			s, err := admin.session(ctx, i)
			if err != nil {
				continue
			}
			var st struct {
				Node    string `json:"node"`
				Leading bool   `json:"leading"`
			}
			if clusterGet(ctx, s, rc.rep.urls[i], rc.rep.id, &st) == nil && st.Leading {
				l = i
				return true
			}
		}
		return false
	})
	return l
}

func clusterGet(ctx context.Context, s *client.Session, base, coop string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/cluster/"+coop, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// readyz is node url's own readiness (its ledger head).
func readyz(url string) (*client.Readiness, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return client.New(url).Ready(ctx)
}

// internalLoad pays from one member of a co-op to another (internal
// payments) and reads the payer's balance, through any gateway, recording
// into the cross load's history under an account of its own.
type internalLoad struct {
	l              *crossLoad
	side           int
	payer, payee   *identity.Key
	gw             *gateways
	account        string
	mu             sync.Mutex
	committed, all []string
}

func (il *internalLoad) pay() {
	ctx, cancel := context.WithTimeout(il.l.ctx, 10*time.Second)
	defer cancel()
	id := client.NewPaymentID()
	call := il.l.h.now()
	r, err := il.gw.pay(ctx, client.PaymentIntent{ID: id, To: il.payee.DID(), ToCoop: il.l.coops[il.side].id, Amount: "0.01"})
	st := "unknown"
	if err == nil {
		st = r.Status
	}
	il.l.h.paid(4, il.account, id, 1, call, st)
	il.mu.Lock()
	il.all = append(il.all, id)
	if st == "committed" {
		il.committed = append(il.committed, id)
	}
	il.mu.Unlock()
}

func (il *internalLoad) start() {
	for range 2 {
		il.l.wg.Add(1)
		go func() {
			defer il.l.wg.Done()
			for {
				select {
				case <-il.l.done:
					return
				default:
				}
				il.pay()
			}
		}()
	}
	il.l.wg.Add(1)
	go func() {
		defer il.l.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-il.l.done:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(il.l.ctx, 5*time.Second)
			call := il.l.h.now()
			b, err := il.gw.balance(ctx, il.payer.DID())
			cancel()
			if err == nil {
				if a, err := money.Parse(b.Balance, money.Hours); err == nil {
					il.l.h.read(5, il.account, call, a.Units())
				}
			}
		}
	}()
}

// settle decides the history's open internal payments from the co-op.
func (il *internalLoad) settle(t *testing.T) {
	for id, account := range il.l.h.openPayments() {
		if account != il.account {
			continue
		}
		var st string
		waitFor(t, 30*time.Second, "internal payment "+id+" read", func() bool {
			ctx, cancel := context.WithTimeout(il.l.ctx, 5*time.Second)
			defer cancel()
			r, err := il.gw.paymentStatus(ctx, id)
			if client.ErrorCode(err) == "not_found" {
				st = "missing"
				return true
			}
			if err == nil {
				st = r.Status
			}
			return err == nil
		})
		il.l.h.settle(id, st)
	}
}

// TestCoopFailoverKillsLeaderMidLoad runs a 3-node replicated co-op and a
// single-node one as `icn coop` processes with a 3-node hub cluster;
// payments go both ways between them and inside the replicated co-op, from
// several clients that fail over between its gateways. The co-op's leader
// is SIGKILLed mid-load, the clients keep paying through the survivors, the
// killed node is started again; then: every payment a client saw committed
// is committed on every node; each payment has one status on every node;
// every node's ledger verifies (hash chain, postings summing to zero, stored
// balances) and its balances sum to zero; the hub's position for the co-op
// equals the co-op's members' balances (the clearing account's mirror); the
// members' feeds have no gap and are the same on every node; and the
// history is linearizable.
func TestCoopFailoverKillsLeaderMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := newHubCluster(t, 3, "")
	hl := c.leader([]int{0, 1, 2})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rc := startReplicatedCoop(t, c, "coop-r", 3)
	single := startCoop(t, c, "coop-s")
	load := newCrossLoad(ctx, t, c, []*coopProc{rc.rep, single}, hl)
	adminS, err := load.gw[0].any(ctx)
	if err != nil {
		t.Fatal(err)
	}
	il := &internalLoad{l: load, side: 0, account: "coop-r internal",
		payer: joinMember(ctx, t, rc.rep, adminS, "ipayer"), payee: joinMember(ctx, t, rc.rep, adminS, "ipayee")}
	il.gw = newGateways(rc.rep.urls, rc.rep.id, il.payer)
	load.start()
	il.start()
	all := []int{0, 1, 2}
	waitFor(t, 60*time.Second, "payments before the kill", func() bool { return load.count() >= 40 })
	li := rc.leader(ctx, t, load.gw[0], all)
	rc.nodes[li].kill()
	var alive []int
	for _, i := range all {
		if i != li {
			alive = append(alive, i)
		}
	}
	nl := rc.leader(ctx, t, load.gw[0], alive)
	before := load.count()
	waitFor(t, 90*time.Second, "payments after the kill", func() bool { return load.count() >= before+40 })
	rc.nodes[li].start()
	rc.nodes[li].waitReady()
	// SIGKILLed, it left no clean-stop marker: it rebuilt its state file
	// from the raft log, and the checks below hold for the rebuilt copy.
	if _, err := os.Stat(filepath.Join(rc.dirs[li], "ledger.db.unclean")); err != nil {
		t.Fatalf("the killed node did not rebuild its state file: %v", err)
	}
	mid := load.count()
	waitFor(t, 60*time.Second, "payments after the restart", func() bool { return load.count() >= mid+20 })
	load.stop()
	il.settle(t)
	answered, committed := load.verify(hl)
	t.Logf("%d cross-co-op payments answered (%d committed), %d internal; co-op leader %d killed, %d led, %d back",
		answered, committed, len(il.all), li, nl, li)

	// Every node holds the same ledger: wait until their heads agree.
	var head string
	waitFor(t, 60*time.Second, "every node at one ledger head", func() bool {
		heads := map[string]bool{}
		for _, p := range rc.nodes {
			rd, err := readyz(p.url)
			if err != nil {
				return false
			}
			heads[fmt.Sprint(rd.LedgerSeq, rd.LedgerHead)] = true
			head = fmt.Sprint(rd.LedgerSeq, " ", rd.LedgerHead)
		}
		return len(heads) == 1
	})
	feeds := make([]string, len(rc.nodes))
	for i, p := range rc.nodes {
		feeds[i] = memberFeed(ctx, t, p.url, rc.rep.id, load.payees[0])
	}
	for i := range feeds {
		if feeds[i] != feeds[0] {
			t.Fatalf("node %d's feed of the payee differs from node 0's", i)
		}
	}

	// Then each node's file, the processes stopped.
	load.mu.Lock()
	var sawCommitted []string
	for _, a := range load.answers {
		if a.status == "committed" && a.from == 0 {
			sawCommitted = append(sawCommitted, a.id)
		}
	}
	load.mu.Unlock()
	sawCommitted = append(sawCommitted, il.committed...)
	status := map[string]string{}
	for i, p := range rc.nodes {
		p.kill()
		led, err := ledger.Open(ledger.Options{Path: filepath.Join(rc.dirs[i], "ledger.db")})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := led.Verify()
		if err != nil || !rep.OK() {
			t.Fatalf("node %d: ledger verify: %v %v", i, err, rep.Mismatches)
		}
		for _, id := range sawCommitted {
			if pm, err := led.Payment(id); err != nil || pm.Status != ledger.StatusCommitted {
				t.Fatalf("node %d: payment %s a client saw committed is %v (%v)", i, id, pm.Status, err)
			}
		}
		for _, id := range append(append([]string(nil), il.all...), answeredIDs(load)...) {
			pm, err := led.Payment(id)
			st := "missing"
			if err == nil {
				st = string(pm.Status)
			}
			if prev, ok := status[id]; ok && prev != st {
				t.Fatalf("payment %s: %s on one node, %s on node %d", id, prev, st, i)
			}
			status[id] = st
		}
		var sum int64
		for _, a := range []ledger.Account{ledger.Account(rc.rep.admin.DID()), ledger.Account(load.payees[0].DID()),
			ledger.Account(il.payer.DID()), ledger.Account(il.payee.DID()), ledger.ClearingAccount(string(c.fed.DID()))} {
			b, err := led.Balance(a, money.Hours)
			if err != nil {
				t.Fatal(err)
			}
			sum += b.Balance.Units()
		}
		if sum != 0 {
			t.Fatalf("node %d: balances sum to %d units, not zero", i, sum)
		}
		led.Close()
	}
	t.Logf("every node at ledger head %s; %d payments seen committed found committed on all 3 nodes", head, len(sawCommitted))
}

func answeredIDs(l *crossLoad) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for _, a := range l.answers {
		if a.from == 0 {
			ids = append(ids, a.id)
		}
	}
	return ids
}

// memberFeed reads member's whole feed from node url (its own copy: feeds
// are served locally) and fails the test on a gap; it returns the events.
func memberFeed(ctx context.Context, t *testing.T, url, coop string, member *identity.Key) string {
	t.Helper()
	s, err := client.New(url).Login(ctx, member, coop)
	if err != nil {
		t.Fatalf("log in at %s: %v", url, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	evc, errc := s.Watch(wctx, coop, 0, false)
	var b bytes.Buffer
	n := 0
	for ev := range evc {
		fmt.Fprintf(&b, "%d %s %s\n", ev.Seq, ev.Type, ev.Payload)
		n++
	}
	if err := <-errc; err != nil && wctx.Err() == nil {
		t.Fatalf("feed at %s after %d events: %v", url, n, err)
	}
	if n == 0 {
		t.Fatalf("empty feed at %s", url)
	}
	return b.String()
}
