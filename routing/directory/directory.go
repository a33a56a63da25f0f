package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/identity"
)

// ErrNotFound is what Lookup returns for a key no node holds a valid record of.
var ErrNotFound = errors.New("directory: no record")

// Peer is another hub node's directory address.
type Peer struct {
	DID  identity.DID
	Addr string // host:port (TCP)
}

// Config configures a directory node.
type Config struct {
	// Key is the hub node's key; its libp2p peer id is derived from it, so
	// a peer id names exactly one node DID.
	Key *identity.Key
	// Listen is the TCP address to listen on ("0.0.0.0:7500"; port 0 picks one).
	Listen string
	// Bootstrap are hub nodes to join the DHT through.
	Bootstrap []Peer
	// PSK, if set (32 bytes), makes the DHT a libp2p private network: only
	// nodes holding the same key connect at all. The participating
	// federations share it.
	PSK []byte
	// Anchors are the root federations every record must reach (Validator).
	Anchors []identity.DID
	// CacheSize bounds the records Lookup remembers until they expire (1024).
	CacheSize int
	Clock     func() time.Time
	Logger    *slog.Logger
	// Host, if set, is the libp2p host to run on instead of a TCP one of
	// its own (a simulation's in-memory network); Listen and PSK are then
	// unused and the peer id is the host's. Close closes it.
	Host host.Host
}

// Node is one hub node's member of the federation directory: a kad-dht
// server on a libp2p host, with its own protocol prefix (/icn) and record
// validator, so it neither joins nor serves the public IPFS DHT.
type Node struct {
	cfg   Config
	host  host.Host
	dht   *dht.IpfsDHT
	val   Validator
	cache *lru.Cache[string, Record]
	log   *slog.Logger

	lookups   *prometheus.CounterVec
	latency   prometheus.Histogram
	publishes *prometheus.CounterVec
}

// Lookup results, the label of icn_directory_lookups_total.
const (
	ResultCached   = "cached"
	ResultFound    = "found"
	ResultNotFound = "not_found"
	ResultError    = "error"
)

// PeerID is the libp2p peer id of the node with key k's DID.
func PeerID(d identity.DID) (peer.ID, error) {
	pub, err := d.PublicKey()
	if err != nil {
		return "", err
	}
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pk)
}

// Start starts the node and joins the DHT through cfg.Bootstrap (those
// that answer; a node with none waits to be found).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Key == nil {
		return nil, errors.New("directory: a node key is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 1024
	}
	if cfg.PSK != nil && len(cfg.PSK) != 32 {
		return nil, fmt.Errorf("directory: the private network key is %d bytes, want 32", len(cfg.PSK))
	}
	h := cfg.Host
	if h == nil {
		var err error
		if h, err = newHost(cfg); err != nil {
			return nil, err
		}
	}
	n := &Node{cfg: cfg, host: h, val: Validator{Now: cfg.Clock, Anchors: cfg.Anchors},
		log: cfg.Logger.With("component", "directory"),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "icn_directory_lookups_total",
			Help: "Federation directory lookups by result: cached, found, not_found, error."}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "icn_directory_lookup_seconds",
			Help: "Time of directory lookups that went to the DHT.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "icn_directory_publishes_total",
			Help: "Records this node published to the directory, by result: ok, error."}, []string{"result"}),
	}
	for _, r := range []string{ResultCached, ResultFound, ResultNotFound, ResultError} {
		n.lookups.WithLabelValues(r)
	}
	n.publishes.WithLabelValues("ok")
	n.publishes.WithLabelValues("error")
	n.cache, _ = lru.New[string, Record](cfg.CacheSize)
	var boot []peer.AddrInfo
	for _, p := range cfg.Bootstrap {
		ai, err := addrInfo(p)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("directory: bootstrap peer %s: %w", p.DID.Short(), err)
		}
		boot = append(boot, ai)
	}
	var err error
	n.dht, err = dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix("/"+Namespace),
		dht.NamespacedValidator(Namespace, n.val), dht.BootstrapPeers(boot...), dht.DisableProviders(),
		dht.RoutingTableRefreshPeriod(time.Minute))
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("directory: dht: %w", err)
	}
	for _, ai := range boot {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := h.Connect(cctx, ai); err != nil {
			n.log.Warn("directory bootstrap peer unreachable", "peer", ai.ID, "err", err)
		}
		cancel()
	}
	if err := n.dht.Bootstrap(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("directory: bootstrap: %w", err)
	}
	n.log.Info("directory node up", "addr", n.Addr(), "bootstrap", len(boot))
	return n, nil
}

// newHost is the node's libp2p host: TCP on cfg.Listen, peer id from the
// node key, a private network if cfg.PSK is set, no relays.
func newHost(cfg Config) (host.Host, error) {
	listen, err := tcpMultiaddr(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("directory: listen %q: %w", cfg.Listen, err)
	}
	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key.PrivateKey())
	if err != nil {
		return nil, fmt.Errorf("directory: node key: %w", err)
	}
	opts := []libp2p.Option{libp2p.Identity(priv), libp2p.ListenAddrs(listen), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics()}
	if cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(cfg.PSK))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("directory: libp2p host: %w", err)
	}
	return h, nil
}

func tcpMultiaddr(hostport string) (ma.Multiaddr, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("port %q", port)
	}
	ip := net.ParseIP(host)
	switch {
	case host == "":
		return ma.NewMultiaddr("/ip4/0.0.0.0/tcp/" + port)
	case ip == nil:
		return ma.NewMultiaddr("/dns/" + host + "/tcp/" + port)
	case ip.To4() != nil:
		return ma.NewMultiaddr("/ip4/" + ip.String() + "/tcp/" + port)
	}
	return ma.NewMultiaddr("/ip6/" + ip.String() + "/tcp/" + port)
}

func addrInfo(p Peer) (peer.AddrInfo, error) {
	id, err := PeerID(p.DID)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	a, err := tcpMultiaddr(p.Addr)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	return peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{a}}, nil
}

// Addr is the host:port this node listens on (the first TCP address).
func (n *Node) Addr() string {
	for _, a := range n.host.Addrs() {
		ip, err1 := a.ValueForProtocol(ma.P_IP4)
		port, err2 := a.ValueForProtocol(ma.P_TCP)
		if err1 == nil && err2 == nil {
			return net.JoinHostPort(ip, port)
		}
	}
	return ""
}

// Peers is how many directory nodes this one has in its routing table.
func (n *Node) Peers() int { return n.dht.RoutingTable().Size() }

// Refresh fills the node's routing table now and waits until it is done
// (the DHT refreshes it every minute by itself).
func (n *Node) Refresh(ctx context.Context) error {
	select {
	case err := <-n.dht.ForceRefresh():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitJoined waits until the node knows another directory node (its
// routing table is not empty) or ctx ends.
func (n *Node) WaitJoined(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for n.Peers() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("directory: no other directory node joined: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Publish stores value, a record Sign made, under key on the DHT nodes
// closest to it (and this one). It is checked as every node will check it.
func (n *Node) Publish(ctx context.Context, key string, value []byte) error {
	if err := n.val.Validate(key, value); err != nil {
		n.publishes.WithLabelValues("error").Inc()
		return err
	}
	if err := n.dht.PutValue(ctx, key, value); err != nil {
		n.publishes.WithLabelValues("error").Inc()
		return fmt.Errorf("publish %s: %w", key, err)
	}
	n.publishes.WithLabelValues("ok").Inc()
	n.cache.Remove(key)
	return nil
}

// Lookup finds the best valid record under key: from the cache until the
// record (or a link on its path) expires, else from the DHT.
func (n *Node) Lookup(ctx context.Context, key string) (Record, error) {
	now := n.cfg.Clock()
	if r, ok := n.cache.Get(key); ok && now.Before(r.validUntil()) {
		n.lookups.WithLabelValues(ResultCached).Inc()
		return r, nil
	}
	start := time.Now()
	v, err := n.dht.GetValue(ctx, key)
	n.latency.Observe(time.Since(start).Seconds())
	switch {
	case errors.Is(err, routing.ErrNotFound):
		n.lookups.WithLabelValues(ResultNotFound).Inc()
		return Record{}, fmt.Errorf("%w under %s", ErrNotFound, key)
	case err != nil:
		n.lookups.WithLabelValues(ResultError).Inc()
		return Record{}, fmt.Errorf("look up %s: %w", key, err)
	}
	r, err := n.val.Record(key, v)
	if err != nil { // the DHT checks too; a record may expire on the way
		n.lookups.WithLabelValues(ResultError).Inc()
		return Record{}, err
	}
	n.lookups.WithLabelValues(ResultFound).Inc()
	n.cache.Add(key, r)
	return r, nil
}

// validUntil is when the record or a link of its path expires.
func (r Record) validUntil() time.Time {
	t := r.Expires
	for _, l := range r.Path {
		if l.Expires.Before(t) {
			t = l.Expires
		}
	}
	return t
}

// Collectors returns the node's metrics.
func (n *Node) Collectors() []prometheus.Collector {
	return []prometheus.Collector{n.lookups, n.latency, n.publishes}
}

// Close leaves the DHT and stops the host.
func (n *Node) Close() error {
	err := n.dht.Close()
	return errors.Join(err, n.host.Close())
}
