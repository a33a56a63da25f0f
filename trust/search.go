package trust

import (
	"math/bits"

	"github.com/icn-coop/icn/identity"
)

// Trust returns the transitive trust of from in to: the best (largest) product of edge
// weights, multiplied in path order with Weight.Mul, over the paths of at most MaxHops edges.
// from == to gives One; no path gives Zero. Trust fills the cache (see Graph).
func (g *Graph) Trust(from, to identity.DID) Weight {
	if from == to {
		return One
	}
	s, ok := g.ids[from]
	if !ok {
		return Zero
	}
	t, ok := g.ids[to]
	if !ok {
		return Zero
	}
	return g.reach(s).weight(t)
}

// reach returns the single-source result for s, from the cache or freshly computed.
func (g *Graph) reach(s int32) *result {
	if r := g.cache.get(s); r != nil {
		return r
	}
	r := g.search(s)
	g.cache.put(s, r)
	return r
}

// scratch is reused by every search so that a cold query allocates only its result.
// Between searches best is all zero and reached all clear.
type scratch struct {
	best     []Weight // best trust found so far, by node
	reached  []uint64 // bitset: best[v] > 0
	queued   []uint32 // queued[v] == tick: v is already in next for this round
	seen     []uint32 // seen[v] == tick: v is already in this search's examined list
	tick     uint32
	frontier []step
	next     []int32
}

// step is a frontier node with its trust as it stood at the end of the previous round.
type step struct {
	node int32
	w    Weight
}

func (sc *scratch) grow(n int) {
	for len(sc.best) < n {
		sc.best = append(sc.best, 0)
		sc.queued = append(sc.queued, 0)
		sc.seen = append(sc.seen, 0)
	}
	for len(sc.reached)*64 < n {
		sc.reached = append(sc.reached, 0)
	}
}

// nextTick returns a fresh mark value, clearing the marks when the counter wraps.
func (sc *scratch) nextTick() uint32 {
	sc.tick++
	if sc.tick == 0 {
		clear(sc.queued)
		clear(sc.seen)
		sc.tick = 1
	}
	return sc.tick
}

// search is a hop-bounded Bellman-Ford from s. After round k, best[v] is the best product over
// walks of at most k edges; only nodes improved in round k (the frontier) can improve others
// in round k+1. Walks suffice: every weight is at most One and Mul is monotone, so cutting a
// cycle out of a walk never lowers its product and the best walk is a simple path. Frontier
// values are taken at the end of a round so that no round extends a walk twice.
func (g *Graph) search(s int32) *result {
	sc := &g.scratch
	sc.grow(len(g.names))
	examined := []int32{s}
	tick := sc.nextTick()
	sc.seen[s] = tick
	sc.set(s, One)
	sc.frontier = append(sc.frontier[:0], step{s, One})
	for hop := 1; hop <= g.maxHops && len(sc.frontier) > 0; hop++ {
		g.relax(hop < g.maxHops)
		sc.frontier = sc.frontier[:0]
		for _, v := range sc.next {
			sc.frontier = append(sc.frontier, step{v, sc.best[v]})
			if sc.seen[v] != tick {
				sc.seen[v] = tick
				examined = append(examined, v)
			}
		}
	}
	return sc.collect(examined)
}

// relax runs one round from the frontier into sc.next (filled only if expand: a node reached
// in the last round is never expanded, so its out-edges are not examined).
func (g *Graph) relax(expand bool) {
	sc := &g.scratch
	sc.next = sc.next[:0]
	tick := sc.nextTick()
	for _, f := range sc.frontier {
		for _, e := range g.out[f.node] {
			w := f.w.Mul(e.w)
			if w <= sc.best[e.peer] {
				continue
			}
			sc.set(e.peer, w)
			if expand && sc.queued[e.peer] != tick {
				sc.queued[e.peer] = tick
				sc.next = append(sc.next, e.peer)
			}
		}
	}
}

func (sc *scratch) set(v int32, w Weight) {
	sc.best[v] = w
	sc.reached[v>>6] |= 1 << (v & 63)
}

// collect moves the reached nodes into a result and clears the scratch, in O(nodes/64 +
// reached) by walking the bitset.
func (sc *scratch) collect(examined []int32) *result {
	n := 0
	for _, word := range sc.reached {
		n += bits.OnesCount64(word)
	}
	r := newResult(n, examined)
	for i, word := range sc.reached {
		for word != 0 {
			v := int32(i*64 + bits.TrailingZeros64(word))
			word &= word - 1
			r.add(v, sc.best[v])
			sc.best[v] = 0
		}
		sc.reached[i] = 0
	}
	return r
}
