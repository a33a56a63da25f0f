package trust

import (
	"math"
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
	if r := g.cache.get(s); r != nil {
		return r.weight(t)
	}
	// A search that reads few edges gives a small result worth keeping. One that would read
	// many (from a co-op, through a federation trusting thousands) is answered by the point
	// query instead: caching such results costs O(co-ops) per source and thrashes the cache.
	if r, ok := g.search(s, g.budgets.search); ok {
		g.cache.put(s, r)
		return r.weight(t)
	}
	if w, ok := g.direct(s, t); ok {
		g.cache.stats.Direct++
		return w
	}
	r, _ := g.search(s, math.MaxInt)
	g.cache.put(s, r)
	return r.weight(t)
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
//
// A search that would read more than budget edges stops and returns false.
func (g *Graph) search(s int32, budget int) (*result, bool) {
	examined, ok := g.expand(s, g.maxHops, &budget)
	if !ok {
		g.scratch.clearReached()
		return nil, false
	}
	return g.scratch.collect(examined), true
}

// expand runs the first rounds of the search from s, leaving best (and reached) in the
// scratch, and returns the nodes it examined; false if it would read more than *budget edges
// (the scratch then needs clearReached).
func (g *Graph) expand(s int32, rounds int, budget *int) ([]int32, bool) {
	sc := &g.scratch
	sc.grow(len(g.names))
	examined := []int32{s}
	tick := sc.nextTick()
	sc.seen[s] = tick
	sc.set(s, One)
	sc.frontier = append(sc.frontier[:0], step{s, One})
	for hop := 1; hop <= rounds && len(sc.frontier) > 0; hop++ {
		if !g.relax(hop < rounds, budget) {
			return nil, false
		}
		sc.frontier = sc.frontier[:0]
		for _, v := range sc.next {
			sc.frontier = append(sc.frontier, step{v, sc.best[v]})
			if sc.seen[v] != tick {
				sc.seen[v] = tick
				examined = append(examined, v)
			}
		}
	}
	return examined, true
}

// relax runs one round from the frontier into sc.next (filled only if expand: a node reached
// in the last round is never expanded, so its out-edges are not examined). It reads at most
// *budget edges, counting them off, and returns false before a list that would exceed it.
func (g *Graph) relax(expand bool, budget *int) bool {
	sc := &g.scratch
	sc.next = sc.next[:0]
	tick := sc.nextTick()
	for _, f := range sc.frontier {
		out := g.out[f.node]
		if *budget -= len(out); *budget < 0 {
			return false
		}
		for _, e := range out {
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
	return true
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

// clearReached clears best and reached, as collect does, for a search abandoned midway.
func (sc *scratch) clearReached() {
	for i, word := range sc.reached {
		for word != 0 {
			sc.best[i*64+bits.TrailingZeros64(word)] = 0
			word &= word - 1
		}
		sc.reached[i] = 0
	}
}

// reachedNodes appends the nodes with best > 0 to dst.
func (sc *scratch) reachedNodes(dst []int32) []int32 {
	for i, word := range sc.reached {
		for word != 0 {
			dst = append(dst, int32(i*64+bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
	return dst
}
