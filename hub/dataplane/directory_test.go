package dataplane

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing/directory"
)

// mapDirectory is a directory of fixed records: lookups answer from the
// map, publishes are kept.
type mapDirectory struct {
	mu        sync.Mutex
	records   map[string]directory.Record
	published map[string][]byte
}

func (m *mapDirectory) Lookup(_ context.Context, key string) (directory.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[key]
	if !ok {
		return directory.Record{}, directory.ErrNotFound
	}
	return r, nil
}

func (m *mapDirectory) Publish(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.published[key] = value
	return nil
}

// record places subject under the chain of links, each (federation,
// member), from the admitting federation up.
func record(subject identity.DID, links ...[2]identity.DID) directory.Record {
	r := directory.Record{Subject: subject, Expires: time.Now().Add(time.Hour)}
	for _, l := range links {
		r.Path = append(r.Path, directory.Link{Federation: l[0], Member: l[1], Expires: r.Expires})
	}
	return r
}

// TestResolveViaDirectory: a co-op neither registered here nor announced
// by a child is routed by its directory record: down to the child on its
// path, else up to the most trusted parent on its path (never back to the
// one the payment came from), else to the first parent.
func TestResolveViaDirectory(t *testing.T) {
	t.Parallel()
	n := newFakeCluster(t)
	self := n.fed.DID()
	keyA, keyB, child := newKey(t), newKey(t), newKey(t).DID()
	parentA, parentB := keyA.DID(), keyB.DID()
	other, g, x, y, z, w := newKey(t).DID(), newKey(t).DID(), newKey(t).DID(), newKey(t).DID(), newKey(t).DID(), newKey(t).DID()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, f := range []identity.DID{parentA, parentB, child} {
		mustPropose(t, ctx, n, &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
			Did: string(f), Name: "fed-" + string(f.Short()), Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION}}})
	}
	dir := &mapDirectory{published: map[string][]byte{}, records: map[string]directory.Record{
		// x sits under this federation's child.
		directory.CoopKey("x"): record(x, [2]identity.DID{child, x}, [2]identity.DID{self, child}),
		// y sits under g, which both parents admitted.
		directory.CoopKey("y"): record(y, [2]identity.DID{g, y}, [2]identity.DID{parentA, g}, [2]identity.DID{parentB, g}),
		// z sits under parent B only.
		directory.CoopKey("z"): record(z, [2]identity.DID{parentB, z}),
		// w sits under a federation no parent of this one is on the path of.
		directory.CoopKey("w"): record(w, [2]identity.DID{other, w}),
	}}
	d, err := Start(n, "127.0.0.1:0", Options{FederationKey: n.fed, Directory: dir,
		Parents: []ParentLink{{Federation: parentA}, {Federation: parentB}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	check := func(when string, tcs []struct {
		coop string
		from identity.DID
		want identity.DID
	}) {
		t.Helper()
		for _, tc := range tcs {
			if got, ok := d.resolve(tc.coop, tc.from); !ok || got != tc.want {
				t.Errorf("%s: resolve(%s from %s) = %s %v, want %s", when, tc.coop, tc.from.Short(), got.Short(), ok, tc.want.Short())
			}
		}
	}
	type tc = struct {
		coop string
		from identity.DID
		want identity.DID
	}
	check("no trust in either parent", []tc{
		{"x", parentA, child},    // down to the child on the path
		{"y", "", parentA},       // both parents on the path: the first
		{"y", parentA, parentB},  // never back to where it came from
		{"z", "", parentB},       // the one parent on the path
		{"w", "", parentA},       // no parent on the path: the first
		{"unknown", "", parentA}, // no record: the first
		{"unknown", parentA, parentB},
	})
	mustPropose(t, ctx, n, cmdTrust(t, n.fed, parentB, "0.8", time.Now().UnixNano()))
	check("the federation trusts parent B", []tc{
		{"y", "", parentB}, // the most trusted parent on the path
		{"y", parentB, parentA},
		{"w", "", parentA}, // the fallback keeps the configured order
	})
}
