package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// opCluster is a 3-node hub cluster in this process (raft's in-memory
// transport, real bbolt files, control planes on 127.0.0.1:0) and the key
// files an operator uses against it.
type opCluster struct {
	fed     *identity.Key
	fedFile string
	opFile  string
	opDID   identity.DID
	keys    []*identity.Key
	nodes   []*hub.Node
	addrs   []string
	trans   []*raft.InmemTransport
	peers   []hub.Peer
}

func genKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeKey(t *testing.T, dir, name string, k *identity.Key) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := keyfile.Write(p, k); err != nil {
		t.Fatal(err)
	}
	return p
}

func startOpCluster(t *testing.T) *opCluster {
	t.Helper()
	const n = 3
	dir := t.TempDir()
	c := &opCluster{fed: genKey(t)}
	op := genKey(t)
	c.fedFile = writeKey(t, dir, "federation.key", c.fed)
	c.opFile = writeKey(t, dir, "operator.key", op)
	c.opDID = op.DID()
	var lns []net.Listener
	for i := 0; i < n; i++ {
		k, tr, ln := c.newMember(t, i)
		c.keys, lns = append(c.keys, k), append(lns, ln)
		c.addrs = append(c.addrs, ln.Addr().String())
		c.peers = append(c.peers, hub.Peer{DID: k.DID(), RaftAddr: string(tr.LocalAddr()), GRPCAddr: ln.Addr().String()})
	}
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, c.open(t, c.keys[i], i, lns[i]))
	}
	c.leader(t)
	return c
}

// newMember makes node i's key, in-memory raft transport (connected both
// ways to the others') and control-plane listener.
func (c *opCluster) newMember(t *testing.T, i int) (*identity.Key, *raft.InmemTransport, net.Listener) {
	t.Helper()
	k := genKey(t)
	_, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("hub%d:7100", i)))
	for _, o := range c.trans {
		tr.Connect(o.LocalAddr(), o)
		o.Connect(tr.LocalAddr(), tr)
	}
	c.trans = append(c.trans, tr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return k, tr, ln
}

// open starts node i (peers: the initial cluster) and its control plane on ln.
func (c *opCluster) open(t *testing.T, k *identity.Key, i int, ln net.Listener) *hub.Node {
	t.Helper()
	nd, err := hub.Open(hub.Config{
		DataDir: t.TempDir(), Key: k, Transport: c.trans[i], Peers: c.peers, GRPCAddr: ln.Addr().String(),
		Federation:       hub.FederationConfig{DID: c.fed.DID(), Name: "test federation", Currencies: []money.Currency{money.Hours}},
		HeartbeatTimeout: 200 * time.Millisecond, LeaderLease: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("open hub node %d: %v", i, err)
	}
	t.Cleanup(func() {
		if err := nd.Close(); err != nil {
			t.Errorf("close hub node %d: %v", i, err)
		}
	})
	srv, err := hub.NewServer(nd, []identity.DID{c.opDID})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve node %d: %v", i, err)
		}
	})
	return nd
}

// waitUntil polls cond until it holds or 10 seconds pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits for a leader that has initialised the federation.
func (c *opCluster) leader(t *testing.T) int {
	t.Helper()
	li := -1
	waitUntil(t, "a leader with an initialised federation", func() bool {
		for i, nd := range c.nodes {
			if nd.IsLeader() && nd.FSM().Federation().GetDid() != "" {
				li = i
				return true
			}
		}
		return false
	})
	return li
}

func (c *opCluster) hubDIDs() string {
	var s []string
	for _, k := range c.keys {
		s = append(s, string(k.DID()))
	}
	return strings.Join(s, ",")
}

// clearHubEnv keeps the caller's environment out of the test.
func clearHubEnv(t *testing.T) {
	for _, e := range []string{envHub, envHubDID, envKey} {
		t.Setenv(e, "")
	}
}

// runICN runs the icn command line in this process and returns its stdout.
func runICN(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustICN(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runICN(t, args...)
	if err != nil {
		t.Fatalf("icn %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func wantContains(t *testing.T, what, got string, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q does not contain %q", what, got, w)
		}
	}
}

func decodeJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value:\n%s", out)
	}
	return v
}

// TestOperatorCommands drives a 3-node cluster through the operator
// commands as an operator would: register, list, trust, credit, suspend.
func TestOperatorCommands(t *testing.T) {
	clearHubEnv(t)
	c := startOpCluster(t)
	dir := t.TempDir()
	a, b := genKey(t), genKey(t)
	aFile := writeKey(t, dir, "coop-a.key", a)

	// A dead address first: the client moves on to the next one.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	li := c.leader(t)
	fi := (li + 1) % 3
	conn := []string{"--hub", deadAddr + "," + c.addrs[fi], "--hub-did", c.hubDIDs(), "--key", c.opFile}
	icn := func(args ...string) string { t.Helper(); return mustICN(t, append(args, conn...)...) }

	out := icn("federation", "coop", "add", "--did", string(a.DID()), "--name", "Coop A")
	wantContains(t, "coop add", out, string(a.DID()), "Coop A", "active", "coop")
	icn("federation", "coop", "add", "--did", string(b.DID()), "--name", "Coop B", "--kind", "coop")

	out = icn("federation", "coop", "list")
	wantContains(t, "coop list", out, "DID", "NAME", "STATUS", string(a.DID()), string(b.DID()), "Coop A", "Coop B")
	if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines != 3 {
		t.Errorf("coop list: %d lines, want a header and 2 rows:\n%s", lines, out)
	}
	v := decodeJSON(t, icn("federation", "coop", "list", "--output", "json"))
	ps, _ := v["participants"].([]any)
	if len(ps) != 2 {
		t.Fatalf("coop list json: %v", v)
	}
	names := map[string]bool{}
	for _, p := range ps {
		pm := p.(map[string]any)
		names[pm["name"].(string)] = true
		if pm["status"] != "PARTICIPANT_STATUS_ACTIVE" {
			t.Errorf("coop list json: %v", pm)
		}
	}
	if !names["Coop A"] || !names["Coop B"] {
		t.Errorf("coop list json names: %v", names)
	}

	// The federation trusts A 0.8 (signed with the federation key), A trusts B 0.7.
	out = icn("trust", "set", "--to", string(a.DID()), "--weight", "0.8", "--as", c.fedFile)
	wantContains(t, "trust set", out, string(c.fed.DID()), string(a.DID()), "0.8", "federated")
	v = decodeJSON(t, icn("trust", "set", "--to", string(b.DID()), "--weight", "0.7", "--as", aFile, "-o", "json"))
	if v["from"] != string(a.DID()) || v["to"] != string(b.DID()) || v["weight"] != "0.7" {
		t.Errorf("trust set json: %v", v)
	}
	out = icn("trust", "path", "--from", string(c.fed.DID()), "--to", string(b.DID()))
	wantContains(t, "trust path", out, "0.56", "partner", a.DID().Short(), "2 (at most")
	v = decodeJSON(t, icn("trust", "path", "--from", string(c.fed.DID()), "--to", string(b.DID()), "-o", "json"))
	if path, _ := v["path"].([]any); v["weight"] != "0.56" || v["class"] != "partner" || len(path) != 3 || path[1] != string(a.DID()) {
		t.Errorf("trust path json: %v", v)
	}
	out = icn("trust", "show", string(a.DID()))
	wantContains(t, "trust show", out, "outgoing", "incoming", string(b.DID()), string(c.fed.DID()), "0.7", "0.8")
	v = decodeJSON(t, icn("trust", "show", string(a.DID()), "-o", "json"))
	if o, i := v["outgoing"].([]any), v["incoming"].([]any); len(o) != 1 || len(i) != 1 {
		t.Errorf("trust show json: %v", v)
	}
	// A stale read is answered by the follower asked, which may lag.
	mustICN(t, append([]string{"trust", "show", string(a.DID()), "--stale"}, conn...)...)

	out = icn("credit", "set", "--did", string(b.DID()), "--cap", "500.00")
	wantContains(t, "credit set", out, "500.00", "hours", string(b.DID()))
	out = icn("credit", "show", string(b.DID()))
	wantContains(t, "credit show", out, "CURRENCY", "DEBIT CAP", "hours", "500.00", "partner")
	v = decodeJSON(t, icn("credit", "show", string(b.DID()), "-o", "json"))
	pols, _ := v["policies"].([]any)
	if len(pols) != 1 || pols[0].(map[string]any)["debit_cap"] != "500.00" || pols[0].(map[string]any)["currency"] != "hours" {
		t.Errorf("credit show json: %v", v)
	}

	out = icn("federation", "coop", "suspend", string(b.DID()), "--reason", "settlement overdue")
	wantContains(t, "suspend", out, "suspended", "settlement overdue")
	v = decodeJSON(t, icn("federation", "coop", "show", string(b.DID()), "-o", "json"))
	if v["status"] != "PARTICIPANT_STATUS_SUSPENDED" || v["status_reason"] != "settlement overdue" {
		t.Errorf("coop show after suspend: %v", v)
	}
	out = icn("federation", "coop", "list")
	wantContains(t, "coop list after suspend", out, "suspended (settlement overdue)")
	out = icn("federation", "coop", "reinstate", string(b.DID()))
	wantContains(t, "reinstate", out, "active")

	out = icn("federation", "show")
	wantContains(t, "federation show", out, string(c.fed.DID()), "test federation", "hours (2 decimals)", "participants")
	v = decodeJSON(t, icn("federation", "show", "-o", "json"))
	if v["participants"] != float64(2) || v["trust_edges"] != float64(2) {
		t.Errorf("federation show json: %v", v)
	}

	out = icn("cluster", "status")
	wantContains(t, "cluster status", out, "term", "commit index", "applied index", "NODE", "SUFFRAGE", c.addrs[fi])
	if n := strings.Count(out, "voter"); n != 3 {
		t.Errorf("cluster status: %d voters, want 3:\n%s", n, out)
	}
	if n := strings.Count(out, "*"); n != 1 {
		t.Errorf("cluster status: %d leader marks, want 1:\n%s", n, out)
	}

	// Refusals from the hub: "<code>: <message>".
	stranger := genKey(t).DID()
	_, err = runICN(t, append([]string{"credit", "set", "--did", string(stranger), "--cap", "1.00"}, conn...)...)
	wantRefusal(t, "cap for a stranger", err, codes.FailedPrecondition, "unknown_participant", string(stranger))
	_, err = runICN(t, append([]string{"credit", "set", "--did", string(a.DID()), "--cap", "1.00", "--currency", "dollars"}, conn...)...)
	wantRefusal(t, "unknown currency", err, codes.InvalidArgument, "dollars")
	_, err = runICN(t, append([]string{"federation", "coop", "add", "--did", string(a.DID()), "--name", "again"}, conn...)...)
	wantRefusal(t, "register twice", err, codes.AlreadyExists, "already registered")
	_, err = runICN(t, append([]string{"trust", "set", "--to", string(stranger), "--weight", "0.5", "--as", aFile}, conn...)...)
	wantRefusal(t, "trust a stranger", err, codes.FailedPrecondition, string(stranger))
	_, err = runICN(t, append([]string{"trust", "set", "--to", string(a.DID()), "--weight", "0.5"}, conn...)...)
	wantRefusal(t, "trust signed by the operator", err, codes.FailedPrecondition, "unknown_participant", "--as KEYFILE")
	_, err = runICN(t, append([]string{"federation", "coop", "show", string(stranger)}, conn...)...)
	wantRefusal(t, "show a stranger", err, codes.NotFound, string(stranger))

	// A fourth node joins as a non-voter, then leaves.
	k4, _, ln4 := c.newMember(t, 3)
	n4 := c.open(t, k4, 3, ln4)
	v = decodeJSON(t, icn("cluster", "join", "--did", string(k4.DID()), "--raft-addr", string(c.trans[3].LocalAddr()),
		"--grpc-addr", ln4.Addr().String(), "--nonvoter", "-o", "json"))
	if nodes, _ := v["nodes"].([]any); len(nodes) != 4 {
		t.Fatalf("cluster join: %v", v)
	}
	waitUntil(t, "the joined node to catch up", func() bool {
		_, ok := n4.FSM().Participant(b.DID())
		return ok
	})
	// cluster status is the queried node's own view (a follower here), which
	// may trail the leader's by an entry or two: the node's record and the
	// configuration change.
	waitUntil(t, "the queried node's status to show the joined node", func() bool {
		out = icn("cluster", "status")
		return strings.Contains(out, ln4.Addr().String()) && strings.Contains(out, "nonvoter")
	})
	wantContains(t, "status after join", out, k4.DID().Short(), "nonvoter", ln4.Addr().String())
	out = icn("cluster", "remove", string(k4.DID()))
	if strings.Contains(out, k4.DID().Short()) || strings.Count(out, "voter") != 3 {
		t.Errorf("cluster remove: the node is still listed:\n%s", out)
	}

	// Hand leadership to another node through the CLI; the cluster follows.
	// The target is chosen now: under load leadership may have moved since
	// the test began, and a node cannot take leadership from itself.
	next := (c.leader(t) + 1) % 3
	to := c.keys[next].DID()
	icn("cluster", "transfer-leadership", "--to", string(to))
	waitUntil(t, "the follower to take leadership", func() bool { return c.nodes[next].IsLeader() })
	// Writes still go through (the CLI retries while leadership settles).
	icn("federation", "coop", "suspend", string(a.DID()), "--reason", "after the handover")
}

func wantRefusal(t *testing.T, what string, err error, code codes.Code, words ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	if !strings.HasPrefix(err.Error(), code.String()+": ") {
		t.Errorf("%s: %q does not start with %q", what, err, code.String()+": ")
	}
	wantContains(t, what, err.Error(), words...)
}

// TestOperatorFlagErrors: what a missing or wrong flag says, before and
// after connecting.
func TestOperatorFlagErrors(t *testing.T) {
	clearHubEnv(t)
	c := startOpCluster(t)
	did := string(genKey(t).DID())
	cases := []struct {
		name  string
		args  []string
		words []string
	}{
		{"missing --hub-did", []string{"federation", "coop", "list", "--hub", c.addrs[0], "--key", c.opFile},
			[]string{"--hub-did is required", "dev.json", envHubDID}},
		{"missing --hub", []string{"trust", "show", did, "--hub-did", c.hubDIDs(), "--key", c.opFile},
			[]string{"--hub is required", "127.0.0.1:7200", envHub}},
		{"missing --key", []string{"credit", "show", did, "--hub", c.addrs[0], "--hub-did", c.hubDIDs()},
			[]string{"--key is required", "icn keygen", envKey}},
		{"bad --hub-did", []string{"cluster", "status", "--hub", c.addrs[0], "--hub-did", "did:icn:xyz", "--key", c.opFile},
			[]string{"--hub-did", "did:icn:xyz"}},
		{"bad --hub", []string{"cluster", "status", "--hub", "localhost", "--hub-did", c.hubDIDs(), "--key", c.opFile},
			[]string{"--hub", "HOST:PORT"}},
		{"bad --output", []string{"cluster", "status", "--hub", c.addrs[0], "--hub-did", c.hubDIDs(), "--key", c.opFile, "-o", "yaml"},
			[]string{"--output must be table or json"}},
		{"missing --did", []string{"federation", "coop", "add", "--name", "x"}, []string{"--did is required", "--did did:icn:"}},
		{"missing --name", []string{"federation", "coop", "add", "--did", did}, []string{"--name is required", "--name \""}},
		{"bad --kind", []string{"federation", "coop", "add", "--did", did, "--name", "x", "--kind", "club"}, []string{"--kind must be coop or federation"}},
		{"missing --reason", []string{"federation", "coop", "suspend", did}, []string{"--reason is required"}},
		{"missing DID", []string{"federation", "coop", "show"}, []string{"takes one DID", "icn federation coop show did:icn:"}},
		{"bad DID", []string{"credit", "show", "coop-a"}, []string{"icn credit show DID", "coop-a"}},
		{"missing --weight", []string{"trust", "set", "--to", did}, []string{"--weight is required", "--weight 0.8"}},
		{"weight above 1", []string{"trust", "set", "--to", did, "--weight", "1.5"}, []string{"--weight", "[0, 1]", "1.5"}},
		{"missing --from", []string{"trust", "path", "--to", did}, []string{"--from is required"}},
		{"missing --cap", []string{"credit", "set", "--did", did}, []string{"--cap is required", "--cap 500.00"}},
		{"negative --cap", []string{"credit", "set", "--did", did, "--cap", "-5.00"}, []string{"--cap must not be negative", "-5.00"}},
		{"too precise --cap", []string{"credit", "set", "--did", did, "--cap", "5.001"}, []string{"--cap", "2 decimal places"}},
		{"join without --raft-addr", []string{"cluster", "join", "--did", did, "--grpc-addr", "h:1"}, []string{"--raft-addr is required"}},
	}
	for _, tc := range cases {
		out, err := runICN(t, tc.args...)
		if err == nil {
			t.Errorf("%s: no error; output %q", tc.name, out)
			continue
		}
		wantContains(t, tc.name, err.Error(), tc.words...)
	}

	// Pinned to a key the hub does not have: say which key it presented.
	other := string(genKey(t).DID())
	_, err := runICN(t, "cluster", "status", "--hub", c.addrs[0], "--hub-did", other, "--key", c.opFile)
	if err == nil {
		t.Fatal("wrong --hub-did: no error")
	}
	wantContains(t, "wrong --hub-did", err.Error(), "presented key "+string(c.keys[0].DID()), "not one of --hub-did", other)

	// A key the hub does not list as an operator.
	stranger := writeKey(t, t.TempDir(), "stranger.key", genKey(t))
	_, err = runICN(t, "federation", "coop", "list", "--hub", c.addrs[0], "--hub-did", c.hubDIDs(), "--key", stranger)
	wantRefusal(t, "non-operator", err, codes.PermissionDenied, "not an operator")

	// The environment stands in for the flags.
	t.Setenv(envHub, c.addrs[1])
	t.Setenv(envHubDID, c.hubDIDs())
	t.Setenv(envKey, c.opFile)
	out := mustICN(t, "federation", "show")
	wantContains(t, "federation show from the environment", out, string(c.fed.DID()))
}

// flakyFederation refuses the first calls with Unavailable, as a hub does
// while it has no leader, and records the request ids it sees.
type flakyFederation struct {
	icnv1.UnimplementedFederationServiceServer
	failures int

	mu  sync.Mutex
	ids []string
}

func (f *flakyFederation) RegisterParticipant(_ context.Context, r *icnv1.RegisterParticipantRequest) (*icnv1.Participant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, r.GetRequestId())
	if len(f.ids) <= f.failures {
		return nil, status.Error(codes.Unavailable, "the cluster has no leader right now; retry")
	}
	return &icnv1.Participant{Did: r.GetDid(), Name: r.GetName(), Kind: r.GetKind(), Status: icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE}, nil
}

func serveFlaky(t *testing.T, f *flakyFederation) (addr string, did identity.DID) {
	t.Helper()
	k := genKey(t)
	cfg, err := identity.TLSConfig(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	icnv1.RegisterFederationServiceServer(srv, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), k.DID()
}

// TestOperatorRetriesWithSameRequestID: a write refused with Unavailable is
// sent again with the same request id, so the hub applies it at most once.
func TestOperatorRetriesWithSameRequestID(t *testing.T) {
	clearHubEnv(t)
	opFile := writeKey(t, t.TempDir(), "operator.key", genKey(t))
	f := &flakyFederation{failures: 2}
	addr, did := serveFlaky(t, f)
	coop := string(genKey(t).DID())
	out := mustICN(t, "federation", "coop", "add", "--did", coop, "--name", "Retry Co", "--hub", addr, "--hub-did", string(did), "--key", opFile)
	wantContains(t, "coop add after retries", out, coop, "Retry Co")
	f.mu.Lock()
	ids := append([]string(nil), f.ids...)
	f.mu.Unlock()
	if len(ids) != 3 || ids[0] == "" || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Fatalf("request ids over the retries: %q (want 3 equal, non-empty)", ids)
	}

	// Never available: bounded retries, then Unavailable with what was tried.
	f2 := &flakyFederation{failures: 1 << 30}
	addr2, did2 := serveFlaky(t, f2)
	start := time.Now()
	_, err := runICN(t, "federation", "coop", "add", "--did", coop, "--name", "x", "--hub", addr2, "--hub-did", string(did2), "--key", opFile)
	wantRefusal(t, "never available", err, codes.Unavailable, "no hub node answered", addr2, "no leader")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
	f2.mu.Lock()
	n := len(f2.ids)
	f2.mu.Unlock()
	if n != hubRetryRounds {
		t.Errorf("%d attempts, want %d", n, hubRetryRounds)
	}
	// A second invocation is a new request: a new id.
	mustICN(t, "federation", "coop", "add", "--did", coop, "--name", "Retry Co", "--hub", addr, "--hub-did", string(did), "--key", opFile)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ids) != 4 || f.ids[3] == ids[0] {
		t.Errorf("a new invocation reused request id: %q", f.ids)
	}
}

// TestCoopPublishesItsOwnTrust: a co-op admin, holding only the co-op's
// key, publishes the co-op's trust in the federation over the control
// plane with that key as its identity (no operator key involved), and can
// read the trust it is part of; it cannot publish someone else's
// attestation nor read others' edges.
func TestCoopPublishesItsOwnTrust(t *testing.T) {
	clearHubEnv(t)
	c := startOpCluster(t)
	dir := t.TempDir()
	a, b := genKey(t), genKey(t)
	aFile, bFile := writeKey(t, dir, "coop-a.key", a), writeKey(t, dir, "coop-b.key", b)
	hub := []string{"--hub", c.addrs[c.leader(t)], "--hub-did", c.hubDIDs()}
	op := append([]string{"--key", c.opFile}, hub...)
	mustICN(t, append([]string{"federation", "coop", "add", "--did", string(a.DID()), "--name", "coop-a"}, op...)...)
	mustICN(t, append([]string{"federation", "coop", "add", "--did", string(b.DID()), "--name", "coop-b"}, op...)...)

	asA := append([]string{"--key", aFile}, hub...)
	out := mustICN(t, append([]string{"trust", "set", "--to", string(c.fed.DID()), "--weight", "1"}, asA...)...)
	wantContains(t, "co-op's own trust set", out, string(a.DID()), string(c.fed.DID()), "federated")
	out = mustICN(t, append([]string{"trust", "path", "--from", string(a.DID()), "--to", string(c.fed.DID())}, asA...)...)
	wantContains(t, "co-op's own trust path", out, "1", "federated")
	mustICN(t, append([]string{"trust", "show", string(a.DID())}, asA...)...)

	_, err := runICN(t, append([]string{"trust", "set", "--to", string(c.fed.DID()), "--weight", "1", "--as", bFile}, asA...)...)
	wantRefusal(t, "co-op A publishing B's attestation", err, codes.PermissionDenied, "only its own attestations")
	_, err = runICN(t, append([]string{"trust", "show", string(b.DID())}, asA...)...)
	wantRefusal(t, "co-op A reading B's edges", err, codes.PermissionDenied, "part of")
	_, err = runICN(t, append([]string{"credit", "set", "--did", string(a.DID()), "--cap", "1000.00"}, asA...)...)
	wantRefusal(t, "co-op A setting its own cap", err, codes.PermissionDenied, "participant")
}
