package trust_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

func TestCacheEdgeThatMattersChangesAnswer(t *testing.T) {
	g, p := chain(t, 3)
	if got := g.Trust(p[0], p[3]); got != w("0.336") {
		t.Fatalf("Trust = %v", got)
	}
	mustSet(t, g, p[1], p[2], w("0.5"), 2) // B is expanded from A
	if got := g.Trust(p[0], p[3]); got != w("0.24") {
		t.Fatalf("after B→C 0.5: Trust = %v, want 0.24", got)
	}
	mustSet(t, g, p[0], p[3], w("0.3"), 2) // a new, better edge from the source itself
	if got := g.Trust(p[0], p[3]); got != w("0.3") {
		t.Fatalf("after A→D 0.3: Trust = %v, want 0.3", got)
	}
	if s := g.Stats(); s.Invalidations != 2 || s.Misses != 3 || s.Cached != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestCacheKeepsEntriesAnEdgeCannotAffect(t *testing.T) {
	g, p := chain(t, 3)
	e := did(4)
	g.Trust(p[0], p[3]) // from A: examines A, B, C; D is reached at the last hop
	g.Trust(p[2], p[3]) // from C: examines C, D
	before := g.Stats()
	if before.Cached != 2 || before.Misses != 2 {
		t.Fatalf("Stats = %+v", before)
	}
	// D is not expanded from A (it is at hop 3 = MaxHops), so D→E cannot change A's answers.
	mustSet(t, g, p[3], e, w("0.9"), 1)
	// Re-issuing an edge with the same weight, or adding a zero edge, changes no product.
	mustSet(t, g, p[1], p[2], w("0.7"), 2)
	mustSet(t, g, p[1], e, trust.Zero, 1)
	// An edge between participants that no search has met.
	mustSet(t, g, did(5), did(6), w("1"), 1)
	after := g.Stats()
	if after.Cached != 1 || after.Invalidations != 1 {
		t.Fatalf("only C's result should be dropped (D is expanded from C): %+v", after)
	}
	if got := g.Trust(p[0], e); got != 0 {
		t.Fatalf("Trust(A,E) over 4 hops = %v", got)
	}
	if got := g.Trust(p[0], p[3]); got != w("0.336") {
		t.Fatalf("Trust(A,D) = %v", got)
	}
	if s := g.Stats(); s.Hits != before.Hits+2 || s.Misses != before.Misses {
		t.Fatalf("A's result should have been served from the cache: %+v", s)
	}
	if got := g.Trust(p[2], e); got != w("0.54") {
		t.Fatalf("Trust(C,E) = %v, want 0.6×0.9", got)
	}
}

func TestSetMaxHopsClearsCache(t *testing.T) {
	g, p := chain(t, 2)
	if g.Trust(p[0], p[3]) != 0 {
		t.Fatal("2 hops reached D")
	}
	g.SetMaxHops(3)
	if g.MaxHops() != 3 || g.Trust(p[0], p[3]) != w("0.336") {
		t.Fatal("SetMaxHops(3) did not take effect")
	}
	if s := g.Stats(); s.Invalidations != 1 || s.Cached != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestCacheBound(t *testing.T) {
	g := trust.NewGraph(2)
	hub := did(0)
	const n = 5000
	for i := 1; i <= n; i++ {
		mustSet(t, g, did(i), hub, w("0.5"), 1)
	}
	for round := range 2 {
		for i := 1; i <= n; i++ {
			if got := g.Trust(did(i), hub); got != w("0.5") {
				t.Fatalf("round %d: Trust = %v", round, got)
			}
		}
	}
	s := g.Stats()
	if s.Cached != 4096 || s.Hits+s.Misses != 2*n || s.Evictions != uint64(s.Misses)-4096 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestCacheMatchesReference interleaves random Sets, Trust and Path queries and SetMaxHops
// on small random graphs, and checks every answer against a brute-force enumeration of simple
// paths, so a missed invalidation or a search bug shows up as a wrong answer.
func TestCacheMatchesReference(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkAgainstReference(t, seed) })
	}
}

func checkAgainstReference(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x7457))
	n := 2 + rng.IntN(11)
	p := dids(n)
	g := trust.NewGraph(1 + rng.IntN(4))
	var at int64
	for op := range 1000 {
		switch r := rng.IntN(100); {
		case r < 35:
			at++
			u, v := rng.IntN(n), rng.IntN(n)
			if u == v {
				continue
			}
			mustSet(t, g, p[u], p[v], randWeight(rng), at)
		case r < 37:
			g.SetMaxHops(1 + rng.IntN(4))
		case r < 45:
			a, b := p[rng.IntN(n)], p[rng.IntN(n)]
			wantPath, want := bruteBest(g.Edges(), g.MaxHops(), a, b)
			if path, got := g.Path(a, b); got != want || !slices.Equal(path, wantPath) {
				t.Fatalf("op %d: Path = %v, %v; want %v, %v", op, path, got, wantPath, want)
			}
		default:
			a, b := p[rng.IntN(n)], p[rng.IntN(n)]
			_, want := bruteBest(g.Edges(), g.MaxHops(), a, b)
			if got := g.Trust(a, b); got != want {
				t.Fatalf("op %d (hops %d): Trust = %v; want %v", op, g.MaxHops(), got, want)
			}
		}
	}
	checkFreshGraphAgrees(t, g, p)
}

// randWeight favours values that make ties and floor effects likely.
func randWeight(rng *rand.Rand) trust.Weight {
	switch rng.IntN(6) {
	case 0:
		return trust.Zero
	case 1:
		return trust.One
	case 2:
		return []trust.Weight{500_000, 250_000, 1, 999_999, 3}[rng.IntN(5)]
	}
	return trust.Weight(rng.IntN(trust.Scale + 1))
}

// checkFreshGraphAgrees compares the cached graph with a new graph built from its edges.
func checkFreshGraphAgrees(t *testing.T, g *trust.Graph, p []identity.DID) {
	t.Helper()
	fresh := trust.NewGraph(g.MaxHops())
	for _, e := range g.Edges() {
		mustSet(t, fresh, e.From, e.To, e.Weight, e.IssuedAt)
	}
	for _, a := range p {
		for _, b := range p {
			if g.Trust(a, b) != fresh.Trust(a, b) {
				t.Fatalf("cached and fresh graphs disagree on %s→%s", a.Short(), b.Short())
			}
		}
	}
}
