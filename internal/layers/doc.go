// Package layers holds no code: its test checks the import rules of the
// house (DESIGN.md's package map) against `go list`, so a change that lets
// a domain package do I/O, or hub and coopnode reach into each other, fails.
package layers
