package dataplane

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestViolationKindsExportedAtZero: before any violation, the data plane
// exports icn_trust_violations_total at 0 for every kind, so that an alert
// on its rate sees 0 rather than no data.
func TestViolationKindsExportedAtZero(t *testing.T) {
	n := newFakeCluster(t)
	d, err := Start(n, "127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.Collectors()...)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, f := range fams {
		if f.GetName() != "icn_trust_violations_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%v = %v before any traffic", m.GetLabel(), v)
			}
			kinds = append(kinds, m.GetLabel()[0].GetValue())
		}
	}
	slices.Sort(kinds)
	want := slices.Clone(violationKinds)
	slices.Sort(want)
	if !slices.Equal(kinds, want) {
		t.Fatalf("exported kinds %v, want %v", kinds, want)
	}
}
