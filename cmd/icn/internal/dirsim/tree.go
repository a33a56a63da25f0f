package dirsim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing/directory"
)

// Shape is a three-level federation tree: a root; national federations
// under it; sector federations under it too; regional federations, each
// under one national federation and some also under a sector federation;
// co-ops spread evenly over the regions.
type Shape struct {
	Federations int     // all of them, root included
	National    int     // under the root
	Sector      int     // under the root, beside the national ones
	DualShare   float64 // share of regions also under a sector federation
	Coops       int
}

// Kinds of federation in a tree.
const (
	kindRoot = iota
	kindNational
	kindSector
	kindRegion
)

type fed struct {
	key     *identity.Key
	name    string
	kind    int
	parents []int                        // indexes, national before sector
	above   []*icnv1.SignedDirectoryLink // the links placing it under the root
}

// Tree is a federation tree with its federations' keys and signed links.
type Tree struct {
	shape   Shape
	feds    []fed
	regions []int // indexes of the regional federations
	index   map[identity.DID]int
	seed    uint64
	expires time.Time
	val     directory.Validator
}

// key derives a deterministic key from the tree's seed, a kind and an index.
func (t *Tree) key(kind string, i int) *identity.Key {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], t.seed)
	seed := sha256.Sum256([]byte(fmt.Sprintf("%x/%s/%d", b, kind, i)))
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		panic(err) // 32 bytes always
	}
	return k
}

// NewTree builds the tree and signs every federation's links above it.
func NewTree(s Shape, seed uint64, now time.Time) (*Tree, error) {
	switch {
	case s.National < 1 || s.Sector < 0:
		return nil, fmt.Errorf("dirsim: %d national and %d sector federations: want at least one national, no negative count", s.National, s.Sector)
	case s.Federations < 2+s.National+s.Sector:
		return nil, fmt.Errorf("dirsim: %d federations cannot hold a root, %d national, %d sector federations and a region: want at least %d", s.Federations, s.National, s.Sector, 2+s.National+s.Sector)
	case s.Coops < 1 || s.DualShare < 0 || s.DualShare > 1:
		return nil, fmt.Errorf("dirsim: %d co-ops, dual share %g: want at least one co-op, a share in [0,1]", s.Coops, s.DualShare)
	}
	t := &Tree{shape: s, seed: seed, expires: now.Add(24 * time.Hour)}
	t.feds = make([]fed, s.Federations)
	t.feds[0] = fed{key: t.key("fed", 0), name: "root", kind: kindRoot}
	dualEvery := 0
	if s.DualShare > 0 && s.Sector > 0 {
		dualEvery = max(1, int(1/s.DualShare+0.5))
	}
	for i := 1; i < s.Federations; i++ {
		f := fed{key: t.key("fed", i)}
		switch r := i - 1 - s.National - s.Sector; {
		case i <= s.National:
			f.kind, f.name, f.parents = kindNational, fmt.Sprintf("national-%d", i), []int{0}
		case i <= s.National+s.Sector:
			f.kind, f.name, f.parents = kindSector, fmt.Sprintf("sector-%d", i-s.National), []int{0}
		default:
			f.kind, f.name = kindRegion, fmt.Sprintf("region-%d", r)
			f.parents = []int{1 + r%s.National}
			if dualEvery > 0 && r%dualEvery == 0 {
				f.parents = append(f.parents, 1+s.National+(r/dualEvery)%s.Sector)
			}
			t.regions = append(t.regions, i)
		}
		t.feds[i] = f
	}
	t.index = make(map[identity.DID]int, len(t.feds))
	for i, f := range t.feds {
		t.index[f.key.DID()] = i
	}
	for i := 1; i < len(t.feds); i++ {
		f := &t.feds[i]
		for _, p := range f.parents {
			l, err := directory.SignLink(t.feds[p].key, directory.Link{Federation: t.feds[p].key.DID(), Member: f.key.DID(),
				MemberName: f.name, Seq: 1, Expires: t.expires})
			if err != nil {
				return nil, err
			}
			f.above = append(append(f.above, l), t.feds[p].above...)
		}
	}
	t.val = directory.Validator{Now: func() time.Time { return now }, Anchors: []identity.DID{t.feds[0].key.DID()}}
	return t, nil
}

// Regions is the number of regional federations (they admit the co-ops).
func (t *Tree) Regions() int { return len(t.regions) }

// regionOf is the federation index of the region that admitted co-op c.
func (t *Tree) regionOf(c int) int { return t.regions[c%len(t.regions)] }

// CoopKey is the key of co-op c (0 ≤ c < Coops).
func (t *Tree) coopKey(c int) *identity.Key { return t.key("coop", c) }

// Record is co-op c's directory record as its region publishes it: the key
// to publish it under and its signed value.
func (t *Tree) Record(c int) (string, []byte, error) {
	r := &t.feds[t.regionOf(c)]
	k := t.coopKey(c)
	name := fmt.Sprintf("coop-%d", c)
	own, err := directory.SignLink(r.key, directory.Link{Federation: r.key.DID(), Member: k.DID(), MemberName: name, Seq: 1, Expires: t.expires})
	if err != nil {
		return "", nil, err
	}
	v, err := directory.Sign(r.key, name, false, own, r.above, 1, t.expires)
	return directory.CoopKey(string(k.DID())), v, err
}

// Route walks a payment from co-op a to co-op b the way the hubs route it
// with route announcements off: each federation that does not serve b
// asks b's record (checked as a directory node checks it) for the next hop,
// else hands it to its first parent. It returns the federations the
// payment passes, the payer's region first.
func (t *Tree) Route(a, b int) ([]int, error) {
	key, v, err := t.Record(b)
	if err != nil {
		return nil, err
	}
	rec, err := t.val.Record(key, v)
	if err != nil {
		return nil, fmt.Errorf("record of coop-%d: %w", b, err)
	}
	at, from, payee := t.regionOf(a), -1, t.regionOf(b)
	path := []int{at}
	for at != payee {
		if len(path) > 2*len(t.feds) {
			return nil, fmt.Errorf("coop-%d → coop-%d: a routing loop: %v", a, b, t.names(path))
		}
		next, ok := t.hop(rec, at, from)
		if !ok {
			return nil, fmt.Errorf("coop-%d → coop-%d: no route at %s", a, b, t.feds[at].name)
		}
		from, at = at, next
		path = append(path, at)
	}
	return path, nil
}

// hop is the next federation from at (coming from from, -1 for the payer's
// own region) by the record, else at's first parent but from.
func (t *Tree) hop(rec directory.Record, at, from int) (int, bool) {
	f := t.feds[at]
	parents := make([]identity.DID, len(f.parents))
	for i, p := range f.parents {
		parents[i] = t.feds[p].key.DID()
	}
	var fromDID identity.DID
	if from >= 0 {
		fromDID = t.feds[from].key.DID()
	}
	isChild := func(m identity.DID) bool {
		i, ok := t.index[m]
		return ok && slices.Contains(t.feds[i].parents, at)
	}
	same := func(identity.DID) int { return 0 } // equal trust in every parent
	if next, ok := rec.Route(f.key.DID(), fromDID, parents, isChild, same); ok {
		return t.index[next], true
	}
	for _, p := range f.parents {
		if p != from {
			return p, true
		}
	}
	return 0, false
}

// names are the names of federations path.
func (t *Tree) names(path []int) []string {
	s := make([]string, len(path))
	for i, f := range path {
		s[i] = t.feds[f].name
	}
	return s
}
