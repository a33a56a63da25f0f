// Package routing is the data plane's transport, shared by hub nodes and
// co-op nodes: QUIC connections with mutual TLS pinned to node DIDs,
// protobuf envelopes framed on one stream per request (one slow transfer
// never blocks another), peers that redial with backoff and follow the
// leader, per-connection frame caps, receipts' signing and checking, and
// the data plane's message and signature counters. It knows neither side:
// hub/ and coopnode/ build the protocol on top of it.
package routing
