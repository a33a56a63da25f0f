package trust

import (
	"errors"
	"testing"
)

func TestParseWeight(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Weight
		ok   bool
	}{
		{"0", 0, true}, {"1", One, true}, {"1.0", One, true}, {"0.8", 800_000, true},
		{"0.336", 336_000, true}, {"0.000001", 1, true}, {"1.000000", One, true},
		{"1.000001", 0, false}, {"2", 0, false}, {"-0.1", 0, false}, {".5", 0, false},
		{"0.", 0, false}, {"0.1234567", 0, false}, {"", 0, false}, {"1e-1", 0, false},
		{"0.5 ", 0, false}, {"+0.5", 0, false},
	} {
		got, err := ParseWeight(tc.in)
		if tc.ok != (err == nil) || (tc.ok && got != tc.want) {
			t.Errorf("ParseWeight(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if !tc.ok && !errors.Is(err, ErrWeight) {
			t.Errorf("ParseWeight(%q) error %v is not ErrWeight", tc.in, err)
		}
	}
}

func TestWeightProductVector(t *testing.T) {
	w := Weight(800_000).Mul(700_000).Mul(600_000)
	if w != 336_000 || w.String() != "0.336" {
		t.Fatalf("0.8×0.7×0.6 = %v (%d), want 0.336", w, w)
	}
	if One.String() != "1" || Zero.String() != "0" {
		t.Fatalf("String: %q %q", One.String(), Zero.String())
	}
}
