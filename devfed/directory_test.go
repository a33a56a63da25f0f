package devfed

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/coopnode/client"

	"github.com/icn-coop/icn/routing/directory"
)

// TestCrossRegionViaDirectory: with route announcements off, the parent
// federation learns where coop-c is only from the directory, and a payment
// from region 1 to region 2 still commits both ways.
func TestCrossRegionViaDirectory(t *testing.T) {
	f, ctx := startFedOpts(t, Options{RemoteCoops: []string{"coop-c"}, Directory: true, NoRouteAnnouncements: true},
		"starts three hub clusters with a directory and three co-op nodes")
	a, c := f.Manifest.Coops[0], f.Manifest.Coops[2]
	for _, key := range []string{directory.CoopKey("coop-c"), directory.CoopKey(string(f.Nodes[2].Key.DID()))} {
		waitFor(t, 60*time.Second, func() bool {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			rec, err := f.parent.svcs[0].Directory.Lookup(lctx, key)
			return err == nil && rec.Subject == f.Nodes[2].Key.DID()
		}, "the parent's directory node finds "+key)
	}
	alice := login(t, ctx, a, a.Members[0])
	carol := login(t, ctx, c, c.Members[2])
	waitPaid(t, 30*time.Second, "a cross-region payment found through the directory commits", func() *client.PaymentResult { return alice.pay(t, ctx, carol, "3.00") })
	waitPaid(t, 30*time.Second, "the payment back commits", func() *client.PaymentResult { return carol.pay(t, ctx, alice, "1.00") })
	waitFor(t, 10*time.Second, func() bool { return carol.balance(t, ctx) == "52.00" }, "carol's balance 52.00")
	waitFor(t, 10*time.Second, func() bool { return alice.balance(t, ctx) == "48.00" }, "alice's balance 48.00")
	// Without announcements the parent has no route to coop-c but the
	// directory's: its nodes answered lookups.
	var found float64
	for _, s := range f.parent.svcs {
		found += lookups(t, s.Directory, directory.ResultFound) + lookups(t, s.Directory, directory.ResultCached)
	}
	if found == 0 {
		t.Error("the parent federation's directory nodes answered no lookup")
	}
}

// lookups is n's count of directory lookups with result.
func lookups(t *testing.T, n *directory.Node, result string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "icn_directory_lookups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestDirectoryDownFallsBack: with every directory node closed, hubs route
// by the parent's route announcements as before.
func TestDirectoryDownFallsBack(t *testing.T) {
	f, ctx := startFedOpts(t, Options{RemoteCoops: []string{"coop-c"}, Directory: true},
		"starts three hub clusters with a directory and three co-op nodes")
	for _, h := range []*hubCluster{f.hubs, f.region2, f.parent} {
		for _, s := range h.svcs {
			if err := s.Directory.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, c := f.Manifest.Coops[0], f.Manifest.Coops[2]
	alice := login(t, ctx, a, a.Members[0])
	carol := login(t, ctx, c, c.Members[2])
	waitPaid(t, 30*time.Second, "a cross-region payment commits with the directory down", func() *client.PaymentResult { return alice.pay(t, ctx, carol, "3.00") })
}
