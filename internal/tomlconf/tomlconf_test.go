package tomlconf

import (
	"testing"
	"time"
)

func TestDurationDays(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1h", time.Hour, true},
		{"365d", 365 * 24 * time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0d", 0, true},
		{"-1h", -time.Hour, true},
		{"d", 0, false},
		{"1d-1h", 0, false},
		{"1dx", 0, false},
		{"1.5d", 0, false},
		{"99999999999d", 0, false},
		{"", 0, false},
	} {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && time.Duration(d) != tc.want) {
			t.Errorf("%q: %v %v, want %v ok=%v", tc.in, time.Duration(d), err, tc.want, tc.ok)
		}
	}
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{"365d", "1d12h", "90s", "d", "9d9d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		_ = d.UnmarshalText([]byte(s)) // never panics
	})
}
