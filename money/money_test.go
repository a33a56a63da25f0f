package money_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/icn-coop/icn/money"
)

// checkAmountErr asserts that err is a *money.Error of the given kind with the wire code code.
func checkAmountErr(t *testing.T, in string, err, kind error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%q: got no error, want %v", in, kind)
	}
	if !errors.Is(err, kind) {
		t.Errorf("%q: error %v is not %v", in, err, kind)
	}
	var me *money.Error
	if !errors.As(err, &me) {
		t.Fatalf("%q: error %T is not a *money.Error", in, err)
	}
	if got := me.ErrorCode(); got != code {
		t.Errorf("%q: ErrorCode() = %q, want %q", in, got, code)
	}
}

// badCommon fails the same way for Parse and ParsePayment (hours, scale 2).
var badCommon = []struct {
	in   string
	kind error
}{
	// exponents
	{"1e3", money.ErrExponent},
	{"1E2", money.ErrExponent},
	{"2.5e-1", money.ErrExponent},
	{"1e+3", money.ErrExponent},
	{"1e", money.ErrExponent},
	// too many decimals
	{"2.500", money.ErrTooPrecise},
	{"0.001", money.ErrTooPrecise},
	{"1.000000000", money.ErrTooPrecise},
	// signs
	{"+1", money.ErrSign},
	{"--1", money.ErrSign},
	{"-+1", money.ErrSign},
	{"+0", money.ErrSign},
	// huge values
	{"92233720368547758.08", money.ErrRange}, // MaxInt64+1 units
	{"9223372036854775807", money.ErrRange},  // MaxInt64 hours
	{"100000000000000000000", money.ErrRange},
	{strings.Repeat("9", 33), money.ErrRange},
	{strings.Repeat("1", 10000), money.ErrRange},
	{"1" + strings.Repeat("0", 40) + ".00", money.ErrRange},
	// non-numeric
	{"abc", money.ErrSyntax},
	{"", money.ErrSyntax},
	{" 1", money.ErrSyntax},
	{"1 ", money.ErrSyntax},
	{"1,5", money.ErrSyntax},
	{".5", money.ErrSyntax},
	{"5.", money.ErrSyntax},
	{".", money.ErrSyntax},
	{"1.2.3", money.ErrSyntax},
	{"0x10", money.ErrSyntax},
	{"NaN", money.ErrSyntax},
	{"Infinity", money.ErrSyntax},
	{"inf", money.ErrSyntax},
	{"١", money.ErrSyntax}, // ARABIC-INDIC DIGIT ONE
	{"１", money.ErrSyntax}, // FULLWIDTH DIGIT ONE
	{"1_000", money.ErrSyntax},
	{"1\x00", money.ErrSyntax},
	{"\"1\"", money.ErrSyntax},
	// leading zeros
	{"007", money.ErrSyntax},
	{"00", money.ErrSyntax},
	{"01.50", money.ErrSyntax},
}

func TestParseBad(t *testing.T) {
	t.Parallel()
	extra := []struct {
		in   string
		kind error
	}{
		{"-", money.ErrSyntax},
		{"-abc", money.ErrSyntax},
		{"-007", money.ErrSyntax},
		{"-1e3", money.ErrExponent},
		{"-0.001", money.ErrTooPrecise},
		{"-92233720368547758.08", money.ErrRange}, // MinInt64 units: excluded
		{"-92233720368547758.09", money.ErrRange},
	}
	for _, tc := range append(badCommon[:len(badCommon):len(badCommon)], extra...) {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			a, err := money.Parse(tc.in, money.Hours)
			checkAmountErr(t, tc.in, err, tc.kind, money.Code)
			if a != (money.Amount{}) {
				t.Errorf("%q: amount %v returned with error", tc.in, a)
			}
		})
	}
}

func TestParsePaymentBad(t *testing.T) {
	t.Parallel()
	extra := []struct {
		in   string
		kind error
	}{
		{"-1", money.ErrSign},
		{"-0.01", money.ErrSign},
		{"-0", money.ErrSign},
		{"-", money.ErrSign},
		{"0", money.ErrZero},
		{"0.00", money.ErrZero},
		{"0.0", money.ErrZero},
	}
	for _, tc := range append(badCommon[:len(badCommon):len(badCommon)], extra...) {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			_, err := money.ParsePayment(tc.in, money.Hours)
			checkAmountErr(t, tc.in, err, tc.kind, "invalid_amount")
		})
	}
}

func TestParseGood(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		units   int64
		payment bool // ParsePayment accepts it too
	}{
		{"2.5", 250, true},
		{"2.50", 250, true},
		{"0.01", 1, true},
		{"0.1", 10, true},
		{"1", 100, true},
		{"10", 1000, true},
		{"0", 0, false},
		{"0.00", 0, false},
		{"-0", 0, false},
		{"-3", -300, false},
		{"-0.05", -5, false},
		{"92233720368547758.07", math.MaxInt64, true},
		{"-92233720368547758.07", -math.MaxInt64, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			a, err := money.Parse(tc.in, money.Hours)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if a.Units() != tc.units || a.Currency() != money.Hours {
				t.Errorf("Parse(%q) = %d %v, want %d hours", tc.in, a.Units(), a.Currency(), tc.units)
			}
			p, err := money.ParsePayment(tc.in, money.Hours)
			if tc.payment {
				if err != nil || p != a {
					t.Errorf("ParsePayment(%q) = %v, %v; want %v", tc.in, p, err, a)
				}
			} else if err == nil {
				t.Errorf("ParsePayment(%q) accepted a non-positive amount", tc.in)
			}
		})
	}
}

func TestParseScales(t *testing.T) {
	t.Parallel()
	whole := money.Currency{Code: "whole", Scale: 0}
	nano := money.Currency{Code: "nano", Scale: 9}
	cases := []struct {
		in    string
		c     money.Currency
		units int64
		kind  error // nil: success
	}{
		{"5", whole, 5, nil},
		{"5.0", whole, 0, money.ErrTooPrecise},
		{"9223372036854775807", whole, math.MaxInt64, nil},
		{"-9223372036854775807", whole, -math.MaxInt64, nil},
		{"-9223372036854775808", whole, 0, money.ErrRange},
		{"9223372036854775808", whole, 0, money.ErrRange},
		{"0.000000001", nano, 1, nil},
		{"0.0000000001", nano, 0, money.ErrTooPrecise},
		{"9223372036.854775807", nano, math.MaxInt64, nil},
		{"9223372036.854775808", nano, 0, money.ErrRange},
		{"9223372037", nano, 0, money.ErrRange},
	}
	for _, tc := range cases {
		t.Run(tc.c.Code+"/"+tc.in, func(t *testing.T) {
			t.Parallel()
			a, err := money.Parse(tc.in, tc.c)
			if tc.kind != nil {
				checkAmountErr(t, tc.in, err, tc.kind, money.Code)
				return
			}
			if err != nil || a.Units() != tc.units {
				t.Errorf("Parse(%q, %s) = %d, %v; want %d", tc.in, tc.c.Code, a.Units(), err, tc.units)
			}
		})
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		units int64
		c     money.Currency
		want  string
	}{
		{250, money.Hours, "2.50"},
		{-5, money.Hours, "-0.05"},
		{300, money.Hours, "3.00"},
		{0, money.Hours, "0.00"},
		{1, money.Hours, "0.01"},
		{math.MaxInt64, money.Hours, "92233720368547758.07"},
		{-math.MaxInt64, money.Hours, "-92233720368547758.07"},
		{3, money.Currency{Code: "whole", Scale: 0}, "3"},
		{-1, money.Currency{Code: "nano", Scale: 9}, "-0.000000001"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			a := money.FromUnits(tc.units, tc.c)
			if got := a.String(); got != tc.want {
				t.Fatalf("FromUnits(%d).String() = %q, want %q", tc.units, got, tc.want)
			}
			b, err := money.Parse(a.String(), tc.c)
			if err != nil || b != a {
				t.Errorf("Parse(%q) = %v, %v; want %v", a.String(), b, err, a)
			}
			if d := a.Decimal(); !d.Equal(decimal.RequireFromString(tc.want)) {
				t.Errorf("Decimal() = %s, want %s", d, tc.want)
			}
		})
	}
}

func TestAmountBasics(t *testing.T) {
	t.Parallel()
	z := money.Zero(money.Hours)
	if !z.IsZero() || z.Sign() != 0 || z.Currency() != money.Hours || z.String() != "0.00" {
		t.Errorf("Zero(Hours) = %v", z)
	}
	a, b := money.FromUnits(-7, money.Hours), money.FromUnits(3, money.Hours)
	if a.Sign() != -1 || b.Sign() != 1 || a.IsZero() {
		t.Errorf("Sign: %d %d", a.Sign(), b.Sign())
	}
	if a.Cmp(b) != -1 || b.Cmp(a) != 1 || a.Cmp(a) != 0 {
		t.Errorf("Cmp wrong")
	}
	if n := a.Neg(); n.Units() != 7 || n.Currency() != money.Hours {
		t.Errorf("Neg = %v", n)
	}
}

func TestArithmetic(t *testing.T) {
	t.Parallel()
	h := func(u int64) money.Amount { return money.FromUnits(u, money.Hours) }
	credits := money.Currency{Code: "credits", Scale: 2}
	hours3 := money.Currency{Code: "hours", Scale: 3}
	const maxU, minU = math.MaxInt64, math.MinInt64
	cases := []struct {
		name string
		op   func() (money.Amount, error)
		want int64
		kind error
	}{
		{"add", func() (money.Amount, error) { return h(250).Add(h(-50)) }, 200, nil},
		{"sub", func() (money.Amount, error) { return h(250).Sub(h(300)) }, -50, nil},
		{"add to max", func() (money.Amount, error) { return h(maxU - 1).Add(h(1)) }, maxU, nil},
		{"sub to -max", func() (money.Amount, error) { return h(-maxU + 1).Sub(h(1)) }, -maxU, nil},
		{"add zero at max", func() (money.Amount, error) { return h(maxU).Add(h(0)) }, maxU, nil},
		{"add overflow", func() (money.Amount, error) { return h(maxU).Add(h(1)) }, 0, money.ErrOverflow},
		{"add overflow big", func() (money.Amount, error) { return h(maxU).Add(h(maxU)) }, 0, money.ErrOverflow},
		{"add underflow", func() (money.Amount, error) { return h(-maxU).Add(h(-maxU)) }, 0, money.ErrOverflow},
		{"add reaches MinInt64", func() (money.Amount, error) { return h(-maxU).Add(h(-1)) }, 0, money.ErrOverflow},
		{"sub overflow", func() (money.Amount, error) { return h(maxU).Sub(h(-1)) }, 0, money.ErrOverflow},
		{"sub reaches MinInt64", func() (money.Amount, error) { return h(-maxU).Sub(h(1)) }, 0, money.ErrOverflow},
		{"sub MinInt64", func() (money.Amount, error) { return h(0).Sub(h(minU)) }, 0, money.ErrOverflow},
		{"sub underflow", func() (money.Amount, error) { return h(-maxU).Sub(h(maxU)) }, 0, money.ErrOverflow},
		{"add mismatch", func() (money.Amount, error) { return h(1).Add(money.FromUnits(1, credits)) }, 0, money.ErrMismatch},
		{"sub mismatch", func() (money.Amount, error) { return h(1).Sub(money.FromUnits(1, credits)) }, 0, money.ErrMismatch},
		{"scale mismatch", func() (money.Amount, error) { return h(1).Add(money.FromUnits(1, hours3)) }, 0, money.ErrMismatch},
		{"zero-value mismatch", func() (money.Amount, error) { return h(1).Add(money.Amount{}) }, 0, money.ErrMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.op()
			if tc.kind != nil {
				checkAmountErr(t, tc.name, err, tc.kind, money.Code)
				return
			}
			if err != nil || got != h(tc.want) {
				t.Errorf("got %v (%d), %v; want %d", got, got.Units(), err, tc.want)
			}
		})
	}
}

func TestCurrencyValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c  money.Currency
		ok bool
	}{
		{money.Hours, true},
		{money.Currency{Code: "x", Scale: 0}, true},
		{money.Currency{Code: "time_bank_2", Scale: 9}, true},
		{money.Currency{Code: strings.Repeat("a", 16), Scale: 2}, true},
		{money.Currency{Code: "", Scale: 2}, false},
		{money.Currency{Code: strings.Repeat("a", 17), Scale: 2}, false},
		{money.Currency{Code: "Hours", Scale: 2}, false},
		{money.Currency{Code: "time-bank", Scale: 2}, false},
		{money.Currency{Code: "hours ", Scale: 2}, false},
		{money.Currency{Code: "heures€", Scale: 2}, false},
		{money.Currency{Code: "hours", Scale: -1}, false},
		{money.Currency{Code: "hours", Scale: 10}, false},
	}
	for _, tc := range cases {
		t.Run(tc.c.Code+"/"+strconv.Itoa(int(tc.c.Scale)), func(t *testing.T) {
			t.Parallel()
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tc.c, err, tc.ok)
			}
		})
	}
}

func TestCurrenciesLookup(t *testing.T) {
	t.Parallel()
	cs := money.DefaultCurrencies()
	if c, err := cs.Lookup("hours"); err != nil || c != money.Hours {
		t.Errorf("Lookup(hours) = %v, %v", c, err)
	}
	for _, code := range []string{"", "HOURS", "euros"} {
		_, err := cs.Lookup(code)
		checkAmountErr(t, code, err, money.ErrUnknownCurrency, "unknown_currency")
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := money.Parse("2.500", money.Hours)
	if got, want := err.Error(), `invalid_amount: "2.500": more decimal places than the currency allows`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = money.Parse(strings.Repeat("9", 1000), money.Hours)
	if len(err.Error()) > 120 {
		t.Errorf("Error() does not truncate long input: %d bytes", len(err.Error()))
	}
	_, err = money.FromUnits(math.MaxInt64, money.Hours).Add(money.FromUnits(1, money.Hours))
	if got, want := err.Error(), "invalid_amount: arithmetic overflow"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestRoundTripProperty: for random units and every scale 0..9,
// Parse(FromUnits(u).String()) == u, and String has exactly Scale decimals.
func TestRoundTripProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(20240601, 1))
	edges := []int64{0, 1, -1, 9, 10, 99, 100, -100, 1e9, -1e9, math.MaxInt64, -math.MaxInt64, math.MaxInt64 - 1}
	for scale := int32(0); scale <= 9; scale++ {
		c := money.Currency{Code: "c" + strconv.Itoa(int(scale)), Scale: scale}
		units := append([]int64(nil), edges...)
		for range 5000 {
			u := r.Int64() >> r.UintN(64) // vary the magnitude, not only ~19-digit values
			if r.IntN(2) == 0 {
				u = -u
			}
			units = append(units, u)
		}
		for _, u := range units {
			if u == math.MinInt64 {
				continue
			}
			s := money.FromUnits(u, c).String()
			if _, frac, _ := strings.Cut(s, "."); int32(len(frac)) != scale || scale == 0 && strings.Contains(s, ".") {
				t.Fatalf("scale %d: String(%d) = %q, want %d decimals", scale, u, s, scale)
			}
			a, err := money.Parse(s, c)
			if err != nil || a.Units() != u {
				t.Fatalf("scale %d: Parse(%q) = %d, %v; want %d", scale, s, a.Units(), err, u)
			}
		}
	}
}
