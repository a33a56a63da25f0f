package ui

import (
	"strconv"
	"testing"
)

// FuzzParsePeriod: parsePeriod accepts exactly the canonical decimals of
// 1..2⁶⁴−1.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"1", "0", "007", "+1", "-1", "18446744073709551615", "18446744073709551616", "1e3", " 1", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parsePeriod(s)
		if err != nil {
			return
		}
		if n == 0 || strconv.FormatUint(n, 10) != s {
			t.Errorf("parsePeriod(%q) = %d", s, n)
		}
	})
}
