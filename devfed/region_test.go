package devfed

import (
	"context"
	"crypto/rand"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/trust"
)

func startRegions(t *testing.T) (*Federation, context.Context) {
	t.Helper()
	return startFed(t, []string{"coop-c"}, "starts three hub clusters and three co-op nodes")
}

// positionIn is did's net position in hours (received − sent this
// period) at cluster h, read from its leader.
func positionIn(t *testing.T, h *hubCluster, did identity.DID) string {
	t.Helper()
	l := h.leader()
	for l == nil { // an election under load leaves no leader for a moment
		if err := h.waitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		l = h.leader()
	}
	ps, err := l.FSM().CreditPolicies(did)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.GetCurrency() == money.Hours.Code {
			return p.GetNet()
		}
	}
	t.Fatalf("%s has no hours policy for %s", h.manifest.Name, did)
	return ""
}

// TestCrossRegionPayment pays from coop-a (region 1) to coop-c (region 2)
// and back: a payment runs co-op → region hub → parent hub → region hub →
// co-op, each hub with its own record, and every level's positions move.
func TestCrossRegionPayment(t *testing.T) {
	f, ctx := startRegions(t)
	a, c := f.Manifest.Coops[0], f.Manifest.Coops[2]
	alice := login(t, ctx, a, a.Members[0])
	carol := login(t, ctx, c, c.Members[2])
	// The region's hub learns routes from the parent's announcements; wait
	// until region 1 is linked and the parent knows coop-c.
	firstID := waitPaid(t, 30*time.Second, "a cross-region payment commits", func() *client.PaymentResult {
		return alice.pay(t, ctx, carol, "3.00")
	})
	// And back: region 1 announced its co-ops as soon as they were
	// registered, so the parent routes to coop-a by now (not only after the
	// periodic announcement, up to 5 s later).
	backID := waitPaid(t, 2*time.Second, "the payment back commits", func() *client.PaymentResult {
		return carol.pay(t, ctx, alice, "1.00")
	})
	waitFor(t, 10*time.Second, func() bool { return carol.balance(t, ctx) == "52.00" }, "carol's balance 52.00")
	waitFor(t, 10*time.Second, func() bool { return alice.balance(t, ctx) == "48.00" }, "alice's balance 48.00")
	// The payee learns who paid across regions too: the hub that took the
	// payment from the paying co-op names it, and the hubs on the way pass
	// that on (the payee's own hub sees only the parent federation).
	e := carol.historyRow(t, ctx, firstID)
	wantParties(t, "carol's history row", string(e.From), e.FromCoop, string(e.To), e.ToCoop, alice, carol)
	e = alice.historyRow(t, ctx, backID)
	wantParties(t, "alice's history row", string(e.From), e.FromCoop, string(e.To), e.ToCoop, carol, alice)
	r1, r2, p := f.hubs, f.region2, f.parent
	for _, tc := range []struct {
		h    *hubCluster
		did  identity.DID
		want string
	}{
		{r1, f.Nodes[0].Key.DID(), "-2.00"}, {r1, p.fed.DID(), "2.00"},
		{p, r1.fed.DID(), "-2.00"}, {p, r2.fed.DID(), "2.00"},
		{r2, p.fed.DID(), "-2.00"}, {r2, f.Nodes[2].Key.DID(), "2.00"},
	} {
		waitFor(t, 10*time.Second, func() bool { return positionIn(t, tc.h, tc.did) == tc.want },
			tc.h.manifest.Name+" position of "+string(tc.did.Short())+" "+tc.want)
	}
	for _, n := range f.Nodes {
		if rep, err := n.Ledger.Verify(); err != nil || !rep.OK() || rep.Open != 0 {
			t.Errorf("%s ledger: %v %+v", n.Config.CoopID, err, rep)
		}
	}
}

// positionsAll reads every participant's position at every cluster.
func positionsAll(t *testing.T, f *Federation) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range []*hubCluster{f.hubs, f.region2, f.parent} {
		for _, p := range h.leader().FSM().Participants() {
			out[h.manifest.Name+"/"+p.GetName()] = positionIn(t, h, identity.DID(p.GetDid()))
		}
	}
	return out
}

// TestCrossRegionRejections: refusals anywhere on the way reach the payer
// with their reason and leave every balance and every level's positions
// as they were.
func TestCrossRegionRejections(t *testing.T) {
	f, ctx := startRegions(t)
	a, c := f.Manifest.Coops[0], f.Manifest.Coops[2]
	alice := login(t, ctx, a, a.Members[0])
	carol := login(t, ctx, c, c.Members[2])
	waitFor(t, 30*time.Second, func() bool { return alice.pay(t, ctx, carol, "0.01").Status == "committed" }, "regions linked")
	settledAll(t, f, 20*time.Second)
	stranger, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r2 := f.region2.fed
	for _, tc := range []struct {
		name           string
		setup, undo    func()
		to             identity.DID
		toCoop, reason string
	}{
		{name: "no region knows the co-op", to: carol.key.DID(), toCoop: "coop-nowhere", reason: "unknown_coop"},
		{name: "payee not a member of coop-c", to: stranger.DID(), toCoop: c.ID, reason: "receiver_rejected"},
		{
			name:  "trust between federations below min_trust",
			setup: func() { setTrust(t, ctx, f.parent, r2, f.parent.fed.DID(), trust.Weight(50_000)) },
			undo:  func() { setTrust(t, ctx, f.parent, r2, f.parent.fed.DID(), trust.One) },
			to:    carol.key.DID(), toCoop: c.ID, reason: "insufficient_trust",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
				defer tc.undo()
			}
			beforePos := positionsAll(t, f)
			beforeA, beforeC := alice.balance(t, ctx), carol.balance(t, ctx)
			res, err := alice.sess.Pay(ctx, client.PaymentIntent{To: tc.to, ToCoop: tc.toCoop, Amount: "1.00"}, alice.key)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != "rejected" || res.Reason != tc.reason {
				t.Fatalf("got %s %q, want rejected %q", res.Status, res.Reason, tc.reason)
			}
			settledAll(t, f, 20*time.Second)
			if a, c := alice.balance(t, ctx), carol.balance(t, ctx); a != beforeA || c != beforeC {
				t.Fatalf("balances moved: %s→%s, %s→%s", beforeA, a, beforeC, c)
			}
			if after := positionsAll(t, f); !maps.Equal(after, beforePos) {
				t.Fatalf("positions moved:\nbefore %v\nafter  %v", beforePos, after)
			}
		})
	}
}

// settledAll waits until nothing is open in any co-op or any cluster.
func settledAll(t *testing.T, f *Federation, within time.Duration) {
	t.Helper()
	waitFor(t, within, func() bool {
		for _, n := range f.Nodes {
			if open, err := n.Ledger.OpenTransfers(1); err != nil || len(open) > 0 {
				return false
			}
		}
		for _, h := range []*hubCluster{f.hubs, f.region2, f.parent} {
			if h == nil {
				continue // a single federation
			}
			if l := h.leader(); l == nil || len(l.FSM().Pending()) > 0 {
				return false
			}
		}
		return true
	}, "every transfer decided at every co-op and every hub")
}

// checkLevels: money is conserved at every level (one, or a parent and two
// regions). Each co-op ledger
// verifies and its clearing account mirrors its position at its region;
// each cluster's positions sum to zero; a region's position at the parent
// mirrors the parent's position at the region.
func checkLevels(t *testing.T, f *Federation) {
	t.Helper()
	pos := func(h *hubCluster, did identity.DID) int64 {
		a, err := money.Parse(positionIn(t, h, did), money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		return a.Units()
	}
	for i, n := range f.Nodes {
		rep, err := n.Ledger.Verify()
		if err != nil || !rep.OK() {
			t.Fatalf("%s ledger: %v %+v", n.Config.CoopID, err, rep)
		}
		bal, err := n.Ledger.Balance(n.Hub.ClearingAccount(), money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		if p := pos(f.clusters[i], n.Key.DID()); bal.Balance.Units() != -p {
			t.Fatalf("%s: clearing account %s does not mirror its position %d", n.Config.CoopID, bal.Balance, p)
		}
	}
	for _, h := range []*hubCluster{f.hubs, f.region2, f.parent} {
		if h == nil {
			continue // a single federation
		}
		if n := len(h.leader().FSM().Pending()); n != 0 {
			t.Fatalf("%s: %d transfers still pending", h.manifest.Name, n)
		}
		var sum int64
		for _, p := range h.leader().FSM().Participants() {
			sum += pos(h, identity.DID(p.GetDid()))
		}
		if sum != 0 {
			t.Fatalf("%s: positions sum to %d units", h.manifest.Name, sum)
		}
	}
	if f.parent == nil {
		return
	}
	for _, r := range []*hubCluster{f.hubs, f.region2} {
		if up, down := pos(r, f.parent.fed.DID()), pos(f.parent, r.fed.DID()); up != -down {
			t.Fatalf("%s: its position of the parent %d does not mirror the parent's of it %d", r.manifest.Name, up, down)
		}
	}
}

// TestKillParentLeaderMidStream stops the parent cluster's leader while
// payments stream both ways between coop-a (region 1) and coop-c (region
// 2): the parent elects a leader, the regions reconnect and ask for what
// they relayed, and every level agrees afterwards.
func TestKillParentLeaderMidStream(t *testing.T) {
	f, ctx := startRegions(t)
	nodes := [2]int{0, 2}
	ps := pairs(t, ctx, f, nodes)
	waitFor(t, 30*time.Second, func() bool { return ps[0][0].pay(t, ctx, ps[0][1], "0.01").Status == "committed" }, "regions linked")
	sctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	done := make(chan []told)
	var answered atomic.Int64
	go func() { done <- stream(t, sctx, ps, &answered, nodes) }()
	waitFor(t, 10*time.Second, func() bool { return answered.Load() >= 30 }, "payments flowing before the fault")
	var leader *hub.Service
	for _, s := range f.parent.svcs {
		if s.Node.IsLeader() {
			leader = s
		}
	}
	if leader == nil {
		t.Fatal("no parent leader")
	}
	_ = leader.Close()
	results := <-done
	settledAll(t, f, 90*time.Second)
	checkTold(t, f, results)
	checkLevels(t, f)
	t.Logf("%d payments answered: %s", len(results), tally(results))
}
