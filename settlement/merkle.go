package settlement

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/icn-coop/icn/clearing"
)

// TransferBytesVersion is the first byte of TransferBytes.
const TransferBytesVersion = 1

// TransferBytes returns the canonical bytes of a transfer, as specified in
// the package documentation ("Canonical transfer bytes").
func TransferBytes(t clearing.Transfer) []byte {
	return appendTransfer(make([]byte, 0, transferSize(&t)), &t)
}

func transferSize(t *clearing.Transfer) int {
	return 1 + 4*4 + len(t.ID) + len(t.From) + len(t.To) + len(t.Amount.Currency().Code) + 1 + 3*8
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendTransfer(b []byte, t *clearing.Transfer) []byte {
	c := t.Amount.Currency()
	b = append(b, TransferBytesVersion)
	b = appendString(b, t.ID)
	b = appendString(b, string(t.From))
	b = appendString(b, string(t.To))
	b = appendString(b, c.Code)
	b = append(b, byte(c.Scale))
	b = binary.BigEndian.AppendUint64(b, uint64(t.Amount.Units()))
	b = binary.BigEndian.AppendUint64(b, t.Period)
	b = binary.BigEndian.AppendUint64(b, uint64(t.DecidedAt))
	return b
}

// LeafHash returns SHA-256(0x00 || TransferBytes(t)).
func LeafHash(t clearing.Transfer) [32]byte { return leafHash(nil, &t) }

// leafHash hashes t using buf as scratch space.
func leafHash(buf []byte, t *clearing.Transfer) [32]byte {
	buf = append(buf[:0], 0x00)
	return sha256.Sum256(appendTransfer(buf, t))
}

// nodeHash returns SHA-256(0x01 || left || right).
func nodeHash(left, right *[32]byte) [32]byte {
	var b [65]byte
	b[0] = 0x01
	copy(b[1:33], left[:])
	copy(b[33:], right[:])
	return sha256.Sum256(b[:])
}

// EmptyRoot is the root of a tree without leaves: SHA-256 of no bytes. The
// package itself uses a private copy, so assigning to it changes nothing here.
var EmptyRoot = emptyRoot

var emptyRoot = sha256.Sum256(nil)

// Tree is the Merkle tree over a period's committed transfers (see the
// package documentation): leaves in ascending byte order of transfer id,
// SHA-256 with 0x00/0x01 domain prefixes, an unpaired last node promoted to
// the next level unchanged. It is the tree of RFC 9162 §2.1.1.
type Tree struct {
	ids    []string     // leaf ids, ascending
	levels [][][32]byte // levels[0] = leaf hashes; the last level has one node (none when empty)
}

// NewTree builds the tree over transfers, which must satisfy the same rules
// as for Net (committed, one period, unique ids, …). Their order does not matter.
func NewTree(transfers []clearing.Transfer) (*Tree, error) {
	if _, err := scanTransfers(transfers, false); err != nil {
		return nil, err
	}
	ids, leaves, err := sortedLeaves(transfers)
	if err != nil {
		return nil, err
	}
	t := &Tree{ids: ids, levels: [][][32]byte{leaves}}
	for lv := leaves; len(lv) > 1; {
		lv = reduce(slices.Clone(lv))
		t.levels = append(t.levels, lv)
	}
	return t, nil
}

// MerkleRoot returns the root of the tree over transfers without keeping the
// tree (NewTree(transfers).Root() with about half the memory).
func MerkleRoot(transfers []clearing.Transfer) ([32]byte, error) {
	if _, err := scanTransfers(transfers, false); err != nil {
		return [32]byte{}, err
	}
	return rootOf(transfers)
}

// rootOf computes the root of transfers that passed scanTransfers; it fails
// only on a repeated id.
func rootOf(transfers []clearing.Transfer) ([32]byte, error) {
	_, lv, err := sortedLeaves(transfers)
	if err != nil {
		return [32]byte{}, err
	}
	if len(lv) == 0 {
		return emptyRoot, nil
	}
	for len(lv) > 1 {
		lv = reduce(lv)
	}
	return lv[0], nil
}

// reduce computes the next level in place: pairs are hashed, an unpaired
// last node is promoted unchanged.
func reduce(lv [][32]byte) [][32]byte {
	n := 0
	for i := 0; i+1 < len(lv); i += 2 {
		lv[n] = nodeHash(&lv[i], &lv[i+1])
		n++
	}
	if len(lv)%2 == 1 {
		lv[n] = lv[len(lv)-1]
		n++
	}
	return lv[:n]
}

// sortedLeaves returns the ids in ascending order and the leaf hashes in
// that order, or an ErrDuplicate error for a repeated id.
func sortedLeaves(transfers []clearing.Transfer) ([]string, [][32]byte, error) {
	// Hash in input order (sequential reads of the records), sort the small
	// (id, index) pairs, then permute the hashes.
	hashes := make([][32]byte, len(transfers))
	buf := make([]byte, 0, 512)
	for i := range transfers {
		hashes[i] = leafHash(buf, &transfers[i])
	}
	type ref struct {
		id string
		i  int
	}
	refs := make([]ref, len(transfers))
	for i := range transfers {
		refs[i] = ref{transfers[i].ID, i}
	}
	slices.SortFunc(refs, func(x, y ref) int { return cmp.Compare(x.id, y.id) })
	ids := make([]string, len(refs))
	leaves := make([][32]byte, len(refs))
	for k, r := range refs {
		if k > 0 && r.id == ids[k-1] {
			return nil, nil, errDuplicate(r.id)
		}
		ids[k] = r.id
		leaves[k] = hashes[r.i]
	}
	return ids, leaves, nil
}

// Root returns the root hash (EmptyRoot for no transfers).
func (t *Tree) Root() [32]byte {
	top := t.levels[len(t.levels)-1]
	if len(top) == 0 {
		return emptyRoot
	}
	return top[0]
}

// Len returns the number of leaves.
func (t *Tree) Len() int { return len(t.ids) }

// Proof is an inclusion proof: the position of a leaf among Count leaves and
// the sibling hashes from the leaf's level up to the root (the RFC 9162
// inclusion path).
type Proof struct {
	Index uint64
	Count uint64
	Path  [][32]byte
}

// Proof returns the inclusion proof of the transfer with the given id; the
// error wraps ErrUnknownTransfer if the tree does not hold it.
func (t *Tree) Proof(id string) (Proof, error) {
	i := sort.SearchStrings(t.ids, id)
	if i == len(t.ids) || t.ids[i] != id {
		return Proof{}, fmt.Errorf("%w: %.140q", ErrUnknownTransfer, id)
	}
	p := Proof{Index: uint64(i), Count: uint64(len(t.ids)), Path: make([][32]byte, 0, len(t.levels))}
	for _, lv := range t.levels[:len(t.levels)-1] {
		switch {
		case i%2 == 1:
			p.Path = append(p.Path, lv[i-1])
		case i+1 < len(lv):
			p.Path = append(p.Path, lv[i+1])
		}
		i /= 2
	}
	return p, nil
}

// maxPath bounds the length of a proof's path: a tree has at most 2^64 leaves.
const maxPath = 64

// VerifyProof reports whether p proves that t is a leaf of the tree with the
// given root (RFC 9162 §2.1.3.2 with the leaf hash LeafHash(t)). It does not
// check t otherwise. The root does not authenticate p.Count on its own (the
// leftmost leaf of 3 and of 4 leaves has paths of the same shape): a verifier
// must also check p.Count against the signed number of transfers in the
// period, as VerifyCoop does; given the right Count, Index is authenticated.
func VerifyProof(root [32]byte, t clearing.Transfer, p Proof) bool {
	if p.Count == 0 || p.Index >= p.Count || len(p.Path) > maxPath {
		return false
	}
	r := leafHash(make([]byte, 0, transferSize(&t)+1), &t)
	fn, sn := p.Index, p.Count-1
	for i := range p.Path {
		if sn == 0 {
			return false
		}
		if fn%2 == 1 || fn == sn {
			r = nodeHash(&p.Path[i], &r)
			if fn%2 == 0 {
				for fn%2 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(&r, &p.Path[i])
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && r == root
}

type proofJSON struct {
	Index uint64   `json:"index"`
	Count uint64   `json:"count"`
	Path  []string `json:"path"`
}

// MarshalJSON writes {"index":N,"count":N,"path":["<64 lower-case hex>",…]}.
func (p Proof) MarshalJSON() ([]byte, error) {
	j := proofJSON{Index: p.Index, Count: p.Count, Path: make([]string, len(p.Path))}
	for i := range p.Path {
		j.Path[i] = hex.EncodeToString(p.Path[i][:])
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes; hashes must be 64
// lower-case hex digits and the path at most 64 long.
func (p *Proof) UnmarshalJSON(b []byte) error {
	var j proofJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("settlement: proof: %w", err)
	}
	if len(j.Path) > maxPath {
		return fmt.Errorf("settlement: proof: path of %d hashes", len(j.Path))
	}
	q := Proof{Index: j.Index, Count: j.Count, Path: make([][32]byte, len(j.Path))}
	for i, s := range j.Path {
		h, err := parseHash(s)
		if err != nil {
			return fmt.Errorf("settlement: proof: path[%d]: %w", i, err)
		}
		q.Path[i] = h
	}
	*p = q
	return nil
}

// parseHash reads exactly 64 lower-case hex digits.
func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("hash %.80q: want 64 hex digits", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return h, fmt.Errorf("hash %.80q: want lower-case hex", s)
		}
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}
