package money_test

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/icn-coop/icn/money"
)

// grammar[s] is the exact syntax Parse accepts for scale s.
var grammar [10]*regexp.Regexp

func init() {
	for s := range grammar {
		frac := ""
		if s > 0 {
			frac = `(\.[0-9]{1,` + strconv.Itoa(s) + `})?`
		}
		grammar[s] = regexp.MustCompile(`^-?(0|[1-9][0-9]*)` + frac + `$`)
	}
}

// FuzzParse: Parse never panics; every error is an invalid_amount *Error; an
// accepted input has the strict syntax, and String() has exactly Scale decimals
// and parses back to the same units.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"2.5", "2.50", "-3", "0", "1e3", "2.500", "+1", "007", "١", ".5", "92233720368547758.07"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, scale uint8) {
		c := money.Currency{Code: "fuzz", Scale: int32(scale % 10)}
		a, err := money.Parse(s, c)
		p, perr := money.ParsePayment(s, c)
		if err != nil {
			var me *money.Error
			if !errors.As(err, &me) || me.ErrorCode() != money.Code {
				t.Fatalf("Parse(%q): error %v is not an invalid_amount *Error", s, err)
			}
			if grammar[c.Scale].MatchString(s) && !errors.Is(err, money.ErrRange) {
				t.Fatalf("Parse(%q, scale %d) rejected well-formed input: %v", s, c.Scale, err)
			}
			if perr == nil {
				t.Fatalf("ParsePayment(%q) accepted what Parse rejects", s)
			}
			return
		}
		if !grammar[c.Scale].MatchString(s) {
			t.Fatalf("Parse(%q, scale %d) accepted malformed input", s, c.Scale)
		}
		if a.Units() == math.MinInt64 || a.Currency() != c {
			t.Fatalf("Parse(%q) = %d %v", s, a.Units(), a.Currency())
		}
		out := a.String()
		_, frac, hasPoint := strings.Cut(out, ".")
		if int32(len(frac)) != c.Scale || hasPoint != (c.Scale > 0) {
			t.Fatalf("String() = %q, want %d decimals", out, c.Scale)
		}
		b, err := money.Parse(out, c)
		if err != nil || b.Units() != a.Units() {
			t.Fatalf("Parse(String() = %q) = %d, %v; want %d", out, b.Units(), err, a.Units())
		}
		switch {
		case a.Units() > 0 && !strings.HasPrefix(s, "-"):
			if perr != nil || p != a {
				t.Fatalf("ParsePayment(%q) = %v, %v; want %v", s, p, perr, a)
			}
		case perr == nil:
			t.Fatalf("ParsePayment(%q) accepted %d", s, p.Units())
		}
	})
}
