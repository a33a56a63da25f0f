package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testkey"
	"github.com/icn-coop/icn/internal/testutil"
)

// testSM is a small deterministic state machine: an ordered list of
// commands deduplicated by their text (a retry of a command with an unknown
// outcome is harmless), with a running hash over the list.
type testSM struct {
	mu       sync.Mutex
	cmds     []string
	seq      map[string]int // command → its 1-based position
	hash     [32]byte
	entries  int   // Apply calls (log entries with commands)
	restored []int // the number of commands in each image restored
}

func newTestSM() *testSM { return &testSM{seq: map[string]int{}} }

func (s *testSM) Apply(_ uint64, cmds [][]byte) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries++
	res := make([]any, len(cmds))
	for i, c := range cmds {
		res[i] = s.add(string(c))
	}
	return res
}

func (s *testSM) add(c string) int {
	if n, ok := s.seq[c]; ok {
		return n
	}
	s.cmds = append(s.cmds, c)
	s.seq[c] = len(s.cmds)
	s.hash = sha256.Sum256(append(s.hash[:], c...))
	return len(s.cmds)
}

func (s *testSM) Snapshot() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return image(append([]string(nil), s.cmds...)), nil
}

func (s *testSM) Restore(r io.Reader) error {
	var cmds []string
	if err := json.NewDecoder(r).Decode(&cmds); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds, s.seq, s.hash = nil, map[string]int{}, [32]byte{}
	for _, c := range cmds {
		s.add(c)
	}
	s.restored = append(s.restored, len(cmds))
	return nil
}

// state is the number of commands applied and the hash over them.
func (s *testSM) state() (int, [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cmds), s.hash
}

func (s *testSM) has(c string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seq[c]
	return ok
}

func (s *testSM) counts() (entries int, restored []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries, append([]int(nil), s.restored...)
}

// image is a testSM snapshot: the commands as JSON.
type image []string

func (im image) WriteTo(w io.Writer) (int64, error) {
	b, err := json.Marshal([]string(im))
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

func (image) Release() {}

// node is one member of a test cluster; c is nil while it is stopped.
type node struct {
	key  *identity.Key
	dir  string
	addr string
	sm   *testSM
	c    *Cluster
}

// testCluster is nodes in one process on 127.0.0.1 over the real TLS
// transport, each with its raft files in a temporary directory.
type testCluster struct {
	t     testing.TB
	nodes []*node
	peers []Peer
	tune  func(*Config)
}

// newKey is the key named name in this test: the same at every run.
func newKey(t testing.TB, name string) *identity.Key { t.Helper(); return testkey.Key(t, name) }

// newCluster starts n nodes that bootstrap one cluster.
func newCluster(t testing.TB, n int, tune func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, tune: tune}
	lns := make([]net.Listener, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		nd := &node{key: newKey(t, fmt.Sprint("node", i)), dir: t.TempDir(), addr: ln.Addr().String()}
		tc.nodes = append(tc.nodes, nd)
		tc.peers = append(tc.peers, Peer{DID: nd.key.DID(), RaftAddr: nd.addr, API: "api-" + nd.addr})
	}
	for i := range n {
		tc.open(tc.nodes[i], lns[i], tc.peers)
	}
	t.Cleanup(func() {
		for i := range tc.nodes {
			tc.stop(i)
		}
	})
	return tc
}

func (tc *testCluster) config(nd *node, ln net.Listener, peers []Peer) Config {
	cfg := Config{Key: nd.key, DataDir: nd.dir, Listener: ln, Peers: peers,
		// Tolerant of a loaded CI machine under -race.
		HeartbeatTimeout: 500 * time.Millisecond, LeaderLease: 500 * time.Millisecond,
		SnapshotInterval: 50 * time.Millisecond}
	if tc.tune != nil {
		tc.tune(&cfg)
	}
	return cfg
}

// open starts nd on ln (nil: its address again) over a new state machine.
func (tc *testCluster) open(nd *node, ln net.Listener, peers []Peer) {
	tc.t.Helper()
	if ln == nil {
		ln = relisten(tc.t, nd.addr)
	}
	nd.sm = newTestSM()
	c, err := Open(tc.config(nd, ln, peers), nd.sm)
	if err != nil {
		tc.t.Fatalf("open node %s: %v", nd.addr, err)
	}
	nd.c = c
}

// relisten binds addr again (a restarted node keeps its address).
func relisten(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	testutil.WaitFor(t, 5*time.Second, "listening on "+addr+" again", func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

// newNode starts a node that is not among the peers: it waits to be
// joined by AddVoter.
func (tc *testCluster) newNode(name string) *node {
	tc.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tc.t.Fatal(err)
	}
	nd := &node{key: newKey(tc.t, name), dir: tc.t.TempDir(), addr: ln.Addr().String()}
	tc.nodes = append(tc.nodes, nd)
	tc.open(nd, ln, tc.peers)
	return nd
}

func (tc *testCluster) start(i int) { tc.open(tc.nodes[i], nil, tc.peers) }

// stop closes node i, as a crash would minus the disk: its files stay.
func (tc *testCluster) stop(i int) {
	tc.t.Helper()
	nd := tc.nodes[i]
	if nd.c == nil {
		return
	}
	if err := nd.c.Close(); err != nil {
		tc.t.Errorf("close node %d: %v", i, err)
	}
	nd.c = nil
}

func (tc *testCluster) running() []*node {
	var out []*node
	for _, nd := range tc.nodes {
		if nd.c != nil {
			out = append(out, nd)
		}
	}
	return out
}

// leader waits until exactly one running node leads and returns it.
func (tc *testCluster) leader() *node {
	tc.t.Helper()
	var l *node
	testutil.WaitFor(tc.t, 15*time.Second, "one leader", func() bool {
		l = nil
		n := 0
		for _, nd := range tc.running() {
			if ok, _ := nd.c.Leading(); ok {
				l, n = nd, n+1
			}
		}
		return n == 1
	})
	return l
}

func (tc *testCluster) index(nd *node) int {
	for i, x := range tc.nodes {
		if x == nd {
			return i
		}
	}
	tc.t.Fatalf("node %s is not in the cluster", nd.addr)
	return -1
}

// converged waits until every node given has applied the same n commands
// with the same hash.
func converged(t testing.TB, n int, nodes ...*node) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("%d nodes at %d commands with one hash", len(nodes), n), func() bool {
		c0, h0 := nodes[0].sm.state()
		for _, nd := range nodes[1:] {
			if c, h := nd.sm.state(); c != c0 || h != h0 {
				return false
			}
		}
		return c0 == n
	})
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// propose proposes cmd on nd and wants its position back.
func propose(t testing.TB, nd *node, cmd string) int {
	t.Helper()
	res, err := nd.c.Propose(ctxT(t, 10*time.Second), []byte(cmd))
	if err != nil {
		t.Fatalf("propose %q on %s: %v", cmd, nd.addr, err)
	}
	seq, ok := res.(int)
	if !ok {
		t.Fatalf("propose %q: result %T %v, want an int", cmd, res, res)
	}
	return seq
}

// retryable: the proposal can go again, to the leader of the moment.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrClosed)
}

func raftAddr(s string) raft.ServerAddress { return raft.ServerAddress(s) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
