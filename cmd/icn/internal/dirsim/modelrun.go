package dirsim

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/icn-coop/icn/routing/directory"
)

// Tolerances within which the model must match a real DHT of the same size
// (relative difference of the model's figure from the real one).
const (
	QueryTolerance   = 0.15 // DHT queries per lookup, median and mean
	LatencyTolerance = 0.25 // lookup latency, p50 and p99
)

// LookupStats are the lookups of one run, real or modelled.
type LookupStats struct {
	Source      string  `json:"source"` // TransportMem, TransportTCP or "model"
	Nodes       int     `json:"nodes"`
	SetupSecs   float64 `json:"setup_seconds"`
	TableMean   float64 `json:"routing_table_mean"` // peers per routing table
	Records     int     `json:"records"`
	Lookups     int     `json:"lookups"`
	Failures    int     `json:"failures"`
	P50Ms       float64 `json:"lookup_p50_ms"`
	P99Ms       float64 `json:"lookup_p99_ms"`
	MaxMs       float64 `json:"lookup_max_ms"`
	QueriesP50  int     `json:"queries_per_lookup_p50"`
	QueriesP99  int     `json:"queries_per_lookup_p99"`
	QueriesMean float64 `json:"queries_per_lookup_mean"`
	// QueryP50Ms and QueryP99Ms are the single-query times: measured (a
	// real run) or drawn from (the model).
	QueryP50Ms float64 `json:"query_p50_ms"`
	QueryP99Ms float64 `json:"query_p99_ms"`
	// CheckMs is the median time of checking a record (the validator's
	// signatures), which a GET_VALUE answer carrying it costs the asker.
	CheckMs float64 `json:"record_check_ms"`
	// LoopQueryP50Ms and LoopQueryP99Ms (real runs) are the query times as
	// the query loop saw them (answer taken in, record checked), for
	// comparison; the model does not draw from them.
	LoopQueryP50Ms float64 `json:"loop_query_p50_ms,omitempty"`
	LoopQueryP99Ms float64 `json:"loop_query_p99_ms,omitempty"`
	// PutOnClosest is the model's share of records its PutValue stored on
	// all of the 20 nodes closest to the key.
	PutOnClosest float64 `json:"put_on_20_closest_share,omitempty"`
}

// Validation sets the model beside a real DHT of the same size, running the
// same publishes and lookups from the same nodes.
type Validation struct {
	Real  LookupStats `json:"real"`
	Model LookupStats `json:"model"`
	// Within reports whether the model's query counts are within
	// QueryTolerance and its latencies within LatencyTolerance of the real ones.
	Within bool `json:"within_tolerance"`
}

// ModelResult is a --model run: the validations, then the model alone at
// the sizes asked for, its query times drawn from the last validation's
// real run.
type ModelResult struct {
	Validations []Validation  `json:"validations"`
	TimesFrom   string        `json:"query_times_from"`
	Runs        []LookupStats `json:"runs"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// summarize fills s's lookup figures from the lookups' latencies and query counts.
func (s *LookupStats) summarize(lat []time.Duration, queries []int, times QueryTimes) {
	s.Lookups = len(lat)
	s.QueryP50Ms, s.QueryP99Ms = ms(times.Quantile(0.5)), ms(times.Quantile(0.99))
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	slices.Sort(queries)
	s.P50Ms, s.P99Ms, s.MaxMs = ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1])
	s.QueriesP50, s.QueriesP99 = queries[len(queries)/2], queries[len(queries)*99/100]
	sum := 0
	for _, q := range queries {
		sum += q
	}
	s.QueriesMean = float64(sum) / float64(len(queries))
}

// within reports whether model is within tolerance of real.
func within(real, model LookupStats) bool {
	rel := func(m, r float64) float64 { return math.Abs(m-r) / math.Max(r, 1e-9) }
	return rel(float64(model.QueriesP50), float64(real.QueriesP50)) <= QueryTolerance &&
		rel(model.QueriesMean, real.QueriesMean) <= QueryTolerance &&
		rel(model.P50Ms, real.P50Ms) <= LatencyTolerance && rel(model.P99Ms, real.P99Ms) <= LatencyTolerance
}

// nodeIDs are the peer ids of the first n directory nodes of t (the keys
// StartNetwork gives them).
func (t *Tree) nodeIDs(n int) ([]peer.ID, error) {
	ids := make([]peer.ID, n)
	for i := range ids {
		var err error
		if ids[i], err = directory.PeerID(t.key("node", i).DID()); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// runModel validates the model against real DHTs of o.ModelValidate nodes,
// then runs it at o.ModelNodes nodes.
func runModel(ctx context.Context, t *Tree, o Options, rng *rand.Rand, res *Result, logw io.Writer) error {
	if len(o.ModelValidate) == 0 {
		return fmt.Errorf("dirsim: the model needs a real run to draw its query times from: give at least one validation size")
	}
	mr := &ModelResult{}
	res.Model = mr
	var timing Timing
	for _, n := range o.ModelValidate {
		if n < 2 {
			return fmt.Errorf("dirsim: validation with %d nodes: want at least 2", n)
		}
		w := t.newWorkload(o.Records, o.Lookups, n, rng)
		real, tm, err := realLookups(ctx, t, n, o.Transport, w, logw)
		if err != nil {
			return err
		}
		model, err := modelLookups(ctx, t, n, tm, o.Seed, w, logw)
		if err != nil {
			return err
		}
		v := Validation{Real: real, Model: model, Within: within(real, model)}
		mr.Validations = append(mr.Validations, v)
		fmt.Fprintf(logw, "validation at %d nodes: real queries p50 %d mean %.1f, latency p50 %.1f p99 %.1f ms; model %d, %.1f, %.1f, %.1f ms; within tolerance: %v\n",
			n, real.QueriesP50, real.QueriesMean, real.P50Ms, real.P99Ms, model.QueriesP50, model.QueriesMean, model.P50Ms, model.P99Ms, v.Within)
		timing, mr.TimesFrom = tm, fmt.Sprintf("%d real nodes (%s)", n, o.Transport)
	}
	for _, n := range o.ModelNodes {
		if n < 2 {
			return fmt.Errorf("dirsim: model with %d nodes: want at least 2", n)
		}
		s, err := modelLookups(ctx, t, n, timing, o.Seed, t.newWorkload(o.Records, o.Lookups, n, rng), logw)
		if err != nil {
			return err
		}
		mr.Runs = append(mr.Runs, s)
	}
	return nil
}

// realLookups starts n real directory nodes, publishes w's records and
// times w's lookups, tracing each one's queries; it returns the queries'
// times, lookup by lookup, and the median time of checking one of the records.
func realLookups(ctx context.Context, t *Tree, n int, transport string, w workload, logw io.Writer) (LookupStats, Timing, error) {
	s := LookupStats{Source: transport, Nodes: n, Records: len(w.keys)}
	fmt.Fprintf(logw, "validation: starting %d real directory nodes (%s)\n", n, transport)
	start := time.Now()
	nw, err := StartNetwork(ctx, t, n, transport)
	if err != nil {
		return s, Timing{}, err
	}
	defer nw.Close()
	s.SetupSecs = time.Since(start).Seconds()
	for _, nd := range nw.Nodes {
		s.TableMean += float64(nd.Peers()) / float64(n)
	}
	var checks []time.Duration
	for i, key := range w.keys {
		_, v, err := t.Record(w.coops[i])
		if err != nil {
			return s, Timing{}, err
		}
		start := time.Now()
		if err := t.val.Validate(key, v); err != nil {
			return s, Timing{}, err
		}
		checks = append(checks, time.Since(start))
		if err := nw.Nodes[w.publishers[i]].Publish(ctx, key, v); err != nil {
			return s, Timing{}, fmt.Errorf("publish coop-%d: %w", w.coops[i], err)
		}
	}
	slices.Sort(checks)
	tm := Timing{Check: QueryTimes(checks).Quantile(0.5)}
	var lat []time.Duration
	var queries []int
	var loop QueryTimes
	for _, l := range w.lookups {
		tr, err := nw.LookupTrace(ctx, l[0], w.keys[l[1]])
		if err != nil {
			if ctx.Err() != nil {
				return s, Timing{}, ctx.Err()
			}
			s.Failures++
			continue
		}
		lat, queries = append(lat, tr.Took), append(queries, tr.Queries)
		if len(tr.RPCTimes) > 0 {
			tm.Lookups = append(tm.Lookups, tr.RPCTimes)
		}
		loop = append(loop, tr.QueryTimes...)
	}
	slices.Sort(loop)
	times := tm.Pooled()
	s.summarize(lat, queries, times)
	s.CheckMs = ms(tm.Check)
	s.LoopQueryP50Ms, s.LoopQueryP99Ms = ms(loop.Quantile(0.5)), ms(loop.Quantile(0.99))
	fmt.Fprintf(logw, "real %d nodes up in %.1fs: %d lookups, queries p50 %d, latency p50 %.1f p99 %.1f ms; %d query times, p50 %.2f p99 %.2f ms\n",
		n, s.SetupSecs, s.Lookups, s.QueriesP50, s.P50Ms, s.P99Ms, len(times), s.QueryP50Ms, s.QueryP99Ms)
	return s, tm, nil
}

// modelLookups builds the model of n nodes with query times times, then
// runs w's publishes and lookups in it.
func modelLookups(ctx context.Context, t *Tree, n int, timing Timing, seed uint64, w workload, logw io.Writer) (LookupStats, error) {
	s := LookupStats{Source: "model", Nodes: n, Records: len(w.keys), CheckMs: ms(timing.Check)}
	ids, err := t.nodeIDs(n)
	if err != nil {
		return s, err
	}
	fmt.Fprintf(logw, "model: building %d nodes\n", n)
	start := time.Now()
	m, err := BuildModel(ids, timing, seed)
	if err != nil {
		return s, err
	}
	s.SetupSecs = time.Since(start).Seconds()
	for i := range n {
		s.TableMean += float64(m.TableSize(i)) / float64(n)
	}
	exact := 0
	for i, key := range w.keys {
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		if _, err := m.Publish(w.publishers[i], key); err != nil {
			return s, fmt.Errorf("model: publish coop-%d: %w", w.coops[i], err)
		}
		all := true
		for _, c := range m.ClosestNodes(key, ModelBucketSize) {
			all = all && m.Holds(c, key)
		}
		if all {
			exact++
		}
	}
	if len(w.keys) > 0 {
		s.PutOnClosest = float64(exact) / float64(len(w.keys))
	}
	var lat []time.Duration
	var queries []int
	for _, l := range w.lookups {
		g, err := m.GetValue(l[0], w.keys[l[1]])
		if err != nil || !g.Found {
			s.Failures++
			continue
		}
		lat, queries = append(lat, g.Latency), append(queries, g.Queries)
	}
	s.summarize(lat, queries, timing.Pooled())
	fmt.Fprintf(logw, "model %d nodes built in %.1fs (%.0f peers per table): %d lookups, %d failed, queries p50 %d, latency p50 %.1f p99 %.1f ms\n",
		n, s.SetupSecs, s.TableMean, s.Lookups, s.Failures, s.QueriesP50, s.P50Ms, s.P99Ms)
	return s, nil
}
