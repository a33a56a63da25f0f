package coopnode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/coopnodetest"
	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// A 3-node co-op: logins, payments and linearizable reads through a
// follower reach the leader; feeds from any node number their events
// alike; with the leader stopped another node leads, the admin and the
// member keep paying through the survivors, and the stopped node catches
// up when it comes back.
func TestReplicatedCoop(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	l := cc.Leader()
	f := (l + 1) % 3
	admin := cc.Login(f, cc.Admin)
	member := coopnodetest.Key(t, "member")
	cc.OnLeader(func(i int) error {
		_, err := cc.Nodes[i].Members.AddMember(context.Background(), member.DID(), "Member", nil)
		return err
	})
	ctx := context.Background()
	pay := func(s *client.Session, key *identity.Key, to identity.DID, id string) { payThrough(t, s, key, to, id) }
	for i := range 5 {
		pay(admin, cc.Admin, member.DID(), fmt.Sprint("pay-", i))
	}
	b, err := admin.Balance(ctx, "riverside", member.DID(), "")
	if err != nil || b.Balance != "5.00" {
		t.Fatalf("member's balance through a follower: %+v %v, want 5.00 at once (linearizable)", b, err)
	}
	// The member's feed from each node: the same events with the same seq.
	ms := cc.Login((l+2)%3, member)
	var feeds [3][]client.Event
	for i := range 3 {
		s := cc.Login(i, member)
		feeds[i] = readFeed(t, s, 5)
	}
	for i := 1; i < 3; i++ {
		if fmt.Sprint(feeds[i]) != fmt.Sprint(feeds[0]) {
			t.Fatalf("node %d's member feed differs from node 0's:\n%v\n%v", i, feeds[i], feeds[0])
		}
	}

	// Fail over: stop the leader, keep paying through the others.
	cc.Stop(l)
	nl := cc.Leader()
	if nl == l {
		t.Fatal("the stopped node leads")
	}
	pay(ms, member, cc.Admin.DID(), "after-failover")
	cc.Restart(l)
	want := len(readFeed(t, ms, len(feeds[0])+1))
	back := cc.Login(l, member)
	testutil.WaitFor(t, 20*time.Second, "the restarted node's copy of the feed", func() bool {
		got := len(readFeedNow(t, back))
		t.Logf("restarted node's member feed: %d events, want %d", got, want)
		return got == want
	})
	for i := range 3 {
		rep, err := cc.Nodes[i].Ledger.Verify()
		if err != nil || !rep.OK() {
			t.Fatalf("node %d: verify: %v %+v", i, err, rep)
		}
	}
	h0, _ := cc.Nodes[0].Ledger.State().StateHash()
	testutil.WaitFor(t, 20*time.Second, "one state hash on every node", func() bool {
		for _, n := range cc.Nodes[1:] {
			if h, _ := n.Ledger.State().StateHash(); h != h0 {
				h0, _ = cc.Nodes[0].Ledger.State().StateHash()
				return false
			}
		}
		return true
	})
}

// payThrough pays 1.00 from key to to through s, again while the group has
// no leader or the node is unreachable, and fails t unless it commits.
func payThrough(t *testing.T, s *client.Session, key *identity.Key, to identity.DID, id string) {
	t.Helper()
	var res *client.PaymentResult
	testutil.WaitFor(t, 20*time.Second, "payment "+id, func() bool {
		var err error
		res, err = s.Pay(context.Background(), client.PaymentIntent{ID: id, To: to, Amount: "1.00"}, key)
		if err != nil && client.ErrorCode(err) != "unavailable" && !isConnErr(err) {
			t.Fatalf("pay %s: %v", id, err)
		}
		return err == nil
	})
	if res.Status != "committed" {
		t.Fatalf("payment %s: %s %s", id, res.Status, res.Reason)
	}
}

func isConnErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readFeed reads n events of the session's member feed.
func readFeed(t *testing.T, s *client.Session, n int) []client.Event {
	t.Helper()
	var evs []client.Event
	testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("%d feed events", n), func() bool {
		evs = readFeedNow(t, s)
		return len(evs) >= n
	})
	return evs
}

// readFeedNow reads the member feed's backlog, up to a short quiet spell.
func readFeedNow(t *testing.T, s *client.Session) []client.Event {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	evc, errc := s.Watch(ctx, "riverside", 0, false)
	var out []client.Event
	for ev := range evc {
		out = append(out, ev)
	}
	<-errc
	return out
}

// A moderator adds a fourth node through a follower's gateway (the leader
// carries it out); the node catches up; removing it leaves three.
func TestClusterRoutes(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	l := cc.Leader()
	f := (l + 1) % 3
	admin := cc.Login(f, cc.Admin)
	st := clusterCall(t, admin, "GET", "", nil)
	if len(st.Servers) != 3 || st.Leader == "" || !slices.Contains(cc.URLs(), st.LeaderAPI) {
		t.Fatalf("status through a follower: %+v, want 3 servers and a leader's API", st)
	}
	i, did := cc.StartExtra()
	if code := clusterErrBody(t, admin, "POST", "/nodes", map[string]string{"did": string(did), "raft": cc.Configs[i].Cluster.Bind, "api": "ftp://x"}); code != "invalid_request" {
		t.Fatalf("add with a gateway URL that is not http[s]: %q, want invalid_request", code)
	}
	st = clusterCall(t, admin, "POST", "/nodes", map[string]string{"did": string(did), "raft": cc.Configs[i].Cluster.Bind, "api": cc.URL(i)})
	if len(st.Servers) != 4 {
		t.Fatalf("after add: %d servers, want 4", len(st.Servers))
	}
	// No node's [[cluster.peers]] lists the new one: its gateway URL comes
	// from the state, on every node, so followers can forward to it.
	for n := range 3 {
		testutil.WaitFor(t, 10*time.Second, "the added node's gateway URL on node "+strconv.Itoa(n), func() bool {
			return cc.Nodes[n].Gateway.RecordedPeerAPI(did) == cc.URL(i)
		})
	}
	st = clusterCall(t, admin, "GET", "", nil)
	if k := slices.IndexFunc(st.Servers, func(s gateway.ClusterServer) bool { return s.DID == string(did) }); k < 0 || st.Servers[k].API != cc.URL(i) {
		t.Fatalf("status through a follower: %+v, want the added node with its gateway URL %s", st.Servers, cc.URL(i))
	}
	h, _ := cc.Nodes[l].Ledger.State().StateHash()
	testutil.WaitFor(t, 20*time.Second, "the added node's copy of the state", func() bool {
		got, _ := cc.Nodes[i].Ledger.State().StateHash()
		return got == h
	})
	if _, err := cc.Nodes[i].Members.Member(cc.Admin.DID()); err != nil {
		t.Fatalf("the added node does not know the admin: %v", err)
	}
	st = clusterCall(t, admin, "DELETE", "/nodes/"+string(did), nil)
	if len(st.Servers) != 3 {
		t.Fatalf("after remove: %d servers, want 3", len(st.Servers))
	}
	if api := cc.Nodes[l].Gateway.RecordedPeerAPI(did); api != "" {
		t.Fatalf("the removed node's gateway URL is still recorded: %s", api)
	}
	if code := clusterErr(t, admin, "DELETE", "/nodes/"+string(did)); code != "not_found" {
		t.Fatalf("removing it again: %q, want not_found", code)
	}
}

func clusterReq(t *testing.T, s *client.Session, method, sub string, body any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Client().BaseURL()+"/cluster/"+coopnodetest.CoopID+sub, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func clusterCall(t *testing.T, s *client.Session, method, sub string, body any) gateway.ClusterStatus {
	t.Helper()
	resp := clusterReq(t, s, method, sub, body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /cluster%s: %s %s", method, sub, resp.Status, b)
	}
	var st gateway.ClusterStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func clusterErr(t *testing.T, s *client.Session, method, sub string) string {
	t.Helper()
	return clusterErrBody(t, s, method, sub, nil)
}

func clusterErrBody(t *testing.T, s *client.Session, method, sub string, body any) string {
	t.Helper()
	resp := clusterReq(t, s, method, sub, body)
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return e.Error.Code
}

// A replica writes its state file without fsync, so a machine that stops
// may leave it torn. A node whose file has no clean-stop marker moves it
// aside and rebuilds the state from the raft log; a node stopped cleanly
// keeps its file.
func TestReplicaRebuildsAfterCrash(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	l := cc.Leader()
	admin := cc.Login(l, cc.Admin)
	member := coopnodetest.Key(t, "member")
	cc.OnLeader(func(i int) error {
		_, err := cc.Nodes[i].Members.AddMember(context.Background(), member.DID(), "Member", nil)
		return err
	})
	ctx := context.Background()
	for i := range 5 {
		testutil.WaitFor(t, 20*time.Second, "a payment", func() bool {
			res, err := admin.Pay(ctx, client.PaymentIntent{ID: fmt.Sprint("pay-", i), To: member.DID(), Amount: "1.00"}, cc.Admin)
			if err != nil && client.ErrorCode(err) != "unavailable" && !isConnErr(err) {
				t.Fatalf("pay: %v", err)
			}
			return err == nil && res.Status == "committed"
		})
	}
	f := (l + 1) % 3
	path := filepath.Join(cc.Configs[f].DataDir, "ledger.db")
	sameState := func(what string) {
		t.Helper()
		testutil.WaitFor(t, 20*time.Second, what, func() bool {
			if cc.Nodes[f] == nil || cc.Nodes[l] == nil {
				return false
			}
			hl, err1 := cc.Nodes[l].Ledger.State().StateHash()
			hf, err2 := cc.Nodes[f].Ledger.State().StateHash()
			return err1 == nil && err2 == nil && hl == hf
		})
	}
	sameState("the follower's state equal to the leader's")

	cc.Stop(f)
	cc.Restart(f)
	if _, err := os.Stat(path + store.UncleanSuffix); !os.IsNotExist(err) {
		t.Fatalf("a cleanly stopped node moved its state file aside: %v", err)
	}
	sameState("the state after a clean restart")

	// A crash that tore the file: the marker is gone and the pages are junk.
	cc.Stop(f)
	if err := os.Remove(path + ".clean"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xa5}, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	cc.Restart(f)
	if _, err := os.Stat(path + store.UncleanSuffix); err != nil {
		t.Fatalf("the torn file was not moved aside: %v", err)
	}
	sameState("the rebuilt state equal to the leader's")
	b, err := cc.Login(f, member).Balance(ctx, "riverside", member.DID(), "")
	if err != nil || b.Balance != "5.00" {
		t.Fatalf("member's balance after the rebuild: %+v %v", b, err)
	}
	if rep, err := cc.Nodes[f].Ledger.Verify(); err != nil || !rep.OK() {
		t.Fatalf("rebuilt node: verify: %v %+v", err, rep)
	}

	// Alone, a restarted node cannot know it has caught up: /readyz keeps
	// load balancers away until a leader has brought it up to date.
	for i := range cc.Nodes {
		cc.Stop(i)
	}
	cc.Restart(f)
	if code, status := readyz(t, cc.URL(f)); code != http.StatusServiceUnavailable || status != "catching_up" {
		t.Fatalf("/readyz of a node alone after a restart: %d %q, want 503 catching_up", code, status)
	}
	if _, err := client.New(cc.URL(f)).Ready(ctx); client.ErrorCode(err) != "catching_up" {
		t.Fatalf("client.Ready of a node catching up: %v, want the error catching_up", err)
	}
	cc.Restart(l)
	testutil.WaitFor(t, 20*time.Second, "the restarted node ready once a leader is back", func() bool {
		code, status := readyz(t, cc.URL(f))
		return code == http.StatusOK && status == "ready"
	})
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rd gateway.Readiness
	if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, rd.Status
}
