package govern

import (
	"context"
	"fmt"
	"testing"

	"github.com/icn-coop/icn/governance"
)

// BenchmarkCastVote casts votes on one proposal in a co-op of 300 members,
// each through the whole path: signature check, command, handler (roster
// and proposal read from the state, the rules, the record written back),
// fsync. The record holds every ballot, so its cost grows with them.
func BenchmarkCastVote(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	pat := e.add("pat", "proposer")
	const n = 300
	for i := range n {
		e.add(fmt.Sprintf("m%03d", i))
	}
	p, err := e.g.Open(ctx, Draft{ID: "p-1", Kind: governance.KindEconomic, Title: "Default 20", Proposer: pat,
		Change: Change{DefaultCreditLimit: ptr(hours("20"))}})
	if err != nil {
		b.Fatal(err)
	}
	e.clock.Set(p.VotingStarts)
	b.ResetTimer()
	for i := range b.N {
		if err := e.vote(fmt.Sprintf("m%03d", i%n), "p-1", governance.For, uint32(i/n+1)); err != nil {
			b.Fatal(err)
		}
	}
}
