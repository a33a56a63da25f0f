package trust

// The cache keeps, per source, the single-source search result, and invalidates precisely:
// a result depends only on the out-edges of the nodes the search expanded (its "examined"
// nodes), so a change to u's out-edges drops exactly the results that examined u.
//
// Reverse dependencies (node → results that examined it) are append-only slices of
// (source, stamp) pairs. An entry whose result has been dropped is recognised as stale by its
// stamp and cleared lazily, which keeps inserts and drops cheap; collect bounds the garbage.

// Cache bounds. Eviction is first-in first-out; it costs a recomputation, never an answer.
const (
	maxCachedSources = 4096
	// maxCachedCells bounds the memory of all results: a result costs one cell per slot of
	// its table plus one per node it examined (8 bytes each), so about 32 MiB at most.
	maxCachedCells = 1 << 22
	// sweepSlack is how much stale dependency garbage is tolerated before a sweep.
	sweepSlack = 1 << 16
)

// CacheStats describes the transitive-trust cache. Invalidations counts results dropped
// because an edge they depended on changed (or SetMaxHops); Evictions counts results dropped
// to stay within the cache's bounds. Direct counts the misses answered by a point query
// instead of a single-source search (searches that would read too much, see Trust).
type CacheStats struct {
	Hits, Misses, Invalidations, Evictions, Direct uint64
	Cached                                         int
}

// Stats returns the cache's counters.
func (g *Graph) Stats() CacheStats {
	s := g.cache.stats
	s.Cached = len(g.cache.entries)
	return s
}

// result is the single-source trust from one source to every node it reaches.
type result struct {
	stamp uint32
	// table maps reached nodes to their trust: open addressing with linear probing, each slot
	// (node+1)<<32 | weight, 0 when empty, at most two thirds full. A lookup, hit or miss,
	// usually reads one cache line, where a binary search over a sorted list read ten.
	table    []uint64
	examined []int32 // the nodes whose out-edges the search read
}

// newResult returns a result with room for n reached nodes.
func newResult(n int, examined []int32) *result {
	return &result{table: make([]uint64, n+n/2+1), examined: examined}
}

// home returns the first slot to probe for node in a table of n slots: a Fibonacci hash
// mapped onto [0, n) by multiply-shift, so n need not be a power of two.
func home(node int32, n int) int { return int(uint64(uint32(node)*0x9E3779B1) * uint64(n) >> 32) }

func (r *result) add(node int32, w Weight) {
	i := home(node, len(r.table))
	for r.table[i] != 0 {
		if i++; i == len(r.table) {
			i = 0
		}
	}
	r.table[i] = uint64(node+1)<<32 | uint64(w)
}

// weight returns the trust in node t (Zero if unreached).
func (r *result) weight(t int32) Weight {
	key := uint64(t+1) << 32
	for i := home(t, len(r.table)); ; {
		s := r.table[i]
		if s == 0 {
			return Zero
		}
		if s&^0xFFFF_FFFF == key {
			return Weight(uint32(s))
		}
		if i++; i == len(r.table) {
			i = 0
		}
	}
}

func (r *result) cost() int { return len(r.table) + len(r.examined) }

// ref names one cached result; it is live while entries[src] still has that stamp.
type ref struct {
	src   int32
	stamp uint32
}

type cache struct {
	maxSources, maxCells int // the bounds (fields so that tests can shrink them)
	entries              map[int32]*result
	deps                 [][]ref // by node: results that examined it (may hold stale refs)
	depSlots             int     // total refs held in deps
	liveDeps             int     // refs in deps that are live (sum of len(examined))
	fifo                 []ref   // insertion order, for eviction (may hold stale refs)
	cells                int
	lastStamp            uint32
	stats                CacheStats
}

func newCache() cache {
	return cache{maxSources: maxCachedSources, maxCells: maxCachedCells, entries: map[int32]*result{}}
}

// grow makes room for the dependencies of n nodes.
func (c *cache) grow(n int) {
	for len(c.deps) < n {
		c.deps = append(c.deps, nil)
	}
}

func (c *cache) live(r ref) bool {
	e := c.entries[r.src]
	return e != nil && e.stamp == r.stamp
}

// get returns the cached result for src, counting a hit or a miss.
func (c *cache) get(src int32) *result {
	if r := c.entries[src]; r != nil {
		c.stats.Hits++
		return r
	}
	c.stats.Misses++
	return nil
}

// put caches r as the result for src, evicting the oldest results to stay within bounds.
// A result too large for the whole budget is simply not cached.
func (c *cache) put(src int32, r *result) {
	if r.cost() > c.maxCells {
		return
	}
	c.lastStamp++
	if c.lastStamp == 0 { // wrapped: old refs could now look live, so start afresh
		c.reset()
		c.lastStamp = 1
	}
	for len(c.entries) >= c.maxSources || c.cells+r.cost() > c.maxCells {
		c.evictOldest()
	}
	r.stamp = c.lastStamp
	c.entries[src] = r
	c.cells += r.cost()
	me := ref{src, r.stamp}
	c.fifo = append(c.fifo, me)
	for _, x := range r.examined {
		c.deps[x] = append(c.deps[x], me)
	}
	c.depSlots += len(r.examined)
	c.liveDeps += len(r.examined)
	c.collect()
}

// drop removes src's result; its refs in deps and fifo become stale.
func (c *cache) drop(src int32) {
	r := c.entries[src]
	delete(c.entries, src)
	c.cells -= r.cost()
	c.liveDeps -= len(r.examined)
}

func (c *cache) evictOldest() {
	for i, r := range c.fifo {
		if c.live(r) {
			c.fifo = c.fifo[i+1:]
			c.drop(r.src)
			c.stats.Evictions++
			return
		}
	}
	c.fifo = c.fifo[:0]
}

// invalidate drops every result that examined u's out-edges.
func (c *cache) invalidate(u int32) {
	refs := c.deps[u]
	c.deps[u] = refs[:0]
	c.depSlots -= len(refs)
	for _, r := range refs {
		if c.live(r) {
			// a result examines each node once, so r is not dropped twice
			c.drop(r.src)
			c.stats.Invalidations++
		}
	}
}

// clear drops every result (the refs left behind are stale and collected later).
func (c *cache) clear() {
	c.stats.Invalidations += uint64(len(c.entries))
	clear(c.entries)
	c.fifo = c.fifo[:0]
	c.cells, c.liveDeps = 0, 0
	c.collect()
}

// reset forgets everything, stale refs included.
func (c *cache) reset() {
	c.clear()
	for i := range c.deps {
		c.deps[i] = nil
	}
	c.depSlots = 0
}

// collect removes stale refs once they outnumber live ones (plus slack), so each sweep pays
// for itself and garbage stays proportional to what the cache holds.
func (c *cache) collect() {
	if len(c.fifo) > 2*len(c.entries)+sweepSlack/64 {
		c.fifo = c.keepLive(c.fifo)
	}
	if c.depSlots <= 2*c.liveDeps+sweepSlack {
		return
	}
	c.depSlots = 0
	for i, refs := range c.deps {
		refs = c.keepLive(refs)
		if cap(refs) > 4*len(refs)+8 {
			refs = append([]ref(nil), refs...) // give back memory from a once-popular node
		}
		c.deps[i] = refs
		c.depSlots += len(refs)
	}
}

// keepLive filters refs in place, keeping the live ones in order.
func (c *cache) keepLive(refs []ref) []ref {
	kept := refs[:0]
	for _, r := range refs {
		if c.live(r) {
			kept = append(kept, r)
		}
	}
	return kept
}
