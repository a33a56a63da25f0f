// Package money holds exact amounts of mutual-credit currencies: int64 minor
// units of a currency with a fixed scale, strict decimal parsing and checked arithmetic.
//
// No float ever touches an Amount. Parsing goes through shopspring/decimal after
// a strict syntax check, so "2.5" and "2.50" are accepted for hours while "2.500",
// "1e3", "+1" and " 1" are rejected with a typed error whose Code is invalid_amount.
package money
