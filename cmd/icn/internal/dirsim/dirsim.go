package dirsim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/icn-coop/icn/routing/directory"
)

// Options sizes a run.
type Options struct {
	Shape     Shape
	Payments  int    // payments routed through the tree by their payees' records
	DHTNodes  int    // directory nodes (0: no DHT part)
	Transport string // TransportMem or TransportTCP
	Records   int    // co-op records published into the DHT (a sample of Shape.Coops)
	Lookups   int    // lookups of published records, each from a node that holds no cached copy
	Seed      uint64
	// Model, if set, replaces the DHT part by the kad-dht model (model.go):
	// first real DHTs of ModelValidate nodes on Transport beside the model
	// of the same size, then the model alone at each of ModelNodes nodes.
	Model         bool
	ModelValidate []int
	ModelNodes    []int
}

// DefaultOptions is the tree: 1,000,000 co-ops under 1,000
// federations (a root, 20 national and 9 sector federations, 970 regions, a
// third of them also under a sector federation), with one directory node
// per federation, modelled (1,000 real nodes do not fit one process here:
// Model, validated against 100 real ones on the in-memory network).
func DefaultOptions() Options {
	return Options{
		Shape:    Shape{Federations: 1000, National: 20, Sector: 9, DualShare: 1.0 / 3, Coops: 1_000_000},
		Payments: 20_000, DHTNodes: 1000, Transport: TransportMem, Records: 2000, Lookups: 2000, Seed: 1,
		Model: true, ModelValidate: []int{100}, ModelNodes: []int{1000},
	}
}

// Result is what a run measured.
type Result struct {
	Shape    Shape `json:"shape"`
	Regions  int   `json:"regions"`
	Payments int   `json:"payments"`
	// HubHops counts payments by the hub-to-hub legs they took (0: payer
	// and payee in one region; the hubs a payment passes are one more).
	HubHops    map[int]int `json:"hub_hops"`
	HubHopsP50 int         `json:"hub_hops_p50"`
	HubHopsP99 int         `json:"hub_hops_p99"`
	HubHopsMax int         `json:"hub_hops_max"`
	RouteSecs  float64     `json:"route_seconds"`

	DHTNodes       int     `json:"dht_nodes"`
	Transport      string  `json:"transport,omitempty"`
	SetupSecs      float64 `json:"setup_seconds"`
	HeapMBPerNode  float64 `json:"heap_mb_per_node"`
	Records        int     `json:"records"`
	PublishMs      float64 `json:"publish_ms_mean"`
	Lookups        int     `json:"lookups"`
	LookupFailures int     `json:"lookup_failures"`
	LookupP50Ms    float64 `json:"lookup_p50_ms"`
	LookupP99Ms    float64 `json:"lookup_p99_ms"`
	LookupMaxMs    float64 `json:"lookup_max_ms"`
	QueriesP50     int     `json:"queries_per_lookup_p50"`
	QueriesP99     int     `json:"queries_per_lookup_p99"`
	// RecordsPerNode is what each node would hold with every co-op's
	// record stored on the 20 nodes closest to its key, under its DID and name.
	RecordsPerNode int `json:"records_per_node_at_full_size"`

	Model *ModelResult `json:"model,omitempty"`
}

// Run builds the tree, routes the payments and, with DHTNodes, times the
// directory. Progress goes to logw.
func Run(ctx context.Context, o Options, logw io.Writer) (Result, error) {
	now := time.Now()
	t, err := NewTree(o.Shape, o.Seed, now)
	if err != nil {
		return Result{}, err
	}
	res := Result{Shape: o.Shape, Regions: t.Regions(), Payments: o.Payments, HubHops: map[int]int{}}
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	start := time.Now()
	hops := make([]int, 0, o.Payments)
	for i := 0; i < o.Payments; i++ {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		a, b := rng.IntN(o.Shape.Coops), rng.IntN(o.Shape.Coops)
		path, err := t.Route(a, b)
		if err != nil {
			return res, err
		}
		hops = append(hops, len(path)-1)
		res.HubHops[len(path)-1]++
	}
	res.RouteSecs = time.Since(start).Seconds()
	if len(hops) > 0 {
		slices.Sort(hops)
		res.HubHopsP50, res.HubHopsP99, res.HubHopsMax = hops[len(hops)/2], hops[len(hops)*99/100], hops[len(hops)-1]
	}
	fmt.Fprintf(logw, "routed %d payments among %d co-ops under %d federations in %.1fs: hub hops p50 %d p99 %d max %d\n",
		o.Payments, o.Shape.Coops, o.Shape.Federations, res.RouteSecs, res.HubHopsP50, res.HubHopsP99, res.HubHopsMax)
	if o.Model {
		return res, runModel(ctx, t, o, rng, &res, logw)
	}
	if o.DHTNodes == 0 {
		return res, nil
	}
	return res, runDHT(ctx, t, o, rng, &res, logw)
}

func runDHT(ctx context.Context, t *Tree, o Options, rng *rand.Rand, res *Result, logw io.Writer) error {
	res.DHTNodes, res.Transport = o.DHTNodes, o.Transport
	res.RecordsPerNode = 2 * o.Shape.Coops * 20 / o.DHTNodes
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	fmt.Fprintf(logw, "starting %d directory nodes (%s)\n", o.DHTNodes, o.Transport)
	nw, err := StartNetwork(ctx, t, o.DHTNodes, o.Transport)
	if err != nil {
		return err
	}
	defer nw.Close()
	res.SetupSecs = time.Since(start).Seconds()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	res.HeapMBPerNode = float64(after.HeapInuse-min(before.HeapInuse, after.HeapInuse)) / float64(o.DHTNodes) / (1 << 20)
	fmt.Fprintf(logw, "directory up in %.1fs (%.1f MB heap per node); publishing %d records\n", res.SetupSecs, res.HeapMBPerNode, o.Records)

	// Each record goes out from the node of the region that admitted it.
	w := t.newWorkload(o.Records, o.Lookups, len(nw.Nodes), rng)
	start = time.Now()
	for i, key := range w.keys {
		_, v, err := t.Record(w.coops[i])
		if err != nil {
			return err
		}
		if err := nw.Nodes[w.publishers[i]].Publish(ctx, key, v); err != nil {
			return fmt.Errorf("publish coop-%d: %w", w.coops[i], err)
		}
	}
	res.Records = len(w.keys)
	if len(w.keys) > 0 {
		res.PublishMs = float64(time.Since(start).Microseconds()) / 1000 / float64(len(w.keys))
	}
	fmt.Fprintf(logw, "published (%.1f ms each); %d lookups\n", res.PublishMs, o.Lookups)
	var lat []time.Duration
	var queries []int
	for _, l := range w.lookups {
		took, q, err := nw.Lookup(ctx, l[0], w.keys[l[1]])
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.LookupFailures++
			continue
		}
		lat, queries = append(lat, took), append(queries, q)
	}
	res.Lookups = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		slices.Sort(queries)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		res.LookupP50Ms, res.LookupP99Ms, res.LookupMaxMs = ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1])
		res.QueriesP50, res.QueriesP99 = queries[len(queries)/2], queries[len(queries)*99/100]
	}
	return nil
}

// workload is a run's records and lookups: record i is co-op coops[i]'s,
// under keys[i], published from node publishers[i] (its region's); each
// lookup is a node and the index of a record it looks up, no pair twice (a
// cached answer says nothing of the DHT).
type workload struct {
	coops, publishers []int
	keys              []string
	lookups           [][2]int
}

// newWorkload draws records random co-ops' records and up to lookups
// lookups among nodes nodes.
func (t *Tree) newWorkload(records, lookups, nodes int, rng *rand.Rand) workload {
	var w workload
	for len(w.keys) < records {
		c := rng.IntN(t.shape.Coops)
		w.coops = append(w.coops, c)
		w.publishers = append(w.publishers, t.regionOf(c)%nodes)
		w.keys = append(w.keys, directory.CoopKey(string(t.coopKey(c).DID())))
	}
	seen := map[[2]int]bool{}
	for i := 0; i < lookups && len(w.keys) > 0; i++ {
		l := [2]int{rng.IntN(nodes), rng.IntN(len(w.keys))}
		if !seen[l] {
			seen[l] = true
			w.lookups = append(w.lookups, l)
		}
	}
	return w
}
