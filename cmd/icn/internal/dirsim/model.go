package dirsim

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	pstore "github.com/libp2p/go-libp2p/p2p/host/peerstore"
)

// This file is a model of the kad-dht the directory runs
// (github.com/libp2p/go-libp2p-kad-dht v0.42.2, the version in go.mod), for
// networks too large to run as real nodes in one process. It is a model, not
// the DHT: no libp2p hosts, no messages, no record signatures, no clock.
// What it keeps from the real thing:
//
//   - Each node's routing table is a real go-libp2p-kbucket RoutingTable
//     (bucket size k = 20, the table kad-dht builds), over the nodes' real
//     peer ids (from their Ed25519 keys) and kbucket's XOR distance
//     (ConvertPeerID, ConvertKey, NearestPeers).
//   - A table is filled as kad-dht fills it: a node adds a peer it queried
//     successfully (validPeerFound) and a peer that queried it, if the table
//     has room for it (peerFound, then a lookup check that succeeds: no node
//     is ever down); a peer added while the node is bootstrapping (its table
//     was empty and no refresh has finished since) is replaceable, as
//     rtPeerLoop marks it; a node joins by connecting to its bootstrap peers,
//     then runs kad-dht's refresh (rtrefresh.doRefresh: a lookup of its own
//     id, then of a random key in each tracked common-prefix length, with the
//     gap rule), and once that refresh finishes, the second one rtPeerLoop
//     asks for.
//   - A lookup is query.go's: the k closest peers of the origin's table seed
//     it; alpha = 10 queries in flight (amino.DefaultConcurrency), each to the closest peer only heard
//     of; each answer is the answering node's closestPeersToQuery (its k
//     closest but itself and the asker); the lookup ends when the beta = 3
//     closest peers not unreachable have all answered (or nothing is left to
//     ask), waits for the queries still in flight, then sends the follow-up
//     queries of runLookupWithFollowup to the k closest it heard of but did
//     not hear from, all at once, and waits for them.
//   - GetValue is routing.go's: a GET_VALUE lookup whose answers carry the
//     record if the answering node holds it; with the quorum of v0.42.2
//     (0) it never stops early, so it ends with the lookup and its follow-up;
//     afterwards the k closest that did not return it are sent it
//     (updatePeerValues). PutValue is a FIND_NODE lookup (GetClosestPeers)
//     and a store on the k closest it returns, and on the publisher.
//
// Time is virtual: each query takes a time drawn from the query times of a
// real DHT run (Timing: dial, request, answer, replayed lookup by lookup), an
// answer carrying the record the measured time of checking it more, and the
// lookup is a discrete-event run on that clock with alpha queries in flight. CPU time spent between queries is not
// in it, nor churn, dial failures, message loss or the record cache.

// Kademlia parameters of go-libp2p-kad-dht v0.42.2 (amino.DefaultBucketSize,
// DefaultConcurrency, DefaultResiliency; the GetValue quorum of
// internal/config/quorum.go).
const (
	ModelBucketSize = 20
	ModelAlpha      = 10
	ModelBeta       = 3
	ModelQuorum     = 0
)

// QueryTimes is a distribution of query times, sorted.
type QueryTimes []time.Duration

// Quantile is q's p-quantile (0 ≤ p ≤ 1).
func (q QueryTimes) Quantile(p float64) time.Duration {
	if len(q) == 0 {
		return 0
	}
	return q[min(len(q)-1, int(p*float64(len(q))))]
}

// Timing is what the model's query times come from: the answered queries'
// times (dial, request, answer) of each lookup of a real run, one slice per
// lookup, in the order the lookup sent them. A model lookup replays one
// real lookup picked at random: its i-th query takes the i-th time of that
// lookup (past its end, one of its times drawn at random). A lookup that ran
// while the machine stalled so lends its slow queries to one model lookup,
// at the stage of the lookup where they came. An answer carrying the record
// takes Check more: the asker checks the record (getValues' Validate) before
// its query loop takes the answer in.
type Timing struct {
	Lookups [][]time.Duration
	Check   time.Duration
}

// Pooled is every query time of t, sorted.
func (t Timing) Pooled() QueryTimes {
	var all QueryTimes
	for _, l := range t.Lookups {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

// replay hands out one real lookup's query times (1 ms each without any).
type replay struct {
	times []time.Duration
	next  int
	rng   *rand.Rand
}

func (t Timing) replay(rng *rand.Rand) *replay {
	r := &replay{rng: rng}
	if len(t.Lookups) > 0 {
		r.times = t.Lookups[rng.IntN(len(t.Lookups))]
	}
	return r
}

func (r *replay) draw() time.Duration {
	switch {
	case len(r.times) == 0:
		return time.Millisecond
	case r.next < len(r.times):
		r.next++
		return r.times[r.next-1]
	}
	return r.times[r.rng.IntN(len(r.times))]
}

type modelNode struct {
	id            peer.ID
	kid           kb.ID
	rt            *kb.RoutingTable
	bootstrapping bool // rtPeerLoop's isBootsrapping
	refreshes     int  // refreshes finished since the table was last empty (bootstrapCount)
	store         map[string]struct{}
}

// Model is a simulated kad-dht network of real routing tables.
type Model struct {
	nodes  []*modelNode
	index  map[peer.ID]int
	rng    *rand.Rand
	timing Timing
	quorum int
}

// ModelLookup is what one simulated lookup did.
type ModelLookup struct {
	Found   bool          // GetValue: some node returned the record
	Queries int           // queries sent, follow-ups included (kad-dht's SendingQuery events)
	Latency time.Duration // virtual time from the start to the end of GetValue or GetClosestPeers
	Closest []int         // the k closest nodes the lookup ended with, closest first
}

// NewModel is a network of the nodes with the given peer ids, each with an
// empty routing table, its query times from timing (none: 1 ms each); seed
// seeds every random draw, so a model built the same way gives the same
// results.
func NewModel(ids []peer.ID, timing Timing, seed uint64) (*Model, error) {
	m := &Model{index: make(map[peer.ID]int, len(ids)), rng: rand.New(rand.NewPCG(seed, 0x6b6164)), timing: timing, quorum: ModelQuorum}
	metrics := pstore.NewMetrics() // no latencies recorded: no peer is rejected as slow
	for i, id := range ids {
		if _, dup := m.index[id]; dup {
			return nil, fmt.Errorf("dirsim: model: peer %s twice", id)
		}
		kid := kb.ConvertPeerID(id)
		// The arguments kad-dht's makeRoutingTable passes (no diversity
		// filter: the directory sets none).
		rt, err := kb.NewRoutingTable(ModelBucketSize, kid, time.Minute, metrics, 2*time.Minute, nil)
		if err != nil {
			return nil, err
		}
		m.index[id] = i
		m.nodes = append(m.nodes, &modelNode{id: id, kid: kid, rt: rt, store: map[string]struct{}{}})
	}
	return m, nil
}

// Len is the number of nodes.
func (m *Model) Len() int { return len(m.nodes) }

// TableSize is node i's routing table size.
func (m *Model) TableSize(i int) int { return m.nodes[i].rt.Size() }

// Holds reports whether node i stores the record under key.
func (m *Model) Holds(i int, key string) bool {
	_, ok := m.nodes[i].store[key]
	return ok
}

// add is rtPeerLoop receiving p from validPeerFound: the first peer of an
// empty table starts bootstrapping, during which added peers are replaceable.
func (m *Model) add(n *modelNode, p int) {
	if n.rt.Size() == 0 {
		n.bootstrapping, n.refreshes = true, 0
	}
	_, _ = n.rt.TryAddPeer(m.nodes[p].id, true, n.bootstrapping)
}

// found is peerFound: a peer that connected (it queried this node) is added
// if the table has a place for it; its lookup check always succeeds here.
func (m *Model) found(n *modelNode, p int) {
	if n.rt.UsefulNewPeer(m.nodes[p].id) {
		m.add(n, p)
	}
}

// answered is what a successful query from a to b changes in their tables.
func (m *Model) answered(a, b int) {
	m.add(m.nodes[a], b)
	m.found(m.nodes[b], a)
}

// Join connects node i to its bootstrap peers (each adds the other, as the
// connection's identify and lookup check do) and runs the refreshes a new
// kad-dht node runs: the one Bootstrap asks for, then, if it finished, the
// one rtPeerLoop asks for when bootstrapping ends.
func (m *Model) Join(i int, bootstrap []int) {
	for _, j := range bootstrap {
		m.add(m.nodes[i], j)
		m.found(m.nodes[j], i)
	}
	m.Refresh(i, false)
}

// Refresh is one routing-table refresh of node i (forced: every tracked
// bucket, as ForceRefresh; else the buckets never refreshed, the others
// being within the refresh interval) and what rtPeerLoop does when it
// finishes: count it, and end bootstrapping with one more refresh.
func (m *Model) Refresh(i int, forced bool) {
	n := m.nodes[i]
	if !m.doRefresh(i, forced) {
		return
	}
	n.refreshes++
	if n.bootstrapping {
		n.bootstrapping = false
		m.Refresh(i, false)
	}
}

// Settle is what a minute after the network came up does: rtPeerLoop marks
// every peer irreplaceable in the tables of nodes that finished two
// refreshes.
func (m *Model) Settle() {
	for _, n := range m.nodes {
		if n.refreshes >= 2 {
			n.rt.MarkAllPeersIrreplaceable()
		}
	}
}

// doRefresh is rtrefresh.doRefresh; it reports whether the refresh finished
// (signalled refreshDoneCh: the gap rule returns before that).
func (m *Model) doRefresh(i int, forced bool) bool {
	n := m.nodes[i]
	_, _ = m.lookup(i, n.kid, "", false) // queryForSelf: GetClosestPeers(self)
	cpls := n.rt.GetTrackedCplsForRefresh()
	refresh := func(c int) error {
		if !forced && !cpls[c].IsZero() {
			return nil // refreshed within the interval (the model has no clock)
		}
		_, err := m.lookup(i, m.randomKey(n.kid, uint(c)), "", false)
		return err
	}
	for c := range cpls {
		if err := refresh(c); err != nil {
			continue
		}
		if n.rt.NPeersForCpl(uint(c)) == 0 {
			last := min(2*(c+1), len(cpls)-1)
			for j := c + 1; j <= last; j++ {
				_ = refresh(j)
			}
			return false
		}
	}
	return true
}

// randomKey is kbucket's GenRandomKey with the model's random source: the
// first cpl bits of local, the next one flipped, the rest random.
func (m *Model) randomKey(local kb.ID, cpl uint) kb.ID {
	out := make([]byte, len(local))
	off := cpl / 8
	copy(out, local[:off])
	for j := off; j < uint(len(out)); j++ {
		out[j] = byte(m.rng.Uint32())
	}
	remaining := 8 - cpl%8
	orig := local[off]
	origMask := ^uint8(0) << remaining
	randMask := ^origMask >> 1
	flipped := uint8(1) << (remaining - 1)
	out[off] = orig&origMask | (orig & flipped) ^ flipped | out[off]&randMask
	return kb.ID(out)
}

// Publish is node i's PutValue of a record under key: GetClosestPeers(key),
// then a store on the peers it returns and on i itself.
func (m *Model) Publish(i int, key string) (ModelLookup, error) {
	m.nodes[i].store[key] = struct{}{}
	l, err := m.lookup(i, kb.ConvertKey(key), "", false)
	if err != nil {
		return l, err
	}
	for _, p := range l.Closest {
		m.nodes[p].store[key] = struct{}{}
	}
	return l, nil
}

// GetValue is node i's GetValue(key).
func (m *Model) GetValue(i int, key string) (ModelLookup, error) {
	return m.lookup(i, kb.ConvertKey(key), key, true)
}

// ClosestNodes are the k nodes closest to key by XOR distance, closest first:
// where a perfect PutValue would store it.
func (m *Model) ClosestNodes(key string, k int) []int {
	target := kb.ConvertKey(key)
	type nd struct {
		i int
		d kb.ID
	}
	all := make([]nd, len(m.nodes))
	for i, n := range m.nodes {
		all[i] = nd{i, kb.Xor(n.kid, target)}
	}
	slices.SortFunc(all, func(a, b nd) int { return bytes.Compare(a.d, b.d) })
	out := make([]int, min(k, len(all)))
	for i := range out {
		out[i] = all[i].i
	}
	return out
}

// qpeerset's states.
const (
	stHeard = iota
	stWaiting
	stQueried
	stUnreachable // never reached: no node fails in the model
)

type qpeer struct {
	node  int
	dist  kb.ID
	state int
}

// qpeers is qpeerset.QueryPeerset: the lookup's peers, closest to the
// target first.
type qpeers struct {
	all    []qpeer
	has    map[int]struct{}
	target kb.ID
}

func (q *qpeers) tryAdd(m *Model, p int) {
	if _, ok := q.has[p]; ok {
		return
	}
	q.has[p] = struct{}{}
	d := kb.Xor(m.nodes[p].kid, q.target)
	at, _ := slices.BinarySearchFunc(q.all, d, func(e qpeer, d kb.ID) int { return bytes.Compare(e.dist, d) })
	q.all = slices.Insert(q.all, at, qpeer{node: p, dist: d})
}

func (q *qpeers) set(p, state int) {
	for i := range q.all {
		if q.all[i].node == p {
			q.all[i].state = state
			return
		}
	}
}

// closest is GetClosestNInStates.
func (q *qpeers) closest(n int, states ...int) []int {
	var out []int
	for _, e := range q.all {
		if len(out) == n {
			break
		}
		if slices.Contains(states, e.state) {
			out = append(out, e.node)
		}
	}
	return out
}

func (q *qpeers) count(state int) int {
	c := 0
	for _, e := range q.all {
		if e.state == state {
			c++
		}
	}
	return c
}

type flight struct {
	node int
	done time.Duration
	seq  int
}

// errLookupFailure is kbucket's ErrLookupFailure: the origin's table is empty.
var errLookupFailure = kb.ErrLookupFailure

// lookup is runLookupWithFollowup from node from toward target, with the
// GET_VALUE query function for key if getValue, else FIND_NODE.
func (m *Model) lookup(from int, target kb.ID, key string, getValue bool) (ModelLookup, error) {
	var res ModelLookup
	origin := m.nodes[from]
	seeds := origin.rt.NearestPeers(target, ModelBucketSize)
	if len(seeds) == 0 {
		return res, errLookupFailure
	}
	q := &qpeers{has: map[int]struct{}{}, target: target}
	for _, s := range seeds {
		q.tryAdd(m, m.index[s])
	}
	values := 0 // records received (searchValueQuorum's numResponses)
	if getValue {
		if _, ok := origin.store[key]; ok {
			values++ // getLocal
		}
	}
	stopped := func() bool { return getValue && m.quorum > 0 && values > m.quorum }
	var valueAt time.Duration = -1 // when the quorum was reached
	// ask sends the query to p at virtual time now; its answer is computed
	// when it arrives.
	var inflight []flight
	now, seq := time.Duration(0), 0
	dr := m.timing.replay(m.rng)
	took := func(p int) time.Duration {
		d := dr.draw()
		if _, ok := m.nodes[p].store[key]; getValue && ok {
			d += m.timing.Check
		}
		return d
	}
	ask := func(p int) {
		q.set(p, stWaiting)
		inflight = append(inflight, flight{node: p, done: now + took(p), seq: seq})
		seq++
		res.Queries++
	}
	// answer is p's reply to the query: its closest peers to the target but
	// itself and the asker, the record if it holds it; the tables learn.
	answer := func(p int, at time.Duration) []int {
		n := m.nodes[p]
		m.answered(from, p)
		if getValue {
			if _, ok := n.store[key]; ok {
				res.Found = true
				values++
				if stopped() && valueAt < 0 {
					valueAt = at
				}
			}
		}
		var heard []int
		for _, id := range n.rt.NearestPeers(target, ModelBucketSize+1) {
			j := m.index[id]
			if j == p || j == from || len(heard) == ModelBucketSize {
				continue
			}
			heard = append(heard, j)
		}
		return heard
	}
	terminated := func() (bool, bool) { // (ready, completed by lookup or starvation)
		if stopped() {
			return true, false
		}
		if q.count(stHeard) == 0 && q.count(stWaiting) == 0 {
			return true, true
		}
		for _, p := range q.closest(ModelBeta, stHeard, stWaiting, stQueried) {
			if q.state(p) != stQueried {
				return false, false
			}
		}
		return true, true
	}
	completed := false
	for {
		ready, done := terminated()
		if ready {
			completed = done
			break
		}
		for _, p := range q.closest(ModelAlpha-q.count(stWaiting), stHeard) {
			ask(p)
		}
		if len(inflight) == 0 {
			break // unreachable: starvation is caught above
		}
		next := 0
		for i, f := range inflight {
			if f.done < inflight[next].done || (f.done == inflight[next].done && f.seq < inflight[next].seq) {
				next = i
			}
		}
		f := inflight[next]
		inflight = slices.Delete(inflight, next, next+1)
		now = f.done
		for _, h := range answer(f.node, now) {
			q.tryAdd(m, h)
		}
		q.set(f.node, stQueried)
	}
	// The queries still in flight run to their end (query.run waits for
	// them); their answers no longer change the lookup, but their records
	// count and the tables learn.
	end := now
	slices.SortStableFunc(inflight, func(a, b flight) int { return cmp.Compare(a.done, b.done) })
	for _, f := range inflight {
		end = max(end, f.done)
		answer(f.node, f.done)
	}
	closest := q.closest(ModelBucketSize, stHeard, stWaiting, stQueried)
	if !stopped() {
		var follow []int
		for _, p := range closest {
			if st := q.state(p); st == stHeard || st == stWaiting {
				follow = append(follow, p)
			}
		}
		// All at once; with a quorum, the first answers to reach it
		// cancel the rest.
		fl := make([]flight, len(follow))
		for i, p := range follow {
			fl[i] = flight{node: p, done: end + took(p), seq: i}
			res.Queries++
		}
		slices.SortStableFunc(fl, func(a, b flight) int { return cmp.Compare(a.done, b.done) })
		for _, f := range fl {
			answer(f.node, f.done)
			end = f.done
			if stopped() {
				completed = false
				break
			}
		}
	}
	res.Closest = closest
	res.Latency = end
	if valueAt >= 0 {
		res.Latency = valueAt // GetValue returns as the quorum is reached
	}
	if completed {
		origin.rt.ResetCplRefreshedAtForID(target, time.Now())
	}
	if getValue && res.Found && !stopped() {
		for _, p := range closest { // updatePeerValues
			m.nodes[p].store[key] = struct{}{}
		}
	}
	return res, nil
}

func (q *qpeers) state(p int) int {
	for _, e := range q.all {
		if e.node == p {
			return e.state
		}
	}
	return -1
}

// bootstrapPeers are the earlier nodes node i joins through, as
// StartNetwork picks them: i-1, i/2 and i/3.
func bootstrapPeers(i int) []int {
	var out []int
	for _, j := range []int{i - 1, i / 2, i / 3} {
		if j >= 0 && j < i && !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out
}

// BuildModel brings up a model network the way StartNetwork brings up the
// real one: the nodes join one after the other, each through bootstrapPeers
// (and runs its start-up refreshes), then each node's table is refreshed
// once more, forced, in order; then a minute passes (Settle).
func BuildModel(ids []peer.ID, timing Timing, seed uint64) (*Model, error) {
	m, err := NewModel(ids, timing, seed)
	if err != nil {
		return nil, err
	}
	for i := range m.nodes {
		m.Join(i, bootstrapPeers(i))
	}
	for i := range m.nodes {
		m.Refresh(i, true)
	}
	m.Settle()
	return m, nil
}
