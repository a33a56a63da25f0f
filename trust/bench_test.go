package trust_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

// The benchmark federation: 10,000 participants and 100,000 random edges with weights in
// [0.05, 1], paths of at most 3 edges.
const (
	benchParticipants = 10_000
	benchEdges        = 100_000
)

var benchDIDs = func() []identity.DID {
	p := make([]identity.DID, benchParticipants)
	for i := range p {
		p[i] = did(i)
	}
	return p
}()

// benchGraph builds the benchmark graph from a fixed seed.
func benchGraph(b *testing.B) *trust.Graph {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	g := trust.NewGraph(3)
	for g.Len() < benchEdges {
		u, v := rng.IntN(benchParticipants), rng.IntN(benchParticipants)
		if _, dup := g.Edge(benchDIDs[u], benchDIDs[v]); u == v || dup {
			continue
		}
		mustSet(b, g, benchDIDs[u], benchDIDs[v], benchWeight(rng), 1)
	}
	return g
}

func benchWeight(rng *rand.Rand) trust.Weight { return trust.Weight(50_000 + rng.IntN(950_001)) }

// BenchmarkTrustCold: one single-source search per query (the cache is cleared each time).
func BenchmarkTrustCold(b *testing.B) {
	g := benchGraph(b)
	rng := rand.New(rand.NewPCG(3, 4))
	reached := 0
	for b.Loop() {
		g.SetMaxHops(3)
		if g.Trust(benchDIDs[rng.IntN(benchParticipants)], benchDIDs[rng.IntN(benchParticipants)]) > 0 {
			reached++
		}
	}
	b.ReportMetric(float64(reached)/float64(b.N), "reached/op")
}

// BenchmarkTrustCached: queries from 1,000 sources whose results are all cached.
func BenchmarkTrustCached(b *testing.B) {
	g := benchGraph(b)
	rng := rand.New(rand.NewPCG(5, 6))
	const sources = 1000
	for i := range sources {
		g.Trust(benchDIDs[i], benchDIDs[0])
	}
	pairs := make([][2]identity.DID, 1<<16)
	for i := range pairs {
		pairs[i] = [2]identity.DID{benchDIDs[rng.IntN(sources)], benchDIDs[rng.IntN(benchParticipants)]}
	}
	i := 0
	for b.Loop() {
		p := pairs[i&(len(pairs)-1)]
		g.Trust(p[0], p[1])
		i++
	}
	if s := g.Stats(); s.Misses != sources {
		b.Fatalf("expected only warm-up misses: %+v", s)
	}
}

// BenchmarkSetEdge: change the weight of a random existing edge, then query from one of
// 1,000 sources that were all cached at the start: the cost of Set with its precise
// invalidation plus the recomputation it causes. A source's result is only recomputed when it
// is queried again, so the number cached settles where invalidations balance re-queries.
func BenchmarkSetEdge(b *testing.B) {
	g := benchGraph(b)
	edges := g.Edges()
	rng := rand.New(rand.NewPCG(7, 8))
	const sources = 1000
	for i := range sources {
		g.Trust(benchDIDs[i], benchDIDs[0])
	}
	at := int64(1)
	before := g.Stats()
	for b.Loop() {
		e := edges[rng.IntN(len(edges))]
		at++
		mustSet(b, g, e.From, e.To, benchWeight(rng), at)
		g.Trust(benchDIDs[rng.IntN(sources)], benchDIDs[rng.IntN(benchParticipants)])
	}
	s := g.Stats()
	b.ReportMetric(float64(s.Invalidations-before.Invalidations)/float64(b.N), "invalidations/op")
	b.ReportMetric(float64(s.Misses-before.Misses)/float64(b.N), "misses/op")
	b.ReportMetric(float64(s.Cached), "cached-at-end")
}

// BenchmarkPath: explain the trust between random pairs that have some (Path is uncached).
func BenchmarkPath(b *testing.B) {
	g := benchGraph(b)
	rng := rand.New(rand.NewPCG(9, 10))
	var pairs [][2]identity.DID
	for len(pairs) < 256 {
		from, to := benchDIDs[rng.IntN(benchParticipants)], benchDIDs[rng.IntN(benchParticipants)]
		if g.Trust(from, to) > 0 {
			pairs = append(pairs, [2]identity.DID{from, to})
		}
	}
	i := 0
	for b.Loop() {
		p := pairs[i%len(pairs)]
		if path, _ := g.Path(p[0], p[1]); path == nil {
			b.Fatal("no path")
		}
		i++
	}
}

// BenchmarkTrustStar: the shape of a hub's trust graph, each co-op trusting the federation
// and the federation trusting each co-op fully, queried as prepare does (payee's trust in the
// payer) between random pairs of co-ops.
func BenchmarkTrustStar(b *testing.B) {
	for _, n := range []int{20, 10_000} {
		b.Run(fmt.Sprintf("coops=%d", n), func(b *testing.B) {
			fed := did(-1)
			g := trust.NewGraph(trust.DefaultMaxHops)
			for i := range n {
				mustSet(b, g, fed, benchDIDs[i], trust.One, 1)
				mustSet(b, g, benchDIDs[i], fed, trust.One, 1)
			}
			rng := rand.New(rand.NewPCG(11, 12))
			for b.Loop() {
				if g.Trust(benchDIDs[rng.IntN(n)], benchDIDs[rng.IntN(n)]) != trust.One {
					b.Fatal("co-ops trust each other fully through the federation")
				}
			}
			s := g.Stats()
			b.ReportMetric(float64(s.Misses)/float64(s.Hits+s.Misses), "misses/op")
		})
	}
}
