package dirsim

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// testTiming is a made-up real run: three lookups' query times.
var testTiming = Timing{Lookups: [][]time.Duration{
	{1 * time.Millisecond, 2 * time.Millisecond, 1 * time.Millisecond},
	{3 * time.Millisecond, 1 * time.Millisecond},
	{1 * time.Millisecond, 9 * time.Millisecond, 2 * time.Millisecond, 1 * time.Millisecond},
}, Check: 200 * time.Microsecond}

func testIDs(t testing.TB, n int) []peer.ID {
	t.Helper()
	tr, err := NewTree(small, 11, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tr.nodeIDs(n)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// modelRun builds a model of n nodes, publishes records records from node
// r mod n and looks each up from three other nodes.
func modelRun(t testing.TB, n, records int) ([]ModelLookup, *Model) {
	t.Helper()
	m, err := BuildModel(testIDs(t, n), testTiming, 3)
	if err != nil {
		t.Fatal(err)
	}
	var out []ModelLookup
	for r := range records {
		key := fmt.Sprintf("/icn/coop/test-%d", r)
		if _, err := m.Publish(r%n, key); err != nil {
			t.Fatal(err)
		}
		for j := 1; j <= 3; j++ {
			l, err := m.GetValue((r+j*n/4+1)%n, key)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
	}
	return out, m
}

func TestModelDeterministic(t *testing.T) {
	a, ma := modelRun(t, 60, 20)
	b, mb := modelRun(t, 60, 20)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two models built with the same seed looked up differently")
	}
	for i := range ma.Len() {
		if ma.TableSize(i) != mb.TableSize(i) {
			t.Fatalf("node %d: tables of %d and %d peers", i, ma.TableSize(i), mb.TableSize(i))
		}
	}
}

// TestModelFindsRecords: PutValue stores a record on the 20 nodes closest to
// its key and every GetValue finds it, as in the real DHT of this size.
func TestModelFindsRecords(t *testing.T) {
	ls, m := modelRun(t, 120, 30)
	for i, l := range ls {
		if !l.Found || l.Queries == 0 || l.Latency <= 0 || len(l.Closest) != ModelBucketSize {
			t.Fatalf("lookup %d: %+v: want the record found, queries sent, time spent, the 20 closest", i, l)
		}
	}
	for r := range 30 {
		key := fmt.Sprintf("/icn/coop/test-%d", r)
		for _, c := range m.ClosestNodes(key, ModelBucketSize) {
			if !m.Holds(c, key) {
				t.Fatalf("%s: node %d, one of the 20 closest, does not hold it", key, c)
			}
		}
	}
	if _, err := m.GetValue(0, "/icn/coop/nobody"); err != nil {
		t.Fatal(err)
	} else if l, _ := m.GetValue(0, "/icn/coop/nobody"); l.Found {
		t.Fatal("a record no one published was found")
	}
}

// TestModelQueriesGrowWithLogN: the queries a lookup sends grow with the
// network, slower than it (kad's log N): 16 times the nodes take more
// queries, but not twice as many.
func TestModelQueriesGrowWithLogN(t *testing.T) {
	mean := func(n int) float64 {
		ls, _ := modelRun(t, n, 20)
		sum := 0
		for _, l := range ls {
			sum += l.Queries
		}
		return float64(sum) / float64(len(ls))
	}
	q40, q160, q640 := mean(20), mean(80), mean(320)
	t.Logf("queries per lookup: %.1f at 20 nodes, %.1f at 80, %.1f at 320", q40, q160, q640)
	if !(q40 < q160 && q160 < q640) || q640 > 2*q40 {
		t.Fatalf("queries per lookup %.1f, %.1f, %.1f at 20, 80, 320 nodes: want growth, less than twice over 16 times the nodes", q40, q160, q640)
	}
}

func TestModelEmptyTable(t *testing.T) {
	m, err := NewModel(testIDs(t, 3), Timing{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetValue(0, "/icn/coop/x"); err == nil {
		t.Fatal("a lookup from a node that knows no peer succeeded")
	}
	if _, err := NewModel([]peer.ID{"a", "a"}, Timing{}, 1); err == nil {
		t.Fatal("a peer id twice accepted")
	}
}

func BenchmarkBuildModel1000(b *testing.B) {
	ids := testIDs(b, 1000)
	for b.Loop() {
		if _, err := BuildModel(ids, testTiming, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// TestModelQuorum: with a quorum (the directory uses kad-dht's default, 0),
// GetValue returns once more records than the quorum came in, sooner and
// after fewer queries than the full walk.
func TestModelQuorum(t *testing.T) {
	build := func(quorum int) *Model {
		m, err := BuildModel(testIDs(t, 80), testTiming, 9)
		if err != nil {
			t.Fatal(err)
		}
		m.quorum = quorum
		return m
	}
	full, early := build(0), build(2)
	var fq, eq int
	var ft, et time.Duration
	for r := range 10 {
		key := fmt.Sprintf("/icn/coop/q-%d", r)
		for _, m := range []*Model{full, early} {
			if _, err := m.Publish(r, key); err != nil {
				t.Fatal(err)
			}
		}
		f, _ := full.GetValue(40+r, key)
		e, _ := early.GetValue(40+r, key)
		if !f.Found || !e.Found {
			t.Fatalf("%s: found %v with quorum 0, %v with quorum 2", key, f.Found, e.Found)
		}
		fq, eq, ft, et = fq+f.Queries, eq+e.Queries, ft+f.Latency, et+e.Latency
	}
	if eq >= fq || et >= ft {
		t.Fatalf("quorum 2: %d queries in %v; quorum 0: %d in %v: want fewer, sooner", eq, et, fq, ft)
	}
}
