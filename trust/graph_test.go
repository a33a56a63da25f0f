package trust_test

import (
	"cmp"
	"errors"
	"slices"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

// chain builds the seed example A→B 0.8, B→C 0.7, C→D 0.6.
func chain(t *testing.T, hops int) (*trust.Graph, []identity.DID) {
	g := trust.NewGraph(hops)
	p := []identity.DID{did(0), did(1), did(2), did(3)}
	mustSet(t, g, p[0], p[1], w("0.8"), 1)
	mustSet(t, g, p[1], p[2], w("0.7"), 1)
	mustSet(t, g, p[2], p[3], w("0.6"), 1)
	return g, p
}

func TestTrustSeedVector(t *testing.T) {
	for _, hops := range []int{3, 4, 10} {
		g, p := chain(t, hops)
		if got := g.Trust(p[0], p[3]); got != w("0.336") {
			t.Fatalf("hops %d: Trust(A,D) = %v, want 0.336", hops, got)
		}
		path, pw := g.Path(p[0], p[3])
		if !slices.Equal(path, p) || pw != w("0.336") {
			t.Fatalf("hops %d: Path(A,D) = %v, %v", hops, path, pw)
		}
	}
	g, p := chain(t, 2)
	if got := g.Trust(p[0], p[3]); got != trust.Zero {
		t.Fatalf("hops 2: Trust(A,D) = %v, want 0", got)
	}
	if got := g.Trust(p[0], p[2]); got != w("0.56") {
		t.Fatalf("hops 2: Trust(A,C) = %v, want 0.56", got)
	}
	if path, pw := g.Path(p[0], p[3]); path != nil || pw != 0 {
		t.Fatalf("hops 2: Path(A,D) = %v, %v", path, pw)
	}
	if g.Trust(p[3], p[0]) != 0 || g.Trust(p[0], p[0]) != trust.One || g.Trust(did(99), did(99)) != trust.One {
		t.Fatal("reverse direction or self trust wrong")
	}
	if g.Trust(p[0], did(99)) != 0 || g.Trust(did(99), p[0]) != 0 {
		t.Fatal("unknown participants must have no trust")
	}
}

func TestTrustBestNotShortest(t *testing.T) {
	g := trust.NewGraph(3)
	a, b, c := did(0), did(1), did(2)
	mustSet(t, g, a, c, w("0.3"), 1)
	mustSet(t, g, a, b, w("0.9"), 1)
	mustSet(t, g, b, c, w("0.9"), 1)
	if got := g.Trust(a, c); got != w("0.81") {
		t.Fatalf("Trust = %v, want 0.81 via b", got)
	}
	mustSet(t, g, a, c, w("0.81"), 2) // a tie: the direct edge has fewer hops
	if path, _ := g.Path(a, c); !slices.Equal(path, []identity.DID{a, c}) {
		t.Fatalf("Path = %v, want the direct edge", path)
	}
}

func TestPathTieBreaksByDID(t *testing.T) {
	p := dids(4) // sorted: p[1] < p[2]
	g := trust.NewGraph(3)
	mustSet(t, g, p[0], p[2], w("0.5"), 1)
	mustSet(t, g, p[2], p[3], w("0.5"), 1)
	mustSet(t, g, p[0], p[1], w("0.5"), 1)
	mustSet(t, g, p[1], p[3], w("0.5"), 1)
	path, pw := g.Path(p[0], p[3])
	if !slices.Equal(path, []identity.DID{p[0], p[1], p[3]}) || pw != w("0.25") {
		t.Fatalf("Path = %v, %v; want via the smaller DID", path, pw)
	}
}

func TestSetRules(t *testing.T) {
	g := trust.NewGraph(trust.DefaultMaxHops)
	a, b := did(0), did(1)
	mustSet(t, g, a, b, w("0.5"), 10)
	for _, tc := range []struct {
		name string
		at   trust.Attestation
		want error
	}{
		{"same time", trust.Attestation{From: a, To: b, Weight: w("0.9"), IssuedAt: 10}, trust.ErrStale},
		{"older", trust.Attestation{From: a, To: b, Weight: w("0.9"), IssuedAt: 9}, trust.ErrStale},
		{"self", trust.Attestation{From: a, To: a, Weight: w("0.9"), IssuedAt: 11}, trust.ErrSelfTrust},
		{"weight", trust.Attestation{From: a, To: b, Weight: trust.One + 1, IssuedAt: 11}, trust.ErrWeight},
		{"issued_at", trust.Attestation{From: b, To: a, Weight: 1, IssuedAt: 0}, trust.ErrAttestation},
		{"DID", trust.Attestation{From: "did:icn:", To: a, Weight: 1, IssuedAt: 1}, trust.ErrAttestation},
	} {
		if err := g.Set(tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v; want %v", tc.name, err, tc.want)
		}
	}
	if e, _ := g.Edge(a, b); e.Weight != w("0.5") || e.IssuedAt != 10 || g.Len() != 1 {
		t.Fatalf("rejected attestations changed the graph: %+v, len %d", e, g.Len())
	}
	mustSet(t, g, a, b, trust.Zero, 11) // explicitly no trust is still an edge
	if e, ok := g.Edge(a, b); !ok || e.Weight != 0 || g.Len() != 1 || g.Trust(a, b) != 0 {
		t.Fatalf("zero edge: %+v %v, len %d", e, ok, g.Len())
	}
}

func TestEdgeListsSorted(t *testing.T) {
	p := dids(6)
	g := trust.NewGraph(2)
	// Insert in a scrambled order; every listing must come out sorted by DID.
	for i, pair := range [][2]int{{3, 1}, {0, 5}, {3, 0}, {0, 2}, {5, 3}, {3, 4}, {0, 1}, {1, 3}} {
		mustSet(t, g, p[pair[0]], p[pair[1]], trust.Weight(100_000*(i+1)), int64(i+1))
	}
	if g.Len() != 8 {
		t.Fatalf("Len = %d", g.Len())
	}
	all := g.Edges()
	if !slices.IsSortedFunc(all, cmpEdge) || len(all) != 8 {
		t.Fatalf("Edges not sorted by (From, To): %v", all)
	}
	out := g.Out(p[3])
	if len(out) != 3 || out[0].To != p[0] || out[1].To != p[1] || out[2].To != p[4] {
		t.Fatalf("Out = %v", out)
	}
	in := g.In(p[3])
	if len(in) != 2 || in[0].From != p[1] || in[1].From != p[5] {
		t.Fatalf("In = %v", in)
	}
	if g.Out(did(99)) != nil || g.In(did(99)) != nil {
		t.Fatal("unknown participant has edges")
	}
	// A graph rebuilt from Edges in another order is the same graph.
	h := trust.NewGraph(2)
	for _, e := range slices.Backward(all) {
		mustSet(t, h, e.From, e.To, e.Weight, e.IssuedAt)
	}
	if !slices.Equal(h.Edges(), all) {
		t.Fatal("rebuilt graph differs")
	}
}

func cmpEdge(a, b trust.Edge) int {
	if c := compare(a.From, b.From); c != 0 {
		return c
	}
	return compare(a.To, b.To)
}

func compare(a, b identity.DID) int { return cmp.Compare(a, b) }

func TestNewGraphRejectsZeroHops(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewGraph(0) did not panic")
		}
	}()
	trust.NewGraph(0)
}
