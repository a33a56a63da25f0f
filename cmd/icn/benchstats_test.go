package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// seq returns 1ms..n ms in shuffled order.
func seq(n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = ms(i + 1)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(n, func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func TestSummarizeLatencies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		want    latencySummary
	}{
		{"empty", nil, latencySummary{}},
		{"one", []time.Duration{ms(7)}, latencySummary{Count: 1, Min: ms(7), Mean: ms(7), P50: ms(7), P90: ms(7), P99: ms(7), Max: ms(7)}},
		{"two", []time.Duration{ms(9), ms(1)}, latencySummary{Count: 2, Min: ms(1), Mean: ms(5), P50: ms(1), P90: ms(9), P99: ms(9), Max: ms(9)}},
		{"ten", seq(10), latencySummary{Count: 10, Min: ms(1), Mean: 5500 * time.Microsecond, P50: ms(5), P90: ms(9), P99: ms(10), Max: ms(10)}},
		{"hundred", seq(100), latencySummary{Count: 100, Min: ms(1), Mean: 50500 * time.Microsecond, P50: ms(50), P90: ms(90), P99: ms(99), Max: ms(100)}},
		{"thousand", seq(1000), latencySummary{Count: 1000, Min: ms(1), Mean: 500500 * time.Microsecond, P50: ms(500), P90: ms(900), P99: ms(990), Max: ms(1000)}},
		{"ties", []time.Duration{ms(3), ms(3), ms(3), ms(3)}, latencySummary{Count: 4, Min: ms(3), Mean: ms(3), P50: ms(3), P90: ms(3), P99: ms(3), Max: ms(3)}},
		{"one outlier", append(repeat(ms(1), 99), ms(500)),
			latencySummary{Count: 100, Min: ms(1), Mean: 5990 * time.Microsecond, P50: ms(1), P90: ms(1), P99: ms(1), Max: ms(500)}},
		{"two outliers", append(repeat(ms(1), 98), ms(400), ms(500)),
			latencySummary{Count: 100, Min: ms(1), Mean: 9980 * time.Microsecond, P50: ms(1), P90: ms(1), P99: ms(400), Max: ms(500)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarizeLatencies(tc.samples); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

func TestPercentile(t *testing.T) {
	sorted := []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5)}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{-1, ms(1)}, {0, ms(1)}, {1, ms(1)}, {20, ms(1)}, {20.1, ms(2)}, {50, ms(3)}, {80, ms(4)}, {99, ms(5)}, {100, ms(5)}, {150, ms(5)},
	} {
		if got := percentile(sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(empty) = %v", got)
	}
}

func TestMillis(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want float64
	}{
		{0, 0}, {time.Millisecond, 1}, {1500 * time.Microsecond, 1.5}, {1234567 * time.Nanosecond, 1.235}, {2 * time.Second, 2000},
	} {
		if got := millis(tc.d); got != tc.want {
			t.Errorf("millis(%v) = %v, want %v", tc.d, got, tc.want)
		}
	}
}
