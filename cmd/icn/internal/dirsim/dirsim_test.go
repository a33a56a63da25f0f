package dirsim

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"
)

// small is a tree with every kind of federation: a root, 3 national, 2
// sector, 12 regions (half of them also under a sector), 240 co-ops.
var small = Shape{Federations: 18, National: 3, Sector: 2, DualShare: 0.5, Coops: 240}

func TestRouteHops(t *testing.T) {
	tr, err := NewTree(small, 7, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Regions() != 12 {
		t.Fatalf("regions = %d, want 12", tr.Regions())
	}
	// Regions r and r' (co-op c sits in region c mod 12): same region → 0
	// legs; same national parent, or a shared sector → 2; else 4 via the root.
	for _, tc := range []struct {
		name string
		a, b int
		legs int
	}{
		{"same region", 0, 12, 0},
		{"same national", 1, 4, 2},    // regions 1 and 4 are both under national 1+1%3
		{"shared sector", 0, 4, 2},    // regions 0 and 4: nationals differ, both under the first sector
		{"via the root", 1, 2, 4},     // region 1 has no sector; nationals differ
		{"dual to single", 0, 5, 4},   // region 5 has no sector parent
		{"single to dual", 5, 0, 4},   // and back
		{"sector to sector", 4, 2, 4}, // regions 4 and 2 are under different sectors
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := tr.Route(tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(path) - 1; got != tc.legs {
				t.Fatalf("coop-%d → coop-%d: %d legs (%v), want %d", tc.a, tc.b, got, tr.names(path), tc.legs)
			}
			if path[0] != tr.regionOf(tc.a) || path[len(path)-1] != tr.regionOf(tc.b) {
				t.Fatalf("path %v does not run from the payer's region to the payee's", tr.names(path))
			}
		})
	}
}

// TestRouteBounded: every pair of a small tree routes in at most four legs,
// through federations that are each other's parent or child.
func TestRouteBounded(t *testing.T) {
	tr, err := NewTree(small, 3, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for a := 0; a < 24; a++ {
		for b := 0; b < 24; b++ {
			path, err := tr.Route(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(path)-1 > 4 {
				t.Fatalf("coop-%d → coop-%d: %v, more than 4 legs", a, b, tr.names(path))
			}
			for i := 1; i < len(path); i++ {
				if !tr.adjacent(path[i-1], path[i]) {
					t.Fatalf("coop-%d → coop-%d: %v: %s and %s are not parent and child", a, b, tr.names(path), tr.feds[path[i-1]].name, tr.feds[path[i]].name)
				}
			}
		}
	}
}

// adjacent reports whether one of federations i and j is the other's parent.
func (t *Tree) adjacent(i, j int) bool {
	return slices.Contains(t.feds[i].parents, j) || slices.Contains(t.feds[j].parents, i)
}

func TestNewTreeRefusesBadShape(t *testing.T) {
	for _, s := range []Shape{
		{Federations: 3, National: 2, Coops: 1},                // no room for a region
		{Federations: 10, National: 0, Coops: 1},               // no national
		{Federations: 10, National: 2, Coops: 0},               // no co-ops
		{Federations: 10, National: 2, DualShare: 2, Coops: 1}, // share > 1
	} {
		if _, err := NewTree(s, 1, time.Now()); err == nil {
			t.Errorf("NewTree(%+v) accepted", s)
		}
	}
}

// TestRunMem: a small run on the in-memory network publishes records and
// finds every one of them from nodes that never saw them.
func TestRunMem(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 DHT nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{Shape: small, Payments: 500, DHTNodes: 30, Transport: TransportMem, Records: 40, Lookups: 60, Seed: 5}
	res, err := Run(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, n := range res.HubHops {
		sum += n
	}
	if sum != o.Payments || res.HubHopsMax > 4 {
		t.Fatalf("hub hops %v (max %d): want %d payments, at most 4 legs each", res.HubHops, res.HubHopsMax, o.Payments)
	}
	if res.Records != o.Records || res.LookupFailures != 0 || res.Lookups == 0 {
		t.Fatalf("records %d, lookups %d, failures %d: want %d records and every lookup answered", res.Records, res.Lookups, res.LookupFailures, o.Records)
	}
	if res.QueriesP50 < 1 || res.LookupP50Ms <= 0 {
		t.Fatalf("lookups sent %d queries in %.2f ms at the median: want at least one query, a measured time", res.QueriesP50, res.LookupP50Ms)
	}
}

func TestRunRefusesTransport(t *testing.T) {
	o := Options{Shape: small, Payments: 1, DHTNodes: 2, Transport: "udp", Records: 1, Lookups: 1, Seed: 1}
	if _, err := Run(context.Background(), o, io.Discard); err == nil {
		t.Fatal("transport udp accepted")
	}
}

// TestRunModel: a --model run checks the model against a small real DHT
// (the same lookups, query counts within tolerance is not asserted at this
// size, only that both sides measured) and runs it at a larger size.
func TestRunModel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 16 DHT nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{Shape: small, Payments: 100, Transport: TransportMem, Records: 20, Lookups: 40, Seed: 5,
		Model: true, ModelValidate: []int{16}, ModelNodes: []int{60}}
	res, err := Run(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Model
	if m == nil || len(m.Validations) != 1 || len(m.Runs) != 1 {
		t.Fatalf("model result %+v: want one validation, one run", m)
	}
	v := m.Validations[0]
	for _, s := range []LookupStats{v.Real, v.Model, m.Runs[0]} {
		if s.Lookups == 0 || s.Failures != 0 || s.QueriesP50 < 1 || s.P50Ms <= 0 || s.TableMean < 1 {
			t.Fatalf("%s at %d nodes: %+v: want lookups that all found their record, with queries and time", s.Source, s.Nodes, s)
		}
	}
	if v.Real.Lookups != v.Model.Lookups || v.Real.Nodes != 16 || m.Runs[0].Nodes != 60 {
		t.Fatalf("validation %d real and %d modelled lookups at %d nodes, run at %d: want the same lookups, 16 and 60 nodes", v.Real.Lookups, v.Model.Lookups, v.Real.Nodes, m.Runs[0].Nodes)
	}
	if _, err := Run(ctx, Options{Shape: small, Payments: 1, Transport: TransportMem, Records: 1, Lookups: 1, Model: true}, io.Discard); err == nil {
		t.Fatal("a model run with no real run to draw query times from accepted")
	}
}
