package systest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/internal/testutil"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

var icnBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "icn-systest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	icnBin = filepath.Join(dir, "icn")
	out, err := exec.Command("go", "build", "-race", "-o", icnBin, "../cmd/icn").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build icn: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeUDPPort returns a UDP address that was free a moment ago.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func genKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// freePort returns a port that was free a moment ago (the process binds it).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one `icn` process of a test, restartable; its output is kept.
type proc struct {
	t        *testing.T
	args     []string // after the binary
	node     *labNode // the namespace it runs in, nil for the host's
	cmd      *exec.Cmd
	waitDone chan struct{}
	logs     strings.Builder
	mu       sync.Mutex
}

// start starts the process (again).
func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.node != nil {
		p.cmd = p.node.command(icnBin, p.args...)
	} else {
		p.cmd = exec.Command(icnBin, p.args...)
	}
	p.cmd.Stdout, p.cmd.Stderr = &lockedWriter{b: &p.logs, mu: &p.mu}, &lockedWriter{b: &p.logs, mu: &p.mu}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start icn %s: %v", strings.Join(p.args, " "), err)
	}
	p.waitDone = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.waitDone)
}

// launch starts the process for the test's life: killed when the test
// ends, its output logged as name's if the test failed.
func (p *proc) launch(name string) {
	p.t.Helper()
	p.start()
	p.t.Cleanup(func() {
		p.kill()
		if p.t.Failed() {
			p.t.Logf("%s log:\n%s", name, p.log())
		}
	})
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.waitDone
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// log is what the process (every run of it) has written.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// hubProc is one `icn hub` process.
type hubProc struct {
	proc
	key  *identity.Key
	dir  string
	raft string
	grpc string
	data string // the data plane's UDP address
	cfg  string
}

type hubCluster struct {
	t        *testing.T
	fed, op  *identity.Key
	procs    []*hubProc
	clientMu sync.Mutex
	clients  map[string]*grpc.ClientConn
}

func newHubCluster(t *testing.T, n int, extra string) *hubCluster {
	t.Helper()
	return newHubClusterOn(t, make([]*labNode, n), extra)
}

// newHubClusterOn starts a hub node on each of nodes, a nil one on
// 127.0.0.1.
func newHubClusterOn(t *testing.T, nodes []*labNode, extra string) *hubCluster {
	t.Helper()
	c := &hubCluster{t: t, fed: genKey(t), op: genKey(t), clients: map[string]*grpc.ClientConn{}}
	for _, node := range nodes {
		dir := t.TempDir()
		k := genKey(t)
		if err := keyfile.Write(filepath.Join(dir, "node.key"), k); err != nil {
			t.Fatal(err)
		}
		p := &hubProc{proc: proc{t: t, node: node}, key: k, dir: dir}
		if node != nil {
			p.raft, p.grpc, p.data = node.host()+":7101", node.host()+":7102", node.host()+":7103"
		} else {
			p.raft, p.grpc, p.data = freePort(t), freePort(t), freeUDPPort(t)
		}
		c.procs = append(c.procs, p)
	}
	var peers strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&peers, "[[peers]]\ndid = %q\nraft = %q\ngrpc = %q\n\n", p.key.DID(), p.raft, p.grpc)
	}
	for _, p := range c.procs {
		body := fmt.Sprintf(`data_dir = %q
operators = [%q]
%s
[raft]
listen = %q
heartbeat_timeout = "300ms"
snapshot_interval = "200ms"

[grpc]
listen = %q

[data]
listen = %q

[federation]
did = %q
name = "system test federation"

%s
[log]
level = "warn"
`, p.dir, c.op.DID(), "", p.raft, p.grpc, p.data, c.fed.DID(), peers.String())
		body = strings.Replace(body, "[raft]\n", "[raft]\n"+extra, 1)
		p.cfg = filepath.Join(p.dir, "hub.toml")
		p.args = []string{"hub", "--config", p.cfg}
		if err := os.WriteFile(p.cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		p.start()
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.kill()
		}
		for _, cc := range c.clients {
			cc.Close()
		}
	})
	return c
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// conn returns an operator connection to node i, pinned to its DID.
func (c *hubCluster) conn(i int) *grpc.ClientConn {
	c.t.Helper()
	c.clientMu.Lock()
	defer c.clientMu.Unlock()
	p := c.procs[i]
	if cc, ok := c.clients[p.grpc]; ok {
		return cc
	}
	tlsCfg, err := identity.TLSConfig(c.op, identity.Pin(p.key.DID()))
	if err != nil {
		c.t.Fatal(err)
	}
	cc, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		c.t.Fatal(err)
	}
	c.clients[p.grpc] = cc
	return cc
}

func (c *hubCluster) status(i int) (*icnv1.ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return icnv1.NewClusterServiceClient(c.conn(i)).Status(ctx, &icnv1.ClusterStatusRequest{})
}

// leader waits until a node among alive reports itself leader, and returns its index.
func (c *hubCluster) leader(alive []int) int {
	c.t.Helper()
	idx := -1
	defer func() {
		if idx < 0 {
			for _, i := range alive {
				_, err := c.status(i)
				c.t.Logf("node %d: status error %v; log:\n%s", i, err, c.procs[i].log())
			}
		}
	}()
	waitFor(c.t, 30*time.Second, "a leader", func() bool {
		for _, i := range alive {
			if st, err := c.status(i); err == nil && st.GetState() == "leader" && st.GetAppliedIndex() >= st.GetCommitIndex() {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

var waitFor = testutil.WaitFor
