package trust

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// TestCacheBookkeeping churns a small graph long enough for stale references to be swept
// several times, and checks the cache's internal accounting and answers as it goes.
func TestCacheBookkeeping(t *testing.T) {
	g, p := churnGraph(t)
	swept := churn(t, g, p, 150_000)
	t.Logf("%d sweeps, %+v", swept, g.Stats())
	if swept == 0 {
		t.Fatal("no sweep happened; the test does not exercise collect")
	}
}

// TestCacheBoundsAndWraps shrinks the cache and starts the counters just short of wrapping,
// so that evictions by size and both counter wraps happen while answers are checked.
func TestCacheBoundsAndWraps(t *testing.T) {
	g, p := churnGraph(t)
	g.cache.maxSources, g.cache.maxCells = 3, 24 // some results will not fit at all
	g.cache.lastStamp = math.MaxUint32 - 20
	g.scratch.tick = math.MaxUint32 - 20
	churn(t, g, p, 20_000)
	s := g.Stats()
	if s.Evictions == 0 || g.cache.lastStamp > 1<<20 || g.scratch.tick > 1<<20 {
		t.Fatalf("bounds or wraps not exercised: %+v, stamp %d, tick %d", s, g.cache.lastStamp, g.scratch.tick)
	}
}

const churnNodes = 12

func churnGraph(t *testing.T) (*Graph, []identity.DID) {
	rng := rand.New(rand.NewPCG(7, 11))
	p := make([]identity.DID, churnNodes)
	for i := range p {
		seed := sha256.Sum256([]byte{byte(i)})
		k, err := identity.KeyFromSeed(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		p[i] = k.DID()
	}
	g := NewGraph(3)
	// The out-edges of the first half never change after this, so references to them pile up
	// (results that examined them are dropped through the second half) until a sweep.
	for u := range churnNodes / 2 {
		for v := range churnNodes {
			if u != v && rng.IntN(2) == 0 {
				if err := g.Set(Attestation{From: p[u], To: p[v], Weight: Weight(rng.IntN(Scale + 1)), IssuedAt: 1}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return g, p
}

// churn runs random Sets (on the second half) and Trust queries, checking each answer
// against an uncached search; it returns how many queries were followed by a sweep.
func churn(t *testing.T, g *Graph, p []identity.DID, ops int) (swept int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(13, 17))
	for op := range ops {
		u, v := rng.IntN(churnNodes), rng.IntN(churnNodes)
		if rng.IntN(3) == 0 && u != v && u >= churnNodes/2 {
			err := g.Set(Attestation{From: p[u], To: p[v], Weight: Weight(rng.IntN(Scale + 1)), IssuedAt: int64(op + 2)})
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		before := g.cache.depSlots
		got := g.Trust(p[u], p[v])
		if g.cache.depSlots < before {
			swept++
		}
		if want := uncached(g, p[u], p[v]); got != want {
			t.Fatalf("op %d: Trust = %v, fresh search = %v", op, got, want)
		}
		if op%997 == 0 {
			checkBookkeeping(t, &g.cache)
		}
	}
	checkBookkeeping(t, &g.cache)
	return swept
}

func uncached(g *Graph, from, to identity.DID) Weight {
	s, ok1 := g.ids[from]
	t, ok2 := g.ids[to]
	if from == to || !ok1 || !ok2 {
		return g.Trust(from, to) // no search involved
	}
	r, _ := g.search(s, math.MaxInt)
	return r.weight(t)
}

func checkBookkeeping(t *testing.T, c *cache) {
	t.Helper()
	slots, live, cells := 0, 0, 0
	for x, refs := range c.deps {
		slots += len(refs)
		for _, r := range refs {
			if c.live(r) {
				live++
				if !slices.Contains(c.entries[r.src].examined, int32(x)) {
					t.Fatalf("node %d has a live ref to a result that did not examine it", x)
				}
			}
		}
	}
	want := 0
	for _, r := range c.entries {
		want += len(r.examined)
		cells += r.cost()
	}
	if slots != c.depSlots || live != c.liveDeps || live != want || cells != c.cells {
		t.Fatalf("slots %d/%d live %d/%d/%d cells %d/%d", slots, c.depSlots, live, c.liveDeps, want, cells, c.cells)
	}
	if c.depSlots > 2*c.liveDeps+sweepSlack || len(c.entries) > c.maxSources || c.cells > c.maxCells {
		t.Fatalf("bounds exceeded: %d slots, %d live, %d entries, %d cells", c.depSlots, c.liveDeps, len(c.entries), c.cells)
	}
}

// TestCacheChurnWithSmallBudgets repeats the churn with the searches Trust tries first cut
// short, so that answers come from the point query, and from the unbounded search when the
// point query runs out too.
func TestCacheChurnWithSmallBudgets(t *testing.T) {
	for _, b := range []budgets{{search: 0, direct: 1 << 30}, {search: 2, direct: 6}, {search: 8, direct: 0}} {
		t.Run(fmt.Sprintf("%+v", b), func(t *testing.T) {
			g, p := churnGraph(t)
			g.budgets = b
			churn(t, g, p, 20_000)
			if s := g.Stats(); b.direct > 0 && s.Direct == 0 {
				t.Fatalf("no point query answered: %+v", s)
			}
		})
	}
}

// TestDirectMatchesSearch compares the point query with the single-source search for every
// pair of random graphs of several shapes and path bounds, weights chosen to make ties and
// the floors of Mul matter.
func TestDirectMatchesSearch(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 0xd1ec7))
		n := 2 + rng.IntN(30)
		g := NewGraph(1 + rng.IntN(5))
		p := make([]identity.DID, n)
		for i := range p {
			s := sha256.Sum256([]byte{byte(i), byte(seed)})
			k, err := identity.KeyFromSeed(s[:])
			if err != nil {
				t.Fatal(err)
			}
			p[i] = k.DID()
		}
		density := rng.Float64()
		star := rng.IntN(3) == 0 // node 0 trusts and is trusted by everyone, as a federation
		for u := range n {
			for v := range n {
				if u == v || (rng.Float64() > density && !(star && (u == 0 || v == 0))) {
					continue
				}
				w := Weight(rng.IntN(Scale + 1))
				if rng.IntN(3) == 0 {
					w = []Weight{0, 1, 3, 500_000, 999_999, One}[rng.IntN(6)]
				}
				if err := g.Set(Attestation{From: p[u], To: p[v], Weight: w, IssuedAt: 1}); err != nil {
					t.Fatal(err)
				}
			}
		}
		g.budgets.direct = math.MaxInt / 2
		nodes := int32(len(g.names)) // the DIDs some edge names
		for s := range nodes {
			r, _ := g.search(s, math.MaxInt)
			for d := range nodes {
				if s == d {
					continue
				}
				got, ok := g.direct(s, d)
				if !ok || got != r.weight(d) {
					t.Fatalf("seed %d (%d nodes, %d hops): direct(%d, %d) = %v, %v; search %v", seed, n, g.maxHops, s, d, got, ok, r.weight(d))
				}
			}
		}
		for i, b := range g.scratch.best {
			if b != 0 || g.scratch.reached[i/64] != 0 {
				t.Fatalf("seed %d: scratch left dirty at node %d", seed, i)
			}
		}
	}
}
