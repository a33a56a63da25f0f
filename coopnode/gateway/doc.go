// Package gateway is a co-op node's wallet gateway: the HTTP and WebSocket API
// of API.md that member apps call — login, membership, payments, balances,
// history, live events, devices — with JWT sessions, rate limits and metrics.
// Refresh tokens are single-use; reusing one closes its session (sessions.go).
//
// Every authenticated route checks, in DESIGN.md's order: token valid → DID
// matches (or the caller's role may read others) → credential valid for this
// co-op → not revoked → role permits.
package gateway
