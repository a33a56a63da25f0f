package trust_test

import (
	"errors"
	"testing"

	"github.com/icn-coop/icn/trust"
)

func TestClassBoundaries(t *testing.T) {
	for _, tc := range []struct {
		w    string
		want trust.Class
	}{
		{"0", trust.ClassIsolated}, {"0.099999", trust.ClassIsolated}, {"0.1", trust.ClassKnown},
		{"0.399999", trust.ClassKnown}, {"0.4", trust.ClassPartner}, {"0.699999", trust.ClassPartner},
		{"0.7", trust.ClassFederated}, {"1", trust.ClassFederated},
	} {
		if got := trust.ClassOf(w(tc.w)); got != tc.want {
			t.Errorf("ClassOf(%s) = %v, want %v", tc.w, got, tc.want)
		}
	}
}

func TestClassNames(t *testing.T) {
	for c, name := range []string{"isolated", "known", "partner", "federated"} {
		if trust.Class(c).String() != name {
			t.Errorf("Class(%d) = %q", c, trust.Class(c))
		}
		if got, err := trust.ParseClass(name); err != nil || got != trust.Class(c) {
			t.Errorf("ParseClass(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := trust.ParseClass("Partner"); !errors.Is(err, trust.ErrClass) {
		t.Errorf("ParseClass(Partner): %v", err)
	}
	if s := trust.Class(7).String(); s != "class(7)" {
		t.Errorf("Class(7) = %q", s)
	}
}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		c      trust.Class
		rps    int
		bytes  int
		factor string
	}{
		{trust.ClassIsolated, 10, 1024, "0"},
		{trust.ClassKnown, 50, 10 * 1024, "0.25"},
		{trust.ClassPartner, 100, 100 * 1024, "0.5"},
		{trust.ClassFederated, 200, 1024 * 1024, "1"},
		{trust.Class(-1), 10, 1024, "0"}, // out of range: the most restrictive
		{trust.Class(4), 10, 1024, "0"},
	} {
		want := trust.Policy{RequestsPerSecond: tc.rps, Burst: tc.rps, MaxPayloadBytes: tc.bytes, CreditFactor: w(tc.factor)}
		if got := trust.PolicyFor(tc.c); got != want {
			t.Errorf("PolicyFor(%v) = %+v, want %+v", tc.c, got, want)
		}
		ps := trust.DefaultPolicies()
		if got := ps.For(tc.c); got != want {
			t.Errorf("DefaultPolicies().For(%v) = %+v, want %+v", tc.c, got, want)
		}
	}
}

// TestPolicyOverride: an override changes only the fields it sets, a new
// rate brings a burst of one second's worth unless the burst is set too, and
// bad names or values are refused.
func TestPolicyOverride(t *testing.T) {
	def := trust.DefaultPolicies()
	got, err := def.Override(map[string]trust.PolicyOverride{
		"federated": {RequestsPerSecond: 5000},
		"known":     {Burst: 5},
		"partner":   {RequestsPerSecond: 300, Burst: 600, MaxPayloadBytes: 2048},
	}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := def
	want[trust.ClassFederated].RequestsPerSecond, want[trust.ClassFederated].Burst = 5000, 5000
	want[trust.ClassKnown].Burst = 5
	want[trust.ClassPartner].RequestsPerSecond, want[trust.ClassPartner].Burst, want[trust.ClassPartner].MaxPayloadBytes = 300, 600, 2048
	if got != want {
		t.Errorf("Override = %+v\nwant       %+v", got, want)
	}
	if def != trust.DefaultPolicies() {
		t.Error("Override changed its receiver")
	}
	for name, tc := range map[string]struct {
		o    map[string]trust.PolicyOverride
		want error
	}{
		"unknown class":    {map[string]trust.PolicyOverride{"trusted": {Burst: 1}}, trust.ErrClass},
		"negative rate":    {map[string]trust.PolicyOverride{"known": {RequestsPerSecond: -1}}, trust.ErrPolicy},
		"negative payload": {map[string]trust.PolicyOverride{"known": {MaxPayloadBytes: -1}}, trust.ErrPolicy},
		"payload past max": {map[string]trust.PolicyOverride{"federated": {MaxPayloadBytes: 1<<20 + 1}}, trust.ErrPolicy},
		"negative burst":   {map[string]trust.PolicyOverride{"isolated": {Burst: -3}}, trust.ErrPolicy},
	} {
		if _, err := def.Override(tc.o, 1<<20); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
