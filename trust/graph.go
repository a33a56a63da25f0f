package trust

import (
	"fmt"
	"slices"
	"strings"

	"github.com/icn-coop/icn/identity"
)

// DefaultMaxHops bounds the length of the paths that transitive trust follows.
const DefaultMaxHops = 3

// Edge is one attestation as the graph holds it.
type Edge struct {
	From, To identity.DID
	Weight   Weight
	IssuedAt int64
}

// half is one end of an edge as seen from the other end: peer is To in an out-list and From
// in an in-list.
type half struct {
	peer int32
	w    Weight
	at   int64
}

// Graph is the directed trust graph with a cache of transitive-trust results.
//
// A Graph is not safe for concurrent use, and that includes the queries: Trust and Path fill
// the cache, so even a read needs exclusive access (the hub's FSM serialises all calls).
// Results depend only on the set of edges held, never on the order they were added.
type Graph struct {
	maxHops int
	ids     map[identity.DID]int32 // DID → dense index into names, out, in
	names   []identity.DID
	out     [][]half // by From index, each sorted by To's DID
	in      [][]half // by To index, each sorted by From's DID
	edges   int
	cache   cache
	scratch scratch
	budgets budgets
}

// budgets bound, in edges read, the searches Trust tries before the unbounded one (fields so
// that tests can shrink them). They change the cost of an answer, never the answer.
type budgets struct {
	search int // a cached single-source search: about what a result the cache keeps costs
	direct int // the point query
}

var defaultBudgets = budgets{search: 4096, direct: 1024}

// NewGraph returns an empty graph whose transitive trust follows paths of at most maxHops
// edges. maxHops < 1 is a programming error and panics.
func NewGraph(maxHops int) *Graph {
	checkHops(maxHops)
	return &Graph{maxHops: maxHops, ids: map[identity.DID]int32{}, cache: newCache(), budgets: defaultBudgets}
}

func checkHops(n int) {
	if n < 1 {
		panic(fmt.Sprintf("trust: max hops %d, must be at least 1", n))
	}
}

// MaxHops returns the longest path, in edges, that transitive trust follows.
func (g *Graph) MaxHops() int { return g.maxHops }

// SetMaxHops changes the path bound; every cached result depends on it, so all are dropped.
// n < 1 panics, as in NewGraph.
func (g *Graph) SetMaxHops(n int) {
	checkHops(n)
	g.maxHops = n
	g.cache.clear()
}

// Len returns the number of edges.
func (g *Graph) Len() int { return g.edges }

// Set records a, replacing the edge (From, To) if a is newer than it. A weight of 0 is a real
// edge ("explicitly no trust"). Errors: whatever a.Validate reports (ErrAttestation, with
// ErrSelfTrust or ErrWeight as the cause), and ErrStale if the edge held was issued at the
// same time or later.
func (g *Graph) Set(a Attestation) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("set trust edge: %w", err)
	}
	old, exists := g.Edge(a.From, a.To)
	if exists && old.IssuedAt >= a.IssuedAt {
		return fmt.Errorf("set trust edge %s→%s: issued at %d, held since %d: %w",
			a.From.Short(), a.To.Short(), a.IssuedAt, old.IssuedAt, ErrStale)
	}
	u, v := g.intern(a.From), g.intern(a.To)
	g.out[u] = upsert(g.out[u], half{v, a.Weight, a.IssuedAt}, g.names)
	g.in[v] = upsert(g.in[v], half{u, a.Weight, a.IssuedAt}, g.names)
	if !exists {
		g.edges++
	}
	// A missing edge and a zero edge never improve a product, so the search cannot tell them
	// apart: only a change of effective weight can change a cached result.
	if old.Weight != a.Weight {
		g.cache.invalidate(u)
	}
	return nil
}

// intern returns d's dense index, adding d if it is new.
func (g *Graph) intern(d identity.DID) int32 {
	if i, ok := g.ids[d]; ok {
		return i
	}
	i := int32(len(g.names))
	g.ids[d] = i
	g.names = append(g.names, d)
	g.out = append(g.out, nil)
	g.in = append(g.in, nil)
	g.cache.grow(len(g.names))
	return i
}

// find locates the half-edge to peer d in a list sorted by peer DID.
func find(list []half, d identity.DID, names []identity.DID) (int, bool) {
	return slices.BinarySearchFunc(list, d, func(h half, d identity.DID) int {
		return strings.Compare(string(names[h.peer]), string(d))
	})
}

// upsert replaces the half-edge to h.peer or inserts it in DID order.
func upsert(list []half, h half, names []identity.DID) []half {
	i, ok := find(list, names[h.peer], names)
	if ok {
		list[i] = h
		return list
	}
	return slices.Insert(list, i, h)
}

// Edge returns the edge from → to, if there is one.
func (g *Graph) Edge(from, to identity.DID) (Edge, bool) {
	u, ok := g.ids[from]
	if !ok {
		return Edge{}, false
	}
	i, ok := find(g.out[u], to, g.names)
	if !ok {
		return Edge{}, false
	}
	h := g.out[u][i]
	return Edge{From: from, To: to, Weight: h.w, IssuedAt: h.at}, true
}

// Out returns the edges leaving from, sorted by To.
func (g *Graph) Out(from identity.DID) []Edge {
	u, ok := g.ids[from]
	if !ok {
		return nil
	}
	return g.appendOut(nil, u)
}

func (g *Graph) appendOut(dst []Edge, u int32) []Edge {
	for _, h := range g.out[u] {
		dst = append(dst, Edge{From: g.names[u], To: g.names[h.peer], Weight: h.w, IssuedAt: h.at})
	}
	return dst
}

// In returns the edges arriving at to, sorted by From.
func (g *Graph) In(to identity.DID) []Edge {
	v, ok := g.ids[to]
	if !ok {
		return nil
	}
	edges := make([]Edge, 0, len(g.in[v]))
	for _, h := range g.in[v] {
		edges = append(edges, Edge{From: g.names[h.peer], To: to, Weight: h.w, IssuedAt: h.at})
	}
	return edges
}

// Edges returns every edge sorted by (From, To), the order snapshots and state hashes use.
func (g *Graph) Edges() []Edge {
	order := make([]int32, len(g.names))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(string(g.names[a]), string(g.names[b])) })
	edges := make([]Edge, 0, g.edges)
	for _, u := range order {
		edges = g.appendOut(edges, u)
	}
	return edges
}
