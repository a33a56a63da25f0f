// Package proto holds the .proto definitions of package icn.v1 and, in
// icnv1/, the Go code generated from them by `make proto`.
package proto

//go:generate protoc --proto_path=. --go_out=. --go_opt=module=github.com/icn-coop/icn/proto icn/v1/ledger.proto
