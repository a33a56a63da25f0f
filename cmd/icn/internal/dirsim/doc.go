// Package dirsim measures the federation directory at scale: a federation
// tree of up to millions of co-ops whose payments are routed hop by hop by
// their signed directory records (the hubs' own routing rule), and a
// network of real kad-dht directory nodes (routing/directory) on an
// in-memory libp2p network or on TCP loopback, timing lookups.
package dirsim
