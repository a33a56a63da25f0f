package trust

import "github.com/icn-coop/icn/identity"

// Path returns a path that carries Trust(from, to), both ends included, and that trust.
// Among the simple paths of at most MaxHops edges whose product equals it, Path picks the one
// with the fewest edges, then the lexicographically smallest sequence of DIDs, so every
// replica gives the same answer. from == to gives [from] and One; when Trust is Zero (no path,
// or only paths whose product is zero) Path returns nil and Zero. Path is not cached: it is
// for explanations, not for hot checks.
func (g *Graph) Path(from, to identity.DID) ([]identity.DID, Weight) {
	if from == to {
		return []identity.DID{from}, One
	}
	want := g.Trust(from, to)
	if want == Zero {
		return nil, Zero
	}
	s, t := g.ids[from], g.ids[to]
	ps := pathSearch{g: g, t: t, want: want, bound: g.bounds(t)}
	// A shortest path achieving the best product is simple (cutting a cycle would give a
	// shorter walk at least as good), so trying lengths in order finds it.
	for k := 1; k <= g.maxHops; k++ {
		ps.path = append(ps.path[:0], s)
		if ps.dfs(s, One, k) {
			names := make([]identity.DID, len(ps.path))
			for i, v := range ps.path {
				names[i] = g.names[v]
			}
			return names, want
		}
	}
	return nil, Zero // unreachable: Trust found a path achieving want
}

// bounds returns bound[r][x], an upper bound on the product of any walk of exactly r edges
// from x to t, in the sense that p.Mul(bound[r][x]) is at least the product of that walk
// continuing a prefix whose product is p. Rounding up (ceilMul) keeps the bound safe under
// the floors that Mul takes at every step.
func (g *Graph) bounds(t int32) [][]Weight {
	bound := make([][]Weight, g.maxHops+1)
	bound[0] = make([]Weight, len(g.names))
	bound[0][t] = One
	layer := []int32{t}
	for r := 1; r <= g.maxHops; r++ {
		bound[r] = make([]Weight, len(g.names))
		var next []int32
		for _, y := range layer {
			for _, e := range g.in[y] {
				w := ceilMul(e.w, bound[r-1][y])
				if w > bound[r][e.peer] {
					if bound[r][e.peer] == 0 {
						next = append(next, e.peer)
					}
					bound[r][e.peer] = w
				}
			}
		}
		layer = next
	}
	return bound
}

// ceilMul returns w×v rounded up to a millionth.
func ceilMul(w, v Weight) Weight { return Weight((uint64(w)*uint64(v) + Scale - 1) / Scale) }

// pathSearch is a depth-first search over simple paths in DID order, pruned by the bounds.
type pathSearch struct {
	g     *Graph
	t     int32
	want  Weight
	bound [][]Weight
	path  []int32
}

// dfs extends ps.path (ending at x, product p) by exactly left edges to reach t with product
// want, trying successors in DID order; on success ps.path holds the path.
func (ps *pathSearch) dfs(x int32, p Weight, left int) bool {
	if left == 0 {
		return x == ps.t && p == ps.want
	}
	for _, e := range ps.g.out[x] {
		q := p.Mul(e.w)
		if q.Mul(ps.bound[left-1][e.peer]) < ps.want || ps.onPath(e.peer) {
			continue
		}
		ps.path = append(ps.path, e.peer)
		if ps.dfs(e.peer, q, left-1) {
			return true
		}
		ps.path = ps.path[:len(ps.path)-1]
	}
	return false
}

// onPath reports whether v is already on the path (at most MaxHops+1 nodes, so a scan).
func (ps *pathSearch) onPath(v int32) bool {
	for _, u := range ps.path {
		if u == v {
			return true
		}
	}
	return false
}
