package trust

// direct answers Trust(s, t), s ≠ t, without a single-source search, or reports false if that
// would read more than the direct budget of edges. Every walk of at most h = MaxHops edges
// ends with an edge y→t, and the best walk to y of at most h-1 edges is either one of at most
// h-2 edges or one of those extended by an edge x→y. So only the walks of at most h-2 edges
// from s are needed (the prefix), and only at t's in-neighbours and theirs: for a co-op whose
// federation trusts thousands, that is a handful of edges where the search reads them all.
// Products are taken in path order, as the search takes them, so the answers are equal.
func (g *Graph) direct(s, t int32) (Weight, bool) {
	best := g.edgeWeight(s, t)
	if g.maxHops == 1 {
		return best, true
	}
	in := g.in[t]
	budget := g.budgets.direct - len(in)
	if budget < 0 {
		return Zero, false
	}
	pre, ok := g.newPrefix(s, g.maxHops-2, &budget)
	if !ok {
		return Zero, false
	}
	defer pre.release()
	for _, e := range in {
		y := e.peer
		if y == s {
			continue // the edge s→t, counted above
		}
		ry, ok := pre.extend(y, &budget)
		if !ok {
			return Zero, false
		}
		best = max(best, ry.Mul(e.w))
	}
	return best, true
}

// edgeWeight is the weight of u→v, Zero if there is none.
func (g *Graph) edgeWeight(u, v int32) Weight {
	if i, ok := find(g.out[u], g.names[v], g.names); ok {
		return g.out[u][i].w
	}
	return Zero
}

// prefix is the best trust from s over walks of at most rounds edges, by node. One round is
// read from s's out-list as needed (so a federation trusting thousands costs nothing to set
// up); more rounds run the search's first rounds into the scratch.
type prefix struct {
	g      *Graph
	s      int32
	rounds int
	nodes  []int32 // rounds >= 2: the nodes reached
}

func (g *Graph) newPrefix(s int32, rounds int, budget *int) (*prefix, bool) {
	p := &prefix{g: g, s: s, rounds: rounds}
	if rounds < 2 {
		return p, true
	}
	if _, ok := g.expand(s, rounds, budget); !ok {
		g.scratch.clearReached()
		return nil, false
	}
	p.nodes = g.scratch.reachedNodes(nil)
	return p, true
}

// at is the prefix's trust in x.
func (p *prefix) at(x int32) Weight {
	switch {
	case x == p.s:
		return One
	case p.rounds == 0:
		return Zero
	case p.rounds == 1:
		return p.g.edgeWeight(p.s, x)
	}
	return p.g.scratch.best[x]
}

// size is the number of nodes the prefix reaches (an upper bound for one round).
func (p *prefix) size() int {
	switch p.rounds {
	case 0:
		return 1
	case 1:
		return 1 + len(p.g.out[p.s])
	}
	return len(p.nodes)
}

// each calls fn for every node the prefix reaches, with its trust.
func (p *prefix) each(fn func(x int32, w Weight)) {
	switch p.rounds {
	case 0:
		fn(p.s, One)
	case 1:
		fn(p.s, One)
		for _, e := range p.g.out[p.s] {
			fn(e.peer, e.w)
		}
	default:
		for _, x := range p.nodes {
			fn(x, p.g.scratch.best[x])
		}
	}
}

// extend returns the best trust in y over walks of at most rounds+1 edges: the prefix's, or
// the prefix's in some x times x→y. It reads whichever is shorter, the prefix's nodes (one
// lookup in each one's out-list) or y's in-list, and counts it against *budget.
func (p *prefix) extend(y int32, budget *int) (Weight, bool) {
	g := p.g
	best := p.at(y)
	if n := p.size(); n <= len(g.in[y]) {
		if *budget -= n; *budget < 0 {
			return Zero, false
		}
		p.each(func(x int32, w Weight) {
			if x != y {
				best = max(best, w.Mul(g.edgeWeight(x, y)))
			}
		})
		return best, true
	}
	if *budget -= len(g.in[y]); *budget < 0 {
		return Zero, false
	}
	for _, e := range g.in[y] {
		best = max(best, p.at(e.peer).Mul(e.w))
	}
	return best, true
}

// release clears what the prefix left in the scratch.
func (p *prefix) release() {
	if p.rounds >= 2 {
		p.g.scratch.clearReached()
	}
}
