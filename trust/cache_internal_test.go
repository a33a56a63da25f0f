package trust

import (
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// TestCacheBookkeeping churns a small graph long enough for stale references to be swept
// several times, and checks the cache's internal accounting and answers as it goes.
func TestCacheBookkeeping(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	const n = 12
	p := make([]identity.DID, n)
	for i := range p {
		pub := sha256.Sum256([]byte{byte(i)})
		p[i] = identity.DIDFromKey(pub[:])
	}
	g := NewGraph(3)
	// The out-edges of the first half never change after this, so references to them pile up
	// (results that examined them are dropped through the second half) until a sweep.
	for u := range n / 2 {
		for v := range n {
			if u != v && rng.IntN(2) == 0 {
				if err := g.Set(Attestation{From: p[u], To: p[v], Weight: Weight(rng.IntN(Scale + 1)), IssuedAt: 1}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	swept := 0
	for op := range 300_000 {
		u, v := rng.IntN(n), rng.IntN(n)
		if rng.IntN(3) == 0 && u != v && u >= n/2 {
			err := g.Set(Attestation{From: p[u], To: p[v], Weight: Weight(rng.IntN(Scale + 1)), IssuedAt: int64(op + 1)})
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
	t.Logf("%d sweeps, %+v", swept, g.Stats())
	if swept == 0 {
		t.Fatal("no sweep happened; the test does not exercise collect")
	}
}

func uncached(g *Graph, from, to identity.DID) Weight {
	s, ok1 := g.ids[from]
	t, ok2 := g.ids[to]
	if from == to || !ok1 || !ok2 {
		return g.Trust(from, to) // no search involved
	}
	return g.search(s).weight(t)
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
	if c.depSlots > 2*c.liveDeps+sweepSlack {
		t.Fatalf("garbage not collected: %d slots, %d live", c.depSlots, c.liveDeps)
	}
}
