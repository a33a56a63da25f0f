package settlement_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/settlement"
)

// The byte layout documented in doc.go, written out by hand.
func TestTransferBytesVector(t *testing.T) {
	x := clearing.Transfer{ID: "t1", From: A, To: B, Amount: h(250), State: clearing.StateCommitted,
		Period: 7, DecidedAt: 1_000_000_000_000_000_000, IntentHash: [32]byte{9}, PreparedAt: 5, ExpiresAt: 6}
	var want bytes.Buffer
	want.WriteByte(0x01)
	str := func(s string) {
		want.Write([]byte{0, 0, byte(len(s) >> 8), byte(len(s))})
		want.WriteString(s)
	}
	str("t1")
	str(string(A))
	str(string(B))
	str("hours")
	want.WriteByte(2)
	want.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0xfa})
	want.Write([]byte{0, 0, 0, 0, 0, 0, 0, 7})
	want.Write([]byte{0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00})
	got := settlement.TransferBytes(x)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("TransferBytes\n got %x\nwant %x", got, want.Bytes())
	}
	if !strings.HasPrefix(hex.EncodeToString(got), "01000000027431") {
		t.Fatalf("doc example prefix: %x", got)
	}
	leaf := sha256.Sum256(append([]byte{0}, want.Bytes()...))
	if settlement.LeafHash(x) != leaf {
		t.Fatal("LeafHash is not SHA-256(0x00 || bytes)")
	}
	// Fields outside the leaf do not change it.
	y := x
	y.IntentHash, y.PreparedAt, y.ExpiresAt, y.Reason = [32]byte{}, 0, 0, clearing.ReasonCanceled
	if settlement.LeafHash(y) != leaf {
		t.Fatal("leaf depends on a field outside the documented layout")
	}
	// A negative decided_at is two's complement.
	y.DecidedAt = -1
	if b := settlement.TransferBytes(y); !bytes.HasSuffix(b, bytes.Repeat([]byte{0xff}, 8)) {
		t.Fatalf("decided_at -1: %x", b)
	}
}

// Reference implementation of RFC 9162 §2.1.1 (MTH) and §2.1.3.1 (PATH),
// recursive, on leaf hashes.
func rfcMTH(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := splitPoint(len(leaves))
	l, r := rfcMTH(leaves[:k]), rfcMTH(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// splitPoint is the largest power of two smaller than n (n ≥ 2).
func splitPoint(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

func rfcPath(m int, leaves [][32]byte) [][32]byte {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := splitPoint(n)
	if m < k {
		return append(rfcPath(m, leaves[:k]), rfcMTH(leaves[k:]))
	}
	return append(rfcPath(m-k, leaves[k:]), rfcMTH(leaves[:k]))
}

// chainPeriod returns n transfers with ids in a known order.
func chainPeriod(n int) []clearing.Transfer {
	ts := make([]clearing.Transfer, n)
	for i := range ts {
		ts[i] = tr(fmt.Sprintf("id-%04d", i), did(i%5), did(i%5+1), h(int64(i+1)))
	}
	return ts
}

func TestMerkleMatchesRFC9162(t *testing.T) {
	for n := 0; n <= 70; n++ {
		ts := chainPeriod(n)
		leaves := make([][32]byte, n)
		for i, x := range ts {
			leaves[i] = settlement.LeafHash(x)
		}
		tree := mustTree(t, ts)
		root := tree.Root()
		if root != rfcMTH(leaves) {
			t.Fatalf("n=%d: root differs from RFC 9162 MTH", n)
		}
		if r, err := settlement.MerkleRoot(ts); err != nil || r != root {
			t.Fatalf("n=%d: MerkleRoot %x, %v", n, r, err)
		}
		if tree.Len() != n {
			t.Fatalf("Len %d, want %d", tree.Len(), n)
		}
		for i, x := range ts {
			p, err := tree.Proof(x.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := rfcPath(i, leaves)
			if want == nil {
				want = [][32]byte{}
			}
			if p.Index != uint64(i) || p.Count != uint64(n) || !reflect.DeepEqual(p.Path, want) {
				t.Fatalf("n=%d i=%d: proof %+v, want path %x", n, i, p, want)
			}
			if !settlement.VerifyProof(root, x, p) {
				t.Fatalf("n=%d i=%d: proof does not verify", n, i)
			}
			// The same path at another index of the same tree, a lengthened
			// path, or another root fails. (The root does not authenticate
			// Count by itself: the leftmost leaf of 3 or 4 leaves has paths of
			// the same shape. The leaf is in the tree all the same, and
			// VerifyCoop checks Count against the signed report.)
			bads := []settlement.Proof{
				{Index: p.Index, Count: p.Count, Path: append(p.Path, root)},
				{Index: p.Index, Count: p.Index, Path: p.Path},
			}
			if p.Index+1 < p.Count {
				bads = append(bads, settlement.Proof{Index: p.Index + 1, Count: p.Count, Path: p.Path})
			}
			if p.Index > 0 {
				bads = append(bads, settlement.Proof{Index: p.Index - 1, Count: p.Count, Path: p.Path})
			}
			for _, bad := range bads {
				if settlement.VerifyProof(root, x, bad) {
					t.Fatalf("n=%d i=%d: bad proof %+v verifies", n, i, bad)
				}
			}
			if len(p.Path) > 0 && settlement.VerifyProof(root, x, settlement.Proof{Index: p.Index, Count: p.Count, Path: p.Path[1:]}) {
				t.Fatalf("n=%d i=%d: shortened proof verifies", n, i)
			}
			if settlement.VerifyProof(sha256.Sum256([]byte("other")), x, p) {
				t.Fatal("proof verifies under another root")
			}
		}
	}
}

func TestMerkleSmall(t *testing.T) {
	ts := chainPeriod(3)
	l := [3][32]byte{settlement.LeafHash(ts[0]), settlement.LeafHash(ts[1]), settlement.LeafHash(ts[2])}
	node := func(a, b [32]byte) [32]byte { return sha256.Sum256(append(append([]byte{1}, a[:]...), b[:]...)) }
	if r := mustTree(t, ts[:1]).Root(); r != l[0] {
		t.Fatal("one leaf: root is not the leaf hash")
	}
	if r := mustTree(t, ts[:2]).Root(); r != node(l[0], l[1]) {
		t.Fatal("two leaves")
	}
	// Three leaves: the third is promoted, not duplicated.
	if r := mustTree(t, ts).Root(); r != node(node(l[0], l[1]), l[2]) {
		t.Fatal("three leaves")
	}
	// Leaves are ordered by id whatever the input order.
	if r := mustTree(t, []clearing.Transfer{ts[2], ts[0], ts[1]}).Root(); r != node(node(l[0], l[1]), l[2]) {
		t.Fatal("input order matters")
	}
	if r := mustTree(t, nil).Root(); r != sha256.Sum256(nil) || r != settlement.EmptyRoot {
		t.Fatal("empty root")
	}
	if _, err := mustTree(t, ts).Proof("nope"); !errors.Is(err, settlement.ErrUnknownTransfer) {
		t.Fatal(err)
	}
	if settlement.VerifyProof(settlement.EmptyRoot, ts[0], settlement.Proof{}) {
		t.Fatal("empty proof verifies")
	}
}

func TestProofJSON(t *testing.T) {
	ts := chainPeriod(11)
	tree := mustTree(t, ts)
	p, err := tree.Proof(ts[6].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`{"index":6,"count":11,"path":["`)) {
		t.Fatalf("%s", b)
	}
	var q settlement.Proof
	if err := json.Unmarshal(b, &q); err != nil || !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip: %+v, %v", q, err)
	}
	for _, bad := range []string{
		`{"index":1,"count":2,"path":["` + strings.Repeat("A", 64) + `"]}`,
		`{"index":1,"count":2,"path":["` + strings.Repeat("a", 63) + `"]}`,
		`{"index":1,"count":2,"path":["` + strings.Repeat("g", 64) + `"]}`,
		`{"index":-1,"count":2,"path":[]}`,
		`{"index":1,"count":2,"path":[` + strings.Repeat(`"`+strings.Repeat("0", 64)+`",`, 64) + `"` + strings.Repeat("0", 64) + `"]}`,
		`[]`,
	} {
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Errorf("accepted %.80s", bad)
		}
	}
}
