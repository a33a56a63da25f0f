package directory

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// startNodes starts n directory nodes on loopback, each bootstrapping from
// the ones before it, all on the clock now and sharing psk.
func startNodes(t *testing.T, n int, now func() time.Time, psk []byte, anchors ...identity.DID) []*Node {
	t.Helper()
	var nodes []*Node
	var boot []Peer
	for i := 0; i < n; i++ {
		k := newKey(t)
		nd, err := Start(context.Background(), Config{Key: k, Listen: "127.0.0.1:0", Bootstrap: boot, PSK: psk,
			Anchors: anchors, Clock: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
		boot = append(boot, Peer{DID: k.DID(), Addr: nd.Addr()})
	}
	testutil.WaitFor(t, 20*time.Second, "every node to know another", func() bool {
		for _, nd := range nodes {
			if nd.Peers() == 0 {
				return false
			}
		}
		return true
	})
	return nodes
}

var psk = bytes.Repeat([]byte{7}, 32)

// TestPublishAndLookUp: a record published on one node is found from
// every other, by DID and by name, and a newer record replaces it while an
// older one, published later, does not.
func TestPublishAndLookUp(t *testing.T) {
	tr := newTree(t)
	now := func() time.Time { return t0 }
	nodes := startNodes(t, 5, now, psk, tr.root.DID())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v1 := tr.coopRecord(t, 1, t0.Add(time.Hour))
	for _, key := range []string{CoopKey(string(tr.coop.DID())), CoopKey("riverside")} {
		if err := nodes[0].Publish(ctx, key, v1); err != nil {
			t.Fatal(err)
		}
	}
	for i, nd := range nodes[1:] {
		r, err := nd.Lookup(ctx, CoopKey("riverside"))
		if err != nil || r.Subject != tr.coop.DID() || r.Seq != 1 {
			t.Fatalf("node %d: %+v, %v", i+1, r, err)
		}
	}
	key := CoopKey(string(tr.coop.DID()))
	if err := nodes[2].Publish(ctx, key, tr.coopRecord(t, 3, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	// An older record, published later, is not taken over the newer one.
	if err := nodes[3].Publish(ctx, key, tr.coopRecord(t, 2, t0.Add(time.Hour))); err == nil {
		t.Log("the older record was accepted by some nodes (they had not seen the newer)")
	}
	testutil.WaitFor(t, 10*time.Second, "the newest record everywhere", func() bool {
		for _, nd := range nodes {
			nd.cache.Purge()
			if r, err := nd.Lookup(ctx, key); err != nil || r.Seq != 3 {
				return false
			}
		}
		return true
	})
	// A forged record is refused before it leaves the node.
	forged, _ := Sign(newKey(t), "riverside", false, mustLink(t, tr.region, tr.coop.DID(), "riverside", 9, t0.Add(time.Hour)), nil, 9, t0.Add(time.Hour))
	if err := nodes[1].Publish(ctx, key, forged); !errors.Is(err, ErrRecord) {
		t.Fatalf("forged record published: %v", err)
	}
	if _, err := nodes[4].Lookup(ctx, CoopKey("no-such-coop")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
}

// TestPrivateNetwork: a node without the federations' key cannot join.
func TestPrivateNetwork(t *testing.T) {
	now := func() time.Time { return t0 }
	nodes := startNodes(t, 2, now, psk)
	k := newKey(t)
	outsider, err := Start(context.Background(), Config{Key: k, Listen: "127.0.0.1:0", PSK: bytes.Repeat([]byte{8}, 32),
		Bootstrap: []Peer{{DID: nodes[0].cfg.Key.DID(), Addr: nodes[0].Addr()}}, Clock: now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer outsider.Close()
	if outsider.Peers() != 0 {
		t.Fatalf("an outsider joined %d peers", outsider.Peers())
	}
}

// acceptAll is a validator a dishonest node could run.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

// TestDishonestNodeCannotPlantRecords: a node inside the private network
// that skips validation puts a forged, newer-numbered record to its
// neighbours; they refuse to store it, and lookups keep finding the real one.
func TestDishonestNodeCannotPlantRecords(t *testing.T) {
	tr := newTree(t)
	now := func() time.Time { return t0 }
	nodes := startNodes(t, 4, now, psk, tr.root.DID())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := CoopKey(string(tr.coop.DID()))
	if err := nodes[0].Publish(ctx, key, tr.coopRecord(t, 1, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}

	evilKey := newKey(t)
	priv, _ := crypto.UnmarshalEd25519PrivateKey(evilKey.PrivateKey())
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.PrivateNetwork(psk), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	evil, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix("/"+Namespace),
		dht.NamespacedValidator(Namespace, acceptAll{}), dht.DisableProviders())
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	for _, nd := range nodes {
		ai, _ := addrInfo(Peer{DID: nd.cfg.Key.DID(), Addr: nd.Addr()})
		if err := h.Connect(ctx, ai); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the dishonest node to know the others", func() bool { return evil.RoutingTable().Size() == len(nodes) })
	stranger := newKey(t)
	forged, _ := Sign(stranger, "riverside", false, mustLink(t, stranger, tr.coop.DID(), "riverside", 99, t0.Add(time.Hour)), nil, 99, t0.Add(time.Hour))
	_ = evil.PutValue(ctx, key, forged) // the honest nodes refuse it; the evil one keeps its own copy

	for i, nd := range nodes {
		nd.cache.Purge()
		r, err := nd.Lookup(ctx, key)
		if err != nil || r.Seq != 1 || r.Admitter() != tr.region.DID() {
			t.Fatalf("node %d after the forgery: %+v, %v", i, r, err)
		}
	}
}
