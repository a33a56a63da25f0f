package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/fsm"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// streamBackup takes a backup of node i over the control plane as key.
func streamBackup(t *testing.T, g *grpcCluster, i int, key *identity.Key, w io.Writer) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := icnv1.NewBackupServiceClient(g.dial(t, i, key)).Backup(ctx, &icnv1.BackupRequest{})
	if err != nil {
		return err
	}
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		w.Write(c.GetData())
	}
}

// netSum is the sum of the co-ops' net positions in hours at f.
func netSum(t *testing.T, f *fsm.FSM, coops []*identity.Key) int64 {
	t.Helper()
	var sum int64
	for _, k := range coops {
		ps, err := f.CreditPolicies(k.DID())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			a, err := money.Parse(p.GetNet(), money.Hours)
			if err != nil {
				t.Fatal(err)
			}
			sum += a.Units()
		}
	}
	return sum
}

// committedUnits adds up the committed transfer records in f's file.
func committedUnits(t *testing.T, f *fsm.FSM) int64 {
	t.Helper()
	var sum int64
	err := f.ForEachTransfer(func(p *icnv1.Transfer) error {
		if p.GetState() == icnv1.TransferState_TRANSFER_STATE_COMMITTED {
			sum += p.GetAmountUnits()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// receivedUnits adds up what the co-ops received this period, per the
// in-memory positions.
func receivedUnits(t *testing.T, f *fsm.FSM, coops []*identity.Key) int64 {
	t.Helper()
	var sum int64
	for _, k := range coops {
		ps, err := f.CreditPolicies(k.DID())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			a, err := money.Parse(p.GetReceived(), money.Hours)
			if err != nil {
				t.Fatal(err)
			}
			sum += a.Units()
		}
	}
	return sum
}

// TestBackupUnderLoadRestoresSameState takes a backup of the leader over
// the control plane while transfers stream in, restores it into fresh data
// directories at new addresses, and finds on every restored node, before
// any new entry, the very state hash the backup recorded when it was taken;
// the restored cluster then elects a leader and commits new transfers.
// Only operators may take a backup.
func TestBackupUnderLoadRestoresSameState(t *testing.T) {
	g := newGRPCCluster(t)
	li, leader := g.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	coops := setupFederation(t, ctx, leader, g.fed, 4, 1_000_000)

	var committed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				id := uuid.NewString()
				from, to := coops[(w+k)%4], coops[(w+k+1)%4]
				exp := time.Now().Add(time.Minute).UnixNano()
				if r, err := leader.Propose(ctx, cmdPrepare(id, from.DID(), to.DID(), 1, exp)); err != nil || r.GetErrorCode() != "" {
					continue
				}
				if k%5 == 4 {
					continue // leave some prepared: the backup holds pending transfers too
				}
				if r, err := leader.Propose(ctx, cmdCommit(id)); err == nil && r.GetErrorCode() == "" {
					committed.Add(1)
				}
			}
		}(w)
	}
	waitFor(t, 30*time.Second, "transfers before the backup", func() bool { return committed.Load() >= 50 })

	var denied bytes.Buffer
	wantStatus(t, "backup by a stranger", streamBackup(t, g, li, newKey(t), &denied), codes.PermissionDenied, "not an operator")
	file := filepath.Join(t.TempDir(), "hub.icnbak")
	var buf bytes.Buffer
	if err := streamBackup(t, g, li, g.op, &buf); err != nil {
		t.Fatalf("backup: %v", err)
	}
	during := committed.Load()
	waitFor(t, 30*time.Second, "transfers after the backup", func() bool { return committed.Load() >= during+50 })
	close(stop)
	wg.Wait()
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	info, err := VerifyBackup(file)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if info.Node != leader.DID() || info.Federation != g.fed.DID() || len(info.Voters) != 3 || info.Index == 0 {
		t.Fatalf("backup header %+v", info)
	}
	if live, _ := leader.fsm.StateHash(); hex.EncodeToString(live[:]) == info.StateHash {
		t.Fatal("the live state after 50 more transfers has the backup's hash: the load did not run across the backup")
	}

	// A damaged copy is refused.
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)-100] ^= 0xff
	badFile := filepath.Join(t.TempDir(), "bad.icnbak")
	os.WriteFile(badFile, bad, 0o600)
	if _, err := VerifyBackup(badFile); err == nil {
		t.Fatal("a damaged backup verified")
	}

	// Restore into fresh directories at new addresses, with the same keys.
	r := &testCluster{t: t, fed: g.fed, keys: g.keys, nodes: make([]*Node, 3)}
	for i := range g.keys {
		r.dirs = append(r.dirs, t.TempDir())
		_, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("restored%d", i)))
		r.trans = append(r.trans, tr)
		r.peers = append(r.peers, Peer{DID: g.keys[i].DID(), RaftAddr: string(tr.LocalAddr())})
	}
	if _, err := RestoreBackup(t.TempDir(), r.peers[:2], file); err == nil || !strings.Contains(err.Error(), "voters") {
		t.Fatalf("restore with a peer missing: %v, want an error naming the voters", err)
	}
	for i := range r.dirs {
		if _, err := RestoreBackup(r.dirs[i], r.peers, file); err != nil {
			t.Fatalf("restore node %d: %v", i, err)
		}
	}
	if _, err := RestoreBackup(r.dirs[0], r.peers, file); !errors.Is(err, ErrHasState) {
		t.Fatalf("restore over a restored directory: %v, want ErrHasState", err)
	}
	// Each node alone (no quorum, so no new entry): the backup's state.
	for i := range r.dirs {
		r.start(i)
		h, err := r.nodes[i].fsm.StateHash()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h[:]); got != info.StateHash {
			t.Fatalf("restored node %d: state hash %s, the backup recorded %s", i, got, info.StateHash)
		}
		if ai := r.nodes[i].fsm.AppliedIndex(); ai != info.Index {
			t.Fatalf("restored node %d: applied index %d, backup index %d", i, ai, info.Index)
		}
		if s := netSum(t, r.nodes[i].fsm, coops); s != 0 {
			t.Fatalf("restored node %d: positions sum to %d", i, s)
		}
		// The in-memory part and the records are of the same moment: the
		// positions received add up to the committed transfer records.
		if rec, pos := committedUnits(t, r.nodes[i].fsm), receivedUnits(t, r.nodes[i].fsm, coops); rec != pos || rec == 0 {
			t.Fatalf("restored node %d: committed transfer records of %d units, positions received %d", i, rec, pos)
		}
		if err := r.nodes[i].Close(); err != nil {
			t.Fatal(err)
		}
		r.nodes[i] = nil
	}
	// Together they form the cluster again and go on.
	r.connectAll()
	for i := range r.dirs {
		r.start(i)
	}
	t.Cleanup(func() {
		for _, n := range r.nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	_, rl := r.leader()
	id := uuid.NewString()
	exp := time.Now().Add(time.Minute).UnixNano()
	mustPropose(t, ctx, rl, cmdPrepare(id, coops[0].DID(), coops[1].DID(), 7, exp))
	mustPropose(t, ctx, rl, cmdCommit(id))
	r.converge()
	if rl.fsm.AppliedIndex() <= info.Index {
		t.Fatalf("restored cluster applied %d, not past the backup's %d", rl.fsm.AppliedIndex(), info.Index)
	}
	if s := netSum(t, rl.fsm, coops); s != 0 {
		t.Fatalf("restored cluster: positions sum to %d", s)
	}
}
