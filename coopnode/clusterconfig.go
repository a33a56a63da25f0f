package coopnode

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/identity"
)

// ClusterConfig replicates the co-op's state over 2–5 nodes (3
// recommended) with one Raft group; empty: a single node. Every node of
// the co-op shares the co-op's key (key_file: it signs tokens and
// credentials and is the co-op's identity at the hub) and has its own
// node key (node_key_file), whose DID names it in peers.
type ClusterConfig struct {
	// NodeKeyFile is this node's key in the group (default
	// <data_dir>/cluster.key, created if missing; `icn coop cluster id`
	// prints its DID).
	NodeKeyFile string `toml:"node_key_file"`
	// Bind is the raft listen address (TCP, TLS pinned to the peers'
	// DIDs); Advertise the address the other nodes dial (default: Bind).
	Bind      string `toml:"bind"`
	Advertise string `toml:"advertise"`
	// Peers is the initial cluster, this node included unless it is being
	// added to a running one (`icn coop cluster add`).
	Peers []ClusterPeerConfig `toml:"peers"`
	// HeartbeatTimeout is raft's heartbeat and election timeout (1s).
	HeartbeatTimeout Duration `toml:"heartbeat_timeout"`

	// Listener, if set, is used instead of binding Bind (tests).
	Listener net.Listener `toml:"-"`
}

// ClusterPeerConfig is one node of the co-op's cluster.
type ClusterPeerConfig struct {
	DID  string `toml:"did"`  // its node key's DID
	Raft string `toml:"raft"` // its raft address (host:port)
	// API is its gateway's base URL (http[s]://host:port): followers send
	// writes there while it leads.
	API string `toml:"api"`
}

// Enabled reports whether the section configures a cluster.
func (c ClusterConfig) Enabled() bool { return c.Bind != "" || len(c.Peers) > 0 }

func (c *ClusterConfig) setDefaults(dataDir string) {
	if c.Enabled() && c.NodeKeyFile == "" && dataDir != "" {
		c.NodeKeyFile = filepath.Join(dataDir, "cluster.key")
	}
}

func (c *ClusterConfig) validate() error {
	if !c.Enabled() {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Bind); err != nil && c.Listener == nil {
		return fmt.Errorf("cluster.bind %q: the raft listen address, host:port (e.g. \"0.0.0.0:7400\")", c.Bind)
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			return fmt.Errorf("cluster.advertise %q: the address the other nodes dial, host:port", c.Advertise)
		}
	}
	if n := len(c.Peers); n < 2 || n > 5 {
		return fmt.Errorf("cluster.peers: list 2 to 5 nodes (3 recommended), not %d; a single node needs no [cluster]", n)
	}
	seen := map[string]bool{}
	for i, p := range c.Peers {
		if _, _, err := identity.ParseDID(p.DID); err != nil {
			return fmt.Errorf("cluster.peers[%d].did: the node key's DID (icn coop cluster id): %w", i, err)
		}
		if seen[p.DID] {
			return fmt.Errorf("cluster.peers[%d].did: %s is listed twice", i, p.DID)
		}
		seen[p.DID] = true
		if _, _, err := net.SplitHostPort(p.Raft); err != nil {
			return fmt.Errorf("cluster.peers[%d].raft %q: its raft address, host:port", i, p.Raft)
		}
		if err := checkAPI(p.API); err != nil {
			return fmt.Errorf("cluster.peers[%d].api: %w", i, err)
		}
	}
	if c.HeartbeatTimeout < 0 {
		return errors.New("cluster.heartbeat_timeout: give a positive duration like \"1s\"")
	}
	return nil
}

func checkAPI(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q: its gateway's base URL, e.g. \"https://coop2.example:8443\"", s)
	}
	return nil
}

// peers is the section's peers as the cluster takes them.
func (c *ClusterConfig) peers() []cluster.Peer {
	out := make([]cluster.Peer, len(c.Peers))
	for i, p := range c.Peers {
		out[i] = cluster.Peer{DID: identity.DID(p.DID), RaftAddr: p.Raft, API: p.API}
	}
	return out
}
