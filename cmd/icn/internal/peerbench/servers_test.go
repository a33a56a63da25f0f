package peerbench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// These tests start the real servers when they are installed (make
// bench-peers-deps) and skip otherwise: CI does not install them.

func TestEtcdTransfers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member etcd cluster")
	}
	bin, err := FindEtcd("")
	if err != nil {
		t.Skipf("etcd is not installed, so the etcd build of the hub workload is not tested: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := StartEtcd(ctx, bin, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cli, err := NewEtcdClient(ctx, c.Leader)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for _, tc := range []struct {
		name     string
		cap      int64
		oneWay   bool
		keyLocks bool
	}{
		{"directions alternate", 1 << 40, false, false},
		{"directions alternate, key locks", 1 << 40, false, true},
		{"caps bind", 20, true, false},
		{"caps bind, key locks", 20, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewEtcdTransfers(ctx, []*clientv3.Client{cli}, 4, tc.cap, EtcdOptions{KeyLocks: tc.keyLocks})
			if err != nil {
				t.Fatal(err)
			}
			r := RunTransfers(ctx, s, TransferOptions{Clients: 16, Participants: 4, Amount: 1, Duration: time.Second, OneWay: tc.oneWay})
			if r.Errors != 0 || r.Ops == 0 {
				t.Fatalf("run: %d ops, errors %v", r.Ops, r.ErrorSample)
			}
			if tc.oneWay && r.Rejected == 0 {
				t.Errorf("no transfer rejected under a cap of %d", tc.cap)
			}
			if !tc.oneWay && !tc.keyLocks && s.Retries() == 0 {
				t.Errorf("16 clients on 4 participants and not one conflict: is the comparison checked?")
			}
			b, err := s.Book(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if b.Committed == 0 {
				t.Fatal("nothing committed")
			}
			assertCheck(t, CheckBook(b, r.Committed), "")
		})
	}
}

func TestPGLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	bin, err := FindPostgres("")
	if err != nil {
		t.Skipf("PostgreSQL is not installed, so the PostgreSQL build of the ledger workload is not tested: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: its parent is private to root, and as root the
	// server runs as another user.
	dir, err := os.MkdirTemp("", "peerbench-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg, err := StartPostgres(ctx, bin, dir, "", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	for i, tc := range []struct {
		name   string
		limit  int64
		oneWay bool
	}{{"directions alternate", 100000, false}, {"limits bind", 20, true}} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewPGLedger(ctx, pg.DSN, fmt.Sprintf("t%d", i), 4, tc.limit, 8)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			r := RunPayments(ctx, l, PaymentOptions{Clients: 8, Members: 4, Amount: 1, Duration: time.Second, OneWay: tc.oneWay})
			if r.Errors != 0 || r.Ops == 0 {
				t.Fatalf("run: %d ops, errors %v", r.Ops, r.ErrorSample)
			}
			if tc.oneWay && r.Rejected == 0 {
				t.Errorf("no payment rejected under a limit of %d", tc.limit)
			}
			s, err := l.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			assertCheck(t, CheckLedger(s, r.Committed), "")
		})
	}
}
