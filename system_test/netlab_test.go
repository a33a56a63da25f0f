package systest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// netLab is a set of network namespaces on this host, each holding one
// address, joined pairwise by veth links: a full mesh with no bridge and no
// forwarding, so the host's firewall (Docker's FORWARD DROP) never sees the
// traffic. A test cuts any link, or every link of a node, to partition it.
// Node 0 is the test process's own namespace (its clients).
type netLab struct {
	t      *testing.T
	tag    string // prefix of the namespace and link names
	prefix string // the lab's addresses are prefix + index (254 for node 0)
	n      int
	mu     sync.Mutex
	cut    map[[2]int]bool
}

// labNode is one namespace of a lab.
type labNode struct {
	lab *netLab
	i   int
}

// newNetLab makes n namespaces (nodes 1..n) and the links among them and
// node 0, or says why it cannot (not root, no iproute2). Everything is
// removed when the test ends.
func newNetLab(t *testing.T, n int) (*netLab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("no ip command (iproute2)")
	}
	x := 1 + rand.IntN(250)
	l := &netLab{t: t, tag: fmt.Sprintf("icn%d", x), prefix: fmt.Sprintf("10.213.%d.", x), n: n, cut: map[[2]int]bool{}}
	t.Cleanup(l.remove)
	if err := l.ip("addr", "add", l.prefix+"254/32", "dev", "lo"); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		ns := l.ns(i)
		if err := l.ip("netns", "add", ns); err != nil {
			return nil, err
		}
		if err := l.ip("-n", ns, "link", "set", "lo", "up"); err != nil {
			return nil, err
		}
		if err := l.ip("-n", ns, "addr", "add", l.addr(i)+"/32", "dev", "lo"); err != nil {
			return nil, err
		}
	}
	for i := 0; i <= n; i++ {
		for j := i + 1; j <= n; j++ {
			if err := l.link(i, j); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

func (l *netLab) ns(i int) string { return fmt.Sprintf("%s-%d", l.tag, i) }

// addr is node i's address.
func (l *netLab) addr(i int) string {
	if i == 0 {
		return l.prefix + "254"
	}
	return fmt.Sprint(l.prefix, i)
}

// dev is the name of node i's end of its link to node j.
func (l *netLab) dev(i, j int) string { return fmt.Sprintf("%s-%d-%d", l.tag, i, j) }

// in prefixes an ip command with node i's namespace.
func (l *netLab) in(i int, args ...string) []string {
	if i == 0 {
		return args
	}
	return append([]string{"-n", l.ns(i)}, args...)
}

func (l *netLab) link(i, j int) error {
	add := []string{"link", "add", l.dev(i, j)}
	if i != 0 {
		add = append(add, "netns", l.ns(i))
	}
	add = append(add, "type", "veth", "peer", "name", l.dev(j, i), "netns", l.ns(j))
	if err := l.ip(add...); err != nil {
		return err
	}
	return l.up(i, j)
}

// up brings the link between i and j up on both ends and routes each end's
// peer address over it.
func (l *netLab) up(i, j int) error {
	for _, e := range [][2]int{{i, j}, {j, i}} {
		if err := l.ip(l.in(e[0], "link", "set", l.dev(e[0], e[1]), "up")...); err != nil {
			return err
		}
		if err := l.ip(l.in(e[0], "route", "replace", l.addr(e[1])+"/32", "dev", l.dev(e[0], e[1]), "src", l.addr(e[0]))...); err != nil {
			return err
		}
	}
	return nil
}

func (l *netLab) ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// node is lab node i (1..n).
func (l *netLab) node(i int) *labNode { return &labNode{lab: l, i: i} }

// cutLink drops the link between nodes i and j (both ends down).
func (l *netLab) cutLink(i, j int) {
	l.t.Helper()
	for _, e := range [][2]int{{i, j}, {j, i}} {
		if err := l.ip(l.in(e[0], "link", "set", l.dev(e[0], e[1]), "down")...); err != nil {
			l.t.Fatal(err)
		}
	}
	l.mu.Lock()
	l.cut[[2]int{min(i, j), max(i, j)}] = true
	l.mu.Unlock()
}

// isolate cuts every link of node i, the test's own included.
func (l *netLab) isolate(i int) {
	for j := 0; j <= l.n; j++ {
		if j != i {
			l.cutLink(i, j)
		}
	}
}

// healAll brings every cut link back.
func (l *netLab) healAll() {
	l.t.Helper()
	l.mu.Lock()
	cut := l.cut
	l.cut = map[[2]int]bool{}
	l.mu.Unlock()
	for e := range cut {
		if err := l.up(e[0], e[1]); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *netLab) remove() {
	for i := 1; i <= l.n; i++ {
		_ = l.ip("netns", "del", l.ns(i)) // takes its links' ends, and so the links
	}
	_ = l.ip("addr", "del", l.prefix+"254/32", "dev", "lo")
}

// host is the node's address.
func (n *labNode) host() string { return n.lab.addr(n.i) }

// command runs name inside the node's namespace (ip netns exec execs it:
// the process is the command itself, so signals reach it).
func (n *labNode) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.lab.ns(n.i), name}, args...)...)
}
