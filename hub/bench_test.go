package hub

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/fsm"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Benchmarks of the hub's write path; figures are in docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench . -benchtime 2s ./hub/

func benchKey(b *testing.B) *identity.Key {
	b.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// benchIDs names transfers: time-ordered UUIDv7s as co-op nodes make them,
// or random UUIDv4s (which spread every batch's writes over the whole
// transfers bucket).
var benchIDs = []struct {
	name string
	gen  func() string
}{
	{"ids=v7", func() string { return uuid.Must(uuid.NewV7()).String() }},
	{"ids=v4", uuid.NewString},
}

// BenchmarkFSMApplyBatch applies log entries of 256 commands (128 prepares
// of new transfers, 128 commits of the previous entry's) to an FSM on disk,
// one bbolt transaction (and fsync) per entry, as a follower applies them.
func BenchmarkFSMApplyBatch(b *testing.B) {
	for _, ids := range benchIDs {
		b.Run(ids.name, func(b *testing.B) { benchFSMApplyBatch(b, ids.gen) })
	}
}

func benchFSMApplyBatch(b *testing.B, newID func() string) {
	const perEntry, coops = 256, 20
	f, err := fsm.OpenFSM(filepath.Join(b.TempDir(), "fsm.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	fed := benchKey(b)
	at := time.Now().UnixNano()
	idx := uint64(0)
	apply := func(cmds []*icnv1.Command) {
		idx++
		for _, c := range cmds {
			c.AtUnixNano = at
		}
		out := f.ApplyBatch([]*raft.Log{logEntry(b, idx, cmds...)})
		for _, r := range out[0].([]*icnv1.CommandResult) {
			if r.GetErrorCode() != "" {
				b.Fatalf("entry %d: %s: %s", idx, r.GetErrorCode(), r.GetErrorMessage())
			}
		}
	}
	setup := []*icnv1.Command{{Cmd: &icnv1.Command_InitFederation{InitFederation: &icnv1.InitFederation{
		FederationDid: string(fed.DID()), Name: "bench", Currencies: []*icnv1.CurrencySpec{{Code: "hours", Scale: 2}}}}}}
	var dids []identity.DID
	var keys []*identity.Key
	for i := range coops {
		k := benchKey(b)
		keys, dids = append(keys, k), append(dids, k.DID())
		setup = append(setup, cmdRegister(k, fmt.Sprintf("coop-%d", i)))
	}
	apply(setup)
	setup = setup[:0]
	for _, k := range keys {
		setup = append(setup, cmdTrust(b, fed, k.DID(), "1", 1), cmdTrust(b, k, fed.DID(), "1", 1), cmdCap(k.DID(), 1<<50))
	}
	apply(setup)

	// prev holds the ids prepared by the previous entry, committed by the next.
	prev := make([]string, 0, perEntry/2)
	build := func() []*icnv1.Command {
		cmds := make([]*icnv1.Command, 0, perEntry)
		for _, id := range prev {
			cmds = append(cmds, cmdCommit(id))
		}
		prev = prev[:0]
		for i := 0; len(cmds) < perEntry; i++ {
			id := newID()
			a, c := dids[i%coops], dids[(i+1)%coops]
			if i%2 == 1 {
				a, c = c, a
			}
			cmds = append(cmds, cmdPrepare(id, a, c, 1, at+int64(time.Hour)))
			prev = append(prev, id)
		}
		return cmds
	}
	apply(build()) // the first entry has nothing to commit yet
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		cmds := build()
		for _, c := range cmds {
			c.AtUnixNano = at
		}
		l := logEntry(b, idx+1, cmds...)
		b.StartTimer()
		idx++
		out := f.ApplyBatch([]*raft.Log{l})
		if r := out[0].([]*icnv1.CommandResult); r[0].GetErrorCode() != "" || r[perEntry-1].GetErrorCode() != "" {
			b.Fatalf("entry %d: %v / %v", idx, r[0], r[perEntry-1])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perEntry), "ns/command")
	b.ReportMetric(float64(b.N*perEntry)/b.Elapsed().Seconds(), "commands/s")
}

// BenchmarkProposeSingleNode proposes prepare and commit commands from 128
// goroutines per CPU to a one-node cluster (raft's in-memory transport, the
// log and the FSM on disk): the leader's batching, raft's log write and the
// FSM, without replication.
func BenchmarkProposeSingleNode(b *testing.B) {
	key, fed := benchKey(b), benchKey(b)
	_, tr := raft.NewInmemTransport("node0")
	n, err := Open(Config{
		DataDir: b.TempDir(), Key: key, Transport: tr,
		Peers:      []Peer{{DID: key.DID(), RaftAddr: string(tr.LocalAddr())}},
		Federation: FederationConfig{DID: fed.DID(), Name: "bench", Currencies: []money.Currency{money.Hours}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !n.IsLeader() || !n.fsm.Initialized() {
		if time.Now().After(deadline) {
			b.Fatal("no leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx := context.Background()
	const coops = 20
	var keys []*identity.Key
	for i := range coops {
		k := benchKey(b)
		keys = append(keys, k)
		for _, c := range []*icnv1.Command{cmdRegister(k, fmt.Sprintf("coop-%d", i)),
			cmdTrust(b, fed, k.DID(), "1", 1), cmdTrust(b, k, fed.DID(), "1", 1), cmdCap(k.DID(), 1<<50)} {
			mustPropose(b, ctx, n, c)
		}
	}
	var worker atomic.Int64
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := int(worker.Add(1))
		from, to := keys[w%coops].DID(), keys[(w+1)%coops].DID()
		var id string
		for seq := 0; pb.Next(); seq++ {
			var c *icnv1.Command
			if seq%2 == 0 {
				id = uuid.Must(uuid.NewV7()).String()
				c = cmdPrepare(id, from, to, 1, time.Now().Add(time.Hour).UnixNano())
				from, to = to, from
			} else {
				c = cmdCommit(id)
			}
			res, err := n.Propose(ctx, c)
			if err != nil || res.GetErrorCode() != "" {
				b.Errorf("propose: %v %s %s", err, res.GetErrorCode(), res.GetErrorMessage())
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}
