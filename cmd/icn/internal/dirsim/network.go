package dirsim

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
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
// then refreshes every routing table. It refuses a network that would not
// fit in the memory this machine has available.
func StartNetwork(ctx context.Context, t *Tree, n int, transport string) (*Network, error) {
	if err := checkMemory(n, transport, availableMemory()); err != nil {
		return nil, err
	}
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
	tr, err := nw.LookupTrace(ctx, i, key)
	return tr.Took, tr.Queries, err
}

// Trace is one lookup as its DHT query and lookup events show it.
type Trace struct {
	Took    time.Duration
	Queries int // SendingQuery events (follow-up queries included)
	// QueryTimes are the times of the lookup's answered queries as its
	// query loop saw them: from the loop sending the query (dial included)
	// to the loop taking in the answer (the record's check included), by
	// the lookup events kad-dht publishes; the follow-up queries publish
	// none and are not in them.
	QueryTimes []time.Duration
	// RPCTimes are the answered queries' times by the query events: from
	// dialing the peer (or, connected, sending the request) to its answer,
	// in the order the queries started.
	RPCTimes []time.Duration
}

// LookupTrace looks key up from node i, tracing its DHT queries.
func (nw *Network) LookupTrace(ctx context.Context, i int, key string) (Trace, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx, events := routing.RegisterForQueryEvents(ctx)
	ctx, lookupEvents := dht.RegisterForLookupEvents(ctx)
	var tr Trace
	done := make(chan struct{}, 2)
	go func() {
		open := map[peer.ID]time.Time{}
		type rpc struct{ start, end time.Time }
		var rpcs []rpc
		for e := range events {
			now := time.Now()
			switch e.Type {
			case routing.SendingQuery:
				tr.Queries++
				fallthrough
			case routing.DialingPeer:
				if _, ok := open[e.ID]; !ok {
					open[e.ID] = now
				}
			case routing.PeerResponse:
				if t, ok := open[e.ID]; ok {
					rpcs = append(rpcs, rpc{t, now})
					delete(open, e.ID)
				}
			case routing.QueryError:
				delete(open, e.ID)
			}
		}
		slices.SortStableFunc(rpcs, func(a, b rpc) int { return a.start.Compare(b.start) })
		for _, r := range rpcs {
			tr.RPCTimes = append(tr.RPCTimes, r.end.Sub(r.start))
		}
		done <- struct{}{}
	}()
	go func() {
		sent := map[peer.ID]time.Time{}
		for e := range lookupEvents {
			now := time.Now()
			if e.Request != nil {
				for _, p := range e.Request.Waiting {
					sent[p.Peer] = now
				}
			}
			if e.Response != nil {
				for _, p := range e.Response.Queried {
					if t, ok := sent[p.Peer]; ok {
						tr.QueryTimes = append(tr.QueryTimes, now.Sub(t))
					}
				}
			}
		}
		done <- struct{}{}
	}()
	start := time.Now()
	_, err := nw.Nodes[i].Lookup(ctx, key)
	took := time.Since(start)
	cancel() // closes both event channels
	<-done
	<-done
	tr.Took = took
	return tr, err
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
