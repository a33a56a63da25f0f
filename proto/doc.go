// Package proto holds the .proto definitions of package icn.v1 and, in
// icnv1/, the Go code generated from them by `make proto`.
package proto

//go:generate make -C .. proto
