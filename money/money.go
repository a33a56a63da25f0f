package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is a unit of account with a fixed number of decimal places.
type Currency struct {
	Code  string // lower-case identifier, e.g. "hours"
	Scale int32  // decimal places, 0..9
}

// Hours is the default mutual-credit currency: time, to the hundredth.
var Hours = Currency{Code: "hours", Scale: 2}

// Currencies is a set of known currencies, looked up by code.
type Currencies map[string]Currency

// DefaultCurrencies returns the currencies a node knows without configuration.
func DefaultCurrencies() Currencies { return Currencies{Hours.Code: Hours} }

// Lookup returns the currency with the given code.
func (cs Currencies) Lookup(code string) (Currency, error) {
	c, ok := cs[code]
	if !ok {
		return Currency{}, &Error{Kind: ErrUnknownCurrency, Input: code}
	}
	return c, nil
}

// Validate reports whether c is a usable currency definition.
func (c Currency) Validate() error {
	if c.Code == "" || len(c.Code) > 16 {
		return fmt.Errorf("currency code %q: must be 1-16 characters", c.Code)
	}
	for _, r := range c.Code {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("currency code %q: use lower-case letters, digits and _", c.Code)
		}
	}
	if c.Scale < 0 || c.Scale > 9 {
		return fmt.Errorf("currency %s: scale %d outside 0..9", c.Code, c.Scale)
	}
	return nil
}

// Code is the error code every amount error carries on the wire.
const Code = "invalid_amount"

// Sentinel kinds of amount errors; test with errors.Is.
var (
	ErrSyntax          = errors.New("not a plain decimal number")
	ErrExponent        = errors.New("exponents are not allowed")
	ErrTooPrecise      = errors.New("more decimal places than the currency allows")
	ErrSign            = errors.New("amount must be positive")
	ErrZero            = errors.New("amount must not be zero")
	ErrRange           = errors.New("amount is beyond the currency's range")
	ErrOverflow        = errors.New("arithmetic overflow")
	ErrUnknownCurrency = errors.New("unknown currency")
	ErrMismatch        = errors.New("currencies differ")
)

// Error is an amount error: Kind is one of the sentinel errors above.
type Error struct {
	Kind  error
	Input string
}

func (e *Error) Error() string {
	if e.Input == "" {
		return Code + ": " + e.Kind.Error()
	}
	in := e.Input
	if len(in) > 40 {
		in = in[:40] + "…"
	}
	return fmt.Sprintf("%s: %q: %s", Code, in, e.Kind.Error())
}

// Unwrap returns the kind, so errors.Is(err, ErrTooPrecise) works.
func (e *Error) Unwrap() error { return e.Kind }

// ErrorCode returns the wire error code, invalid_amount (unknown_currency for that kind).
func (e *Error) ErrorCode() string {
	if errors.Is(e.Kind, ErrUnknownCurrency) {
		return "unknown_currency"
	}
	return Code
}

// Amount is an exact quantity of one currency, in minor units.
// The zero Amount has no currency; use Zero(c).
type Amount struct {
	units int64
	cur   Currency
}

// Zero returns a zero amount of c.
func Zero(c Currency) Amount { return Amount{cur: c} }

// FromUnits returns the amount of c with the given number of minor units.
func FromUnits(units int64, c Currency) Amount { return Amount{units: units, cur: c} }

// Units returns the amount in minor units (hundredths of an hour for hours).
func (a Amount) Units() int64 { return a.units }

// Currency returns the amount's currency.
func (a Amount) Currency() Currency { return a.cur }

// IsZero reports whether a is zero.
func (a Amount) IsZero() bool { return a.units == 0 }

// Sign returns -1, 0 or +1.
func (a Amount) Sign() int {
	switch {
	case a.units < 0:
		return -1
	case a.units > 0:
		return 1
	}
	return 0
}

// Cmp compares a and b, which must share a currency.
func (a Amount) Cmp(b Amount) int {
	switch {
	case a.units < b.units:
		return -1
	case a.units > b.units:
		return 1
	}
	return 0
}

// Add returns a+b, or an error on a currency mismatch or overflow.
func (a Amount) Add(b Amount) (Amount, error) {
	if a.cur != b.cur {
		return Amount{}, &Error{Kind: ErrMismatch, Input: a.cur.Code + "+" + b.cur.Code}
	}
	s := a.units + b.units
	// MinInt64 is outside the range too (Parse rejects it and Neg could not negate it).
	if (s > a.units) != (b.units > 0) || s == math.MinInt64 {
		return Amount{}, &Error{Kind: ErrOverflow}
	}
	return Amount{units: s, cur: a.cur}, nil
}

// Sub returns a-b, or an error on a currency mismatch or overflow.
func (a Amount) Sub(b Amount) (Amount, error) {
	if b.units == math.MinInt64 {
		return Amount{}, &Error{Kind: ErrOverflow}
	}
	return a.Add(Amount{units: -b.units, cur: b.cur})
}

// Neg returns -a. It cannot overflow because parsed amounts exclude MinInt64.
func (a Amount) Neg() Amount { return Amount{units: -a.units, cur: a.cur} }

// Decimal returns a as an exact decimal.
func (a Amount) Decimal() decimal.Decimal { return decimal.New(a.units, -a.cur.Scale) }

// String formats a with exactly the currency's scale: "2.50", "-0.05", "3".
func (a Amount) String() string { return a.Decimal().StringFixed(a.cur.Scale) }

// maxInput bounds the length of a textual amount: int64 has 19 digits, plus
// sign, point and up to 9 decimals.
const maxInput = 32

// Parse reads a signed decimal amount of c strictly: optional leading '-',
// digits without superfluous leading zeros, optional '.' and 1..Scale digits.
func Parse(s string, c Currency) (Amount, error) {
	if err := checkSyntax(s, c); err != nil {
		return Amount{}, err
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Amount{}, &Error{Kind: ErrSyntax, Input: s}
	}
	units := d.Shift(c.Scale)
	if !units.IsInteger() { // unreachable after checkSyntax; kept as a guard
		return Amount{}, &Error{Kind: ErrTooPrecise, Input: s}
	}
	bi := units.BigInt()
	if !bi.IsInt64() || bi.Cmp(big.NewInt(math.MinInt64)) == 0 {
		return Amount{}, &Error{Kind: ErrRange, Input: s}
	}
	return Amount{units: bi.Int64(), cur: c}, nil
}

// ParsePayment reads an amount that a payment moves: strictly positive.
func ParsePayment(s string, c Currency) (Amount, error) {
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return Amount{}, &Error{Kind: ErrSign, Input: s}
	}
	a, err := Parse(s, c)
	if err != nil {
		return Amount{}, err
	}
	if a.units == 0 {
		return Amount{}, &Error{Kind: ErrZero, Input: s}
	}
	return a, nil
}

func checkSyntax(s string, c Currency) error {
	if len(s) > maxInput {
		return &Error{Kind: ErrRange, Input: s}
	}
	body := strings.TrimPrefix(s, "-")
	if body == "" {
		return &Error{Kind: ErrSyntax, Input: s}
	}
	if body[0] == '+' || body[0] == '-' {
		return &Error{Kind: ErrSign, Input: s}
	}
	intPart, frac, hasPoint := strings.Cut(body, ".")
	if strings.ContainsAny(body, "eE") && allDigitsOr(body, ".eE+-") {
		return &Error{Kind: ErrExponent, Input: s}
	}
	if intPart == "" || !allDigits(intPart) || hasPoint && (frac == "" || !allDigits(frac)) {
		return &Error{Kind: ErrSyntax, Input: s}
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return &Error{Kind: ErrSyntax, Input: s}
	}
	if int32(len(frac)) > c.Scale {
		return &Error{Kind: ErrTooPrecise, Input: s}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allDigitsOr(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !strings.ContainsRune(extra, rune(s[i])) {
			return false
		}
	}
	return true
}
