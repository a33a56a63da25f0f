package directory

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustLink(t testing.TB, fed *identity.Key, member identity.DID, name string, seq uint64, exp time.Time) *icnv1.SignedDirectoryLink {
	t.Helper()
	l, err := SignLink(fed, Link{Federation: fed.DID(), Member: member, MemberName: name, Seq: seq, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tree: root admits region; region admits coop "riverside".
type tree struct {
	root, region, coop *identity.Key
	regionLink         *icnv1.SignedDirectoryLink // root admits region
}

func newTree(t testing.TB) tree {
	tr := tree{root: newKey(t), region: newKey(t), coop: newKey(t)}
	tr.regionLink = mustLink(t, tr.root, tr.region.DID(), "region", 1, t0.Add(time.Hour))
	return tr
}

func (tr tree) coopRecord(t testing.TB, seq uint64, exp time.Time) []byte {
	t.Helper()
	v, err := Sign(tr.region, "riverside", false, mustLink(t, tr.region, tr.coop.DID(), "riverside", seq, exp),
		[]*icnv1.SignedDirectoryLink{tr.regionLink}, seq, exp)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func validator(anchors ...identity.DID) Validator {
	return Validator{Now: func() time.Time { return t0 }, Anchors: anchors}
}

func TestRecordRoundTrip(t *testing.T) {
	tr := newTree(t)
	v := tr.coopRecord(t, 7, t0.Add(time.Hour))
	r, err := Decode(v, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != tr.coop.DID() || r.SubjectName != "riverside" || r.Seq != 7 || r.Admitter() != tr.region.DID() || len(r.Path) != 2 {
		t.Fatalf("record %+v", r)
	}
	if child, ok := r.ChildOf(tr.root.DID()); !ok || child != tr.region.DID() {
		t.Fatalf("the root's child on the path: %s %v", child, ok)
	}
	if f := r.Federations(); len(f) != 2 || f[0] != tr.region.DID() || f[1] != tr.root.DID() {
		t.Fatalf("federations %v", f)
	}
	for _, key := range []string{CoopKey(string(tr.coop.DID())), CoopKey("riverside")} {
		if err := validator(tr.root.DID()).Validate(key, v); err != nil {
			t.Errorf("under %s: %v", key, err)
		}
	}
}

// TestForgedRecordsRefused: a record signed by anyone but the admitting
// federation, a link signed by anyone but its federation, an expired one,
// one stored under another key, one outside the anchors' tree, and every
// malformed shape are refused by the validator every DHT node runs.
func TestForgedRecordsRefused(t *testing.T) {
	tr := newTree(t)
	stranger := newKey(t)
	key := CoopKey(string(tr.coop.DID()))
	good := tr.coopRecord(t, 1, t0.Add(time.Hour))
	exp := t0.Add(time.Hour)
	resign := func(mod func(*icnv1.DirectoryRecord), signer *identity.Key) []byte {
		var sr icnv1.SignedDirectoryRecord
		var r icnv1.DirectoryRecord
		if err := proto.Unmarshal(good, &sr); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(sr.GetRecord(), &r); err != nil {
			t.Fatal(err)
		}
		mod(&r)
		b, _ := deterministic.Marshal(&r)
		out, _ := deterministic.Marshal(&icnv1.SignedDirectoryRecord{Record: b, Signature: signer.Sign(identity.TagDirectoryRecord, b)})
		return out
	}
	forgedLink := mustLink(t, tr.region, tr.coop.DID(), "riverside", 1, exp)
	forgedLink.Signature = stranger.Sign(identity.TagDirectoryLink, forgedLink.GetLink())
	for _, tc := range []struct {
		name, key string
		value     []byte
		want      string
	}{
		{"record signed by a stranger", key, resign(func(*icnv1.DirectoryRecord) {}, stranger), "not signed by the admitting federation"},
		{"link signed by a stranger", key, resign(func(r *icnv1.DirectoryRecord) { r.Path[0] = forgedLink }, tr.region), "not signed by"},
		{"stranger claims the co-op", key, func() []byte {
			v, _ := Sign(stranger, "riverside", false, mustLink(t, stranger, tr.coop.DID(), "riverside", 9, exp), nil, 9, exp)
			return v
		}(), "reaches none of the directory's root federations"},
		{"expired record", key, tr.coopRecord(t, 2, t0), "expired"},
		{"expired link", key, resign(func(r *icnv1.DirectoryRecord) {
			r.Path[1] = mustLink(t, tr.root, tr.region.DID(), "region", 1, t0.Add(-time.Second))
		}, tr.region), "expired"},
		{"under another co-op's key", CoopKey(string(stranger.DID())), good, "stored under its DID or name"},
		{"under another name", CoopKey("hillside"), good, "stored under its DID or name"},
		{"as a federation's record", FederationKey(tr.coop.DID(), tr.region.DID()), good, "stored under its DID or name"},
		{"first link admits another", key, resign(func(r *icnv1.DirectoryRecord) { r.Subject = string(stranger.DID()) }, tr.region), "not the subject"},
		{"disconnected link", key, resign(func(r *icnv1.DirectoryRecord) {
			r.Path[1] = mustLink(t, tr.root, stranger.DID(), "x", 1, exp)
		}, tr.region), "no earlier link's federation"},
		{"no path", key, resign(func(r *icnv1.DirectoryRecord) { r.Path = nil }, tr.region), "a path of 0 links"},
		{"unknown field", key, append(append([]byte(nil), good...), 0x28, 0x01), "does not know"},
		{"a field twice (the last would win)", key, append(append([]byte(nil), good...), 0x12, 0x01, 'x'), "canonical form"},
		{"garbage", key, []byte("{}"), "record"},
		{"too big", key, make([]byte, MaxRecordBytes+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validator(tr.root.DID()).Validate(tc.key, tc.value)
			if !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an ErrRecord with %q", err, tc.want)
			}
		})
	}
}

// TestSelectNewest: of several valid records the newest sequence wins,
// whatever the order, and an invalid one never does.
func TestSelectNewest(t *testing.T) {
	tr := newTree(t)
	key := CoopKey(string(tr.coop.DID()))
	old, cur := tr.coopRecord(t, 1, t0.Add(time.Hour)), tr.coopRecord(t, 2, t0.Add(time.Hour))
	forged, _ := Sign(newKey(t), "riverside", false, mustLink(t, tr.region, tr.coop.DID(), "riverside", 99, t0.Add(time.Hour)), nil, 99, t0.Add(time.Hour))
	v := validator(tr.root.DID())
	for _, vals := range [][][]byte{{old, cur}, {cur, old}, {forged, old, cur}, {cur, forged}} {
		i, err := v.Select(key, vals)
		if err != nil || string(vals[i]) != string(cur) {
			t.Fatalf("Select picked %d (%v), want the seq-2 record", i, err)
		}
	}
	if _, err := v.Select(key, [][]byte{forged}); err == nil {
		t.Fatal("Select picked a forged record")
	}
}

// TestTwoParents: a federation admitted by two parents (regional and
// sector) carries both links; either reaches the anchors.
func TestTwoParents(t *testing.T) {
	tr := newTree(t)
	sector := newKey(t)
	sectorLink := mustLink(t, sector, tr.region.DID(), "region", 1, t0.Add(time.Hour))
	v, err := Sign(tr.region, "riverside", false, mustLink(t, tr.region, tr.coop.DID(), "riverside", 1, t0.Add(time.Hour)),
		[]*icnv1.SignedDirectoryLink{tr.regionLink, sectorLink}, 1, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key := CoopKey("riverside")
	for _, anchor := range []identity.DID{tr.root.DID(), sector.DID()} {
		if err := validator(anchor).Validate(key, v); err != nil {
			t.Errorf("anchor %s: %v", anchor.Short(), err)
		}
	}
	r, _ := Decode(v, t0)
	if c, ok := r.ChildOf(sector.DID()); !ok || c != tr.region.DID() {
		t.Fatalf("sector's child on the path: %s %v", c, ok)
	}
}

// TestFederationRecordKey: a parent's record of a child federation lives
// under the child's key for that parent only.
func TestFederationRecordKey(t *testing.T) {
	tr := newTree(t)
	v, err := Sign(tr.root, "region", true, tr.regionLink, nil, 1, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	val := validator(tr.root.DID())
	if err := val.Validate(FederationKey(tr.region.DID(), tr.root.DID()), v); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{FederationKey(tr.region.DID(), newKey(t).DID()), CoopKey(string(tr.region.DID())), CoopKey("region")} {
		if err := val.Validate(key, v); !errors.Is(err, ErrRecord) {
			t.Errorf("under %s: %v", key, err)
		}
	}
}

// TestRoute: the next hop towards riverside (under region, which is under
// root and under sector) from each federation that might hold the payment.
func TestRoute(t *testing.T) {
	tr := newTree(t)
	sector, other := newKey(t), newKey(t)
	sectorLink := mustLink(t, sector, tr.region.DID(), "region", 1, t0.Add(time.Hour))
	v, err := Sign(tr.region, "riverside", false, mustLink(t, tr.region, tr.coop.DID(), "riverside", 1, t0.Add(time.Hour)),
		[]*icnv1.SignedDirectoryLink{tr.regionLink, sectorLink}, 1, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(v, t0)
	if err != nil {
		t.Fatal(err)
	}
	root, reg, sec, oth := tr.root.DID(), tr.region.DID(), sector.DID(), other.DID()
	isFed := func(d identity.DID) bool { return d == reg }
	noFed := func(identity.DID) bool { return false }
	flat := func(identity.DID) int { return 0 }
	sectorFirst := func(d identity.DID) int {
		if d == sec {
			return 1
		}
		return 0
	}
	for _, tc := range []struct {
		name    string
		self    identity.DID
		from    identity.DID
		parents []identity.DID
		isChild func(identity.DID) bool
		rank    func(identity.DID) int
		want    identity.DID
		wantOK  bool
	}{
		{"root hands it down", root, "", nil, isFed, flat, reg, true},
		{"sector hands it down", sec, "", []identity.DID{other.DID()}, isFed, flat, reg, true},
		{"not down to a member that is no child federation", root, "", nil, noFed, flat, "", false},
		{"not back down where it came from", root, reg, nil, isFed, flat, "", false},
		{"up to a parent on the path, configured order", oth, "", []identity.DID{root, sec}, isFed, flat, root, true},
		{"up to the most trusted parent on the path", oth, "", []identity.DID{root, sec}, isFed, sectorFirst, sec, true},
		{"never back up where it came from", oth, root, []identity.DID{root, sec}, isFed, flat, sec, true},
		{"no parent on the path", oth, "", []identity.DID{newKey(t).DID()}, isFed, flat, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := r.Route(tc.self, tc.from, tc.parents, tc.isChild, tc.rank)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("Route = %s %v, want %s %v", got.Short(), ok, tc.want.Short(), tc.wantOK)
			}
		})
	}
}
