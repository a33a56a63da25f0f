package dirsim

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/routing"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/routing/directory"
)

// Network is a set of directory nodes joined into one DHT.
type Network struct {
	Nodes []*directory.Node
	mn    mocknet.Mocknet
}

// Transports a Network runs on.
const (
	TransportMem = "mem" // libp2p's in-memory mocknet: real kad-dht, no sockets
	TransportTCP = "tcp" // TCP on 127.0.0.1 with the private network key, as deployed
)

// memAddr is node i's made-up address on the in-memory network.
func memAddr(i int) string {
	return net.JoinHostPort(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "7500")
}

// StartNetwork starts n directory nodes (keys from t's seed) that check
// records against t's root, each joining through up to three earlier ones,
// then refreshes every routing table.
func StartNetwork(ctx context.Context, t *Tree, n int, transport string) (*Network, error) {
	nw := &Network{}
	var psk []byte
	switch transport {
	case TransportMem:
		nw.mn = mocknet.New()
	case TransportTCP:
		psk = make([]byte, 32)
		if _, err := rand.Read(psk); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("dirsim: transport %q: want %s or %s", transport, TransportMem, TransportTCP)
	}
	keys := make([]*identity.Key, n)
	for i := range keys {
		keys[i] = t.key("node", i)
	}
	hosts := make([]directory.Config, n)
	for i, k := range keys {
		hosts[i] = directory.Config{Key: k, Listen: "127.0.0.1:0", PSK: psk, Anchors: t.val.Anchors,
			Logger: slog.New(slog.DiscardHandler), CacheSize: 1}
		if nw.mn == nil {
			continue
		}
		priv, err := crypto.UnmarshalEd25519PrivateKey(k.PrivateKey())
		if err != nil {
			return nil, err
		}
		host, port, _ := net.SplitHostPort(memAddr(i))
		addr, err := ma.NewMultiaddr("/ip4/" + host + "/tcp/" + port)
		if err != nil {
			return nil, err
		}
		if hosts[i].Host, err = nw.mn.AddPeer(priv, addr); err != nil {
			return nil, err
		}
	}
	if nw.mn != nil {
		if err := nw.mn.LinkAll(); err != nil {
			return nil, err
		}
	}
	var peers []directory.Peer
	for i, cfg := range hosts {
		for _, j := range []int{i - 1, i / 2, i / 3} {
			if j >= 0 && j < i && (len(cfg.Bootstrap) == 0 || cfg.Bootstrap[len(cfg.Bootstrap)-1] != peers[j]) {
				cfg.Bootstrap = append(cfg.Bootstrap, peers[j])
			}
		}
		nd, err := directory.Start(ctx, cfg)
		if err != nil {
			nw.Close()
			return nil, fmt.Errorf("directory node %d: %w", i, err)
		}
		nw.Nodes = append(nw.Nodes, nd)
		addr := nd.Addr()
		if nw.mn != nil {
			addr = memAddr(i)
		}
		peers = append(peers, directory.Peer{DID: keys[i].DID(), Addr: addr})
	}
	for i, nd := range nw.Nodes {
		if err := nd.Refresh(ctx); err != nil {
			nw.Close()
			return nil, fmt.Errorf("refresh directory node %d: %w", i, err)
		}
		if nw.mn != nil {
			// A refresh leaves connections to every peer it asked; on the
			// in-memory network each holds buffers and goroutines, and a
			// thousand nodes' worth do not fit one process. The routing
			// table keeps its peers; lookups dial them again (cheaply).
			for _, c := range hosts[i].Host.Network().Conns() {
				_ = c.Close()
			}
		}
	}
	return nw, nil
}

// Lookup looks key up from node i and reports how long it took and how
// many DHT queries it sent.
func (nw *Network) Lookup(ctx context.Context, i int, key string) (time.Duration, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx, events := routing.RegisterForQueryEvents(ctx)
	queries := make(chan int, 1)
	go func() {
		q := 0
		for e := range events {
			if e.Type == routing.SendingQuery {
				q++
			}
		}
		queries <- q
	}()
	start := time.Now()
	_, err := nw.Nodes[i].Lookup(ctx, key)
	took := time.Since(start)
	cancel() // closes events
	return took, <-queries, err
}

// Close stops every node.
func (nw *Network) Close() {
	for _, nd := range nw.Nodes {
		_ = nd.Close()
	}
	if nw.mn != nil {
		_ = nw.mn.Close()
	}
}
