package trust_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

// testKey returns a deterministic key; different n give different keys.
func testKey(t testing.TB, n byte) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// did returns the DID of a key generated for participant i (a DID must hold
// a real key: most 32-byte strings are refused by identity.ParseDID).
func did(i int) identity.DID {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	seed := sha256.Sum256(n[:])
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		panic(err)
	}
	return k.DID()
}

// dids returns n participants sorted by DID, so tests can reason about DID order.
func dids(n int) []identity.DID {
	d := make([]identity.DID, n)
	for i := range d {
		d[i] = did(i)
	}
	slices.Sort(d)
	return d
}

func w(s string) trust.Weight {
	v, err := trust.ParseWeight(s)
	if err != nil {
		panic(err)
	}
	return v
}

// mustSet adds an edge and fails the test on error.
func mustSet(t testing.TB, g *trust.Graph, from, to identity.DID, weight trust.Weight, at int64) {
	t.Helper()
	if err := g.Set(trust.Attestation{From: from, To: to, Weight: weight, IssuedAt: at}); err != nil {
		t.Fatal(err)
	}
}

// bruteBest is the reference: it enumerates every simple path of at most hops edges from
// `from` and returns the best product, with the path Path must choose (fewest edges, then the
// lexicographically smallest DID sequence); nil and 0 if no path carries any trust.
func bruteBest(edges []trust.Edge, hops int, from, to identity.DID) ([]identity.DID, trust.Weight) {
	if from == to {
		return []identity.DID{from}, trust.One
	}
	out := map[identity.DID][]trust.Edge{}
	for _, e := range edges {
		out[e.From] = append(out[e.From], e)
	}
	var best []identity.DID
	var bestW trust.Weight
	var walk func(path []identity.DID, p trust.Weight)
	walk = func(path []identity.DID, p trust.Weight) {
		x := path[len(path)-1]
		if x == to {
			if p > bestW || (p == bestW && p > 0 && better(path, best)) {
				best, bestW = slices.Clone(path), p
			}
			return
		}
		if len(path) > hops {
			return
		}
		for _, e := range out[x] {
			if !slices.Contains(path, e.To) {
				walk(append(path, e.To), p.Mul(e.Weight))
			}
		}
	}
	walk([]identity.DID{from}, trust.One)
	return best, bestW
}

// better reports whether path a is preferred to b: fewer hops, then smaller DIDs in order.
func better(a, b []identity.DID) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return slices.Compare(a, b) < 0
}
