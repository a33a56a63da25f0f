package devfed

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

func startRegions(t *testing.T) (*Federation, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three hub clusters and three co-op nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	f, err := Start(ctx, Options{DataDir: t.TempDir(), RemoteCoops: []string{"coop-c"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, ctx
}

// positionIn is did's net position (received − sent) at cluster h.
func positionIn(t *testing.T, h *hubCluster, did identity.DID) string {
	t.Helper()
	ps, err := h.leader().FSM().CreditPolicies(did)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.GetCurrency() == money.Hours.Code {
			return p.GetNet()
		}
	}
	return ""
}

// TestCrossRegionPayment pays from coop-a (region 1) to coop-c (region 2):
// the payment runs co-op → region-1 hub → parent hub → region-2 hub → co-op,
// each hub with its own record, and every level's positions move.
func TestCrossRegionPayment(t *testing.T) {
	f, ctx := startRegions(t)
	a, c := f.Manifest.Coops[0], f.Manifest.Coops[2]
	alice := login(t, ctx, a, a.Members[0])
	carol := login(t, ctx, c, c.Members[2])
	// The region's hub learns routes from the parent's announcements; wait
	// until region 1 is linked and the parent knows coop-c.
	var res string
	waitFor(t, 30*time.Second, func() bool {
		r := alice.pay(t, ctx, carol, "3.00")
		res = r.Status + " " + r.Reason
		return r.Status == "committed"
	}, "a cross-region payment commits (last: "+res+")")
	waitFor(t, 10*time.Second, func() bool { return carol.balance(t, ctx) == "53.00" }, "carol's balance 53.00")
	if got := alice.balance(t, ctx); got != "47.00" {
		t.Errorf("alice's balance %s, want 47.00", got)
	}
	r1, r2, p := f.hubs, f.region2, f.parent
	for _, tc := range []struct {
		h    *hubCluster
		did  identity.DID
		want string
	}{
		{r1, f.Nodes[0].Key.DID(), "-3.00"}, {r1, p.fed.DID(), "3.00"},
		{p, r1.fed.DID(), "-3.00"}, {p, r2.fed.DID(), "3.00"},
		{r2, p.fed.DID(), "-3.00"}, {r2, f.Nodes[2].Key.DID(), "3.00"},
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
