package dataplane

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/fsm"

	"google.golang.org/protobuf/proto"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// routeEntries makes n co-ops named prefix0… with the longest names allowed.
func routeEntries(t *testing.T, prefix string, n int) []*icnv1.RouteEntry {
	t.Helper()
	out := make([]*icnv1.RouteEntry, n)
	for i := range out {
		name := fmt.Sprintf("%s%d", prefix, i)
		out[i] = &icnv1.RouteEntry{Did: string(newKey(t).DID()), Name: name + strings.Repeat("x", fsm.MaxNameLen-len(name))}
	}
	return out
}

// TestAnnounceParts: an announcement of 10,000 co-ops with the longest
// names goes in parts that each fit a frame, in order, and together carry
// every entry once; an empty one is a single part that clears the routes.
func TestAnnounceParts(t *testing.T) {
	t.Parallel()
	coops := routeEntries(t, "c", 10000)
	parts := announceParts("did:icn:child", coops)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	var all []*icnv1.RouteEntry
	for i, p := range parts {
		size := proto.Size(&icnv1.Envelope{Body: &icnv1.Envelope_Routes{Routes: p}})
		if size > routing.DefaultMaxFrameSize {
			t.Errorf("part %d is %d bytes, over the %d-byte frame", i, size, routing.DefaultMaxFrameSize)
		}
		if p.GetPart() != uint32(i) || p.GetMore() != (i < len(parts)-1) || p.GetFederation() != "did:icn:child" {
			t.Errorf("part %d: part=%d more=%v federation=%s", i, p.GetPart(), p.GetMore(), p.GetFederation())
		}
		all = append(all, p.GetCoops()...)
	}
	if !slices.Equal(all, coops) {
		t.Error("the parts do not carry the entries once each, in order")
	}
	if empty := announceParts("did:icn:child", nil); len(empty) != 1 || empty[0].GetMore() || len(empty[0].GetCoops()) != 0 {
		t.Errorf("empty announcement = %v", empty)
	}
}

// TestAnnouncedInParts: the parent keeps a child's old routes until the
// last part of its new announcement, then swaps them at once; a part out of
// order is refused and the announcement must start again.
func TestAnnouncedInParts(t *testing.T) {
	t.Parallel()
	n := newFakeCluster(t)
	d, err := Start(n, "127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	child := newKey(t).DID()
	mustPropose(t, ctx, n, &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
		Did: string(child), Name: "region", Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION}}})

	send := func(p *icnv1.RouteAnnounce) *icnv1.Envelope {
		t.Helper()
		return d.announced(child, p)
	}
	routed := func(name string) bool {
		to, ok := d.resolve(name, "")
		return ok && to == child
	}
	old := routeEntries(t, "old", 10)
	for _, p := range announceParts(string(child), old) {
		if r := send(p); r.GetPong() == nil {
			t.Fatalf("announce: %v", r)
		}
	}
	if !routed(old[3].GetName()) || !routed(old[3].GetDid()) {
		t.Fatal("an announced co-op is not routed to the child")
	}

	next := routeEntries(t, "new", 2*routesPerPart+5)
	parts := announceParts(string(child), next)
	for _, p := range parts[:len(parts)-1] {
		if r := send(p); r.GetPong() == nil {
			t.Fatalf("part %d: %v", p.GetPart(), r)
		}
		if !routed(old[3].GetName()) || routed(next[0].GetName()) {
			t.Fatalf("after part %d of %d the routes changed before the last part", p.GetPart(), len(parts))
		}
	}
	if r := send(parts[len(parts)-1]); r.GetPong() == nil {
		t.Fatalf("last part: %v", r)
	}
	if routed(old[3].GetName()) || !routed(next[0].GetName()) || !routed(next[len(next)-1].GetDid()) {
		t.Fatal("after the last part the routes are not exactly the new announcement's")
	}

	if r := send(parts[1]); r.GetError().GetCode() != ReplyBadRequest {
		t.Fatalf("a part without its start: %v, want %s", r, ReplyBadRequest)
	}
	if r := send(&icnv1.RouteAnnounce{Federation: string(child), Part: 0}); r.GetPong() == nil {
		t.Fatalf("a fresh empty announcement: %v", r)
	}
	if routed(next[0].GetName()) {
		t.Fatal("an empty announcement left routes behind")
	}
	stranger := newKey(t).DID()
	if r := d.announced(stranger, &icnv1.RouteAnnounce{Federation: string(stranger)}); r.GetError().GetCode() != ReplyForbidden {
		t.Fatalf("an announcement from a non-federation: %v", r)
	}
}
