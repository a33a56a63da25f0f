package cluster

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/icn-coop/icn/internal/testutil"
)

// A seeded directory opens as a group of one that holds the seeded state
// and leads; new entries follow the seed's index; it cannot be seeded twice.
func TestSeed(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key, dir := newKey(t, "seeded"), t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	old := newTestSM()
	old.Apply(1, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err := Seed(dir, key.DID(), ln.Addr().String(), 0, old, log); err == nil {
		t.Fatal("seeded an empty state")
	}
	if err := Seed(dir, key.DID(), ln.Addr().String(), 7, old, log); err != nil {
		t.Fatal(err)
	}
	if err := Seed(dir, key.DID(), ln.Addr().String(), 7, old, log); !errors.Is(err, ErrHasRaftState) {
		t.Fatalf("seeding again: %v, want ErrHasRaftState", err)
	}
	sm := newTestSM()
	other := newKey(t, "to-add")
	c, err := Open(Config{Key: key, DataDir: dir, Listener: ln, Logger: log, HeartbeatTimeout: 500 * time.Millisecond,
		Peers: []Peer{{DID: key.DID(), RaftAddr: ln.Addr().String()}, {DID: other.DID(), RaftAddr: "127.0.0.1:1"}}}, sm)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testutil.WaitFor(t, 15*time.Second, "the seeded node to lead alone", func() bool { ok, _ := c.Leading(); return ok })
	if n, h := sm.state(); n != 3 || h != old.hash {
		t.Fatalf("restored %d commands (hash %x), want the seeded 3", n, h)
	}
	if res, err := c.Propose(t.Context(), []byte("d")); err != nil || res != 4 {
		t.Fatalf("propose on the seeded node: %v %v, want position 4", res, err)
	}
	st, err := c.Status()
	if err != nil || len(st.Servers) != 1 || st.AppliedIndex <= 7 {
		t.Fatalf("status %+v %v: want one server and entries after the seed's index 7", st, err)
	}
}
