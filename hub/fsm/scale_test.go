package fsm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// scaleFed is a federation of co-ops as icn bench scale builds it: each trusts the federation
// fully and the federation trusts each, so any two trust each other in two hops.
type scaleFed struct {
	f     *FSM
	fed   *identity.Key
	coops []identity.DID
	r     *rand.Rand
	idx   uint64
}

func newScaleFed(b *testing.B, n int) *scaleFed {
	b.Helper()
	x := &scaleFed{f: newTestFSM(b), r: rand.New(rand.NewPCG(1, 2))}
	x.fed = genKey(b, x.r)
	x.apply(b, &icnv1.Command{Cmd: &icnv1.Command_InitFederation{InitFederation: &icnv1.InitFederation{
		FederationDid: string(x.fed.DID()), Name: "f", MaxHops: 3,
		Currencies: []*icnv1.CurrencySpec{{Code: "hours", Scale: 2}}}}})
	for len(x.coops) < n {
		var cmds []*icnv1.Command
		for range min(512, n-len(x.coops)) {
			cmds = append(cmds, x.coopCommands(b)...)
		}
		x.apply(b, cmds...)
	}
	return x
}

// coopCommands registers one more co-op with its trust edges and cap.
func (x *scaleFed) coopCommands(b *testing.B) []*icnv1.Command {
	k := genKey(b, x.r)
	x.coops = append(x.coops, k.DID())
	return []*icnv1.Command{cmdRegister(k, fmt.Sprintf("coop-%d", len(x.coops))),
		cmdTrust(b, x.fed, k.DID(), "1", 1), cmdTrust(b, k, x.fed.DID(), "1", 1), cmdCap(k.DID(), 1<<50)}
}

// apply applies cmds as one log entry and fails on any refusal.
func (x *scaleFed) apply(b *testing.B, cmds ...*icnv1.Command) []*icnv1.CommandResult {
	b.Helper()
	x.idx++
	l := logEntry(b, x.idx, cmds...)
	rs := results(b, l, x.f.ApplyBatch([]*raft.Log{l})[0])
	for i, r := range rs {
		if r.GetErrorCode() != "" {
			b.Fatalf("command %d (%T): %s: %s", i, cmds[i].GetCmd(), r.GetErrorCode(), r.GetErrorMessage())
		}
	}
	return rs
}

// BenchmarkPrepareScale applies batches of 64 prepares between random pairs of co-ops, as
// the leader's state machine does under icn bench scale, in a federation of 20 co-ops and of
// 10,000: the cost of a prepare should not grow with the number of co-ops.
func BenchmarkPrepareScale(b *testing.B) {
	for _, n := range []int{20, 10_000} {
		b.Run(fmt.Sprintf("coops=%d", n), func(b *testing.B) {
			x := newScaleFed(b, n)
			const batch = 64
			id := 0
			for b.Loop() {
				cmds := make([]*icnv1.Command, batch)
				for i := range cmds {
					u, v := x.r.IntN(n), x.r.IntN(n-1)
					if v >= u {
						v++
					}
					from, to := x.coops[u], x.coops[v]
					id++
					cmds[i] = cmdPrepare(fmt.Sprintf("t-%d", id), from, to, 1, 1<<62)
				}
				for _, r := range x.apply(b, cmds...) {
					if r.GetTransfer().GetState() != icnv1.TransferState_TRANSFER_STATE_PREPARED {
						b.Fatalf("prepare: %v", r)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/prepare")
		})
	}
}

// BenchmarkRegisterCoop registers one more co-op (registration, both trust edges, a cap) in
// a federation of 20 co-ops and of 10,000.
func BenchmarkRegisterCoop(b *testing.B) {
	for _, n := range []int{20, 10_000} {
		b.Run(fmt.Sprintf("coops=%d", n), func(b *testing.B) {
			x := newScaleFed(b, n)
			for b.Loop() {
				x.apply(b, x.coopCommands(b)...)
			}
		})
	}
}
