package devfed

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// propose runs a command on the hub leader and fails the test on any error.
// propose runs a command on cluster h's leader and fails the test on any error.
func propose(t *testing.T, ctx context.Context, h *hubCluster, c *icnv1.Command) {
	t.Helper()
	res, err := h.leader().Propose(ctx, c)
	if err != nil || res.GetErrorCode() != "" {
		t.Fatalf("propose %v: %v %s %s", c, err, res.GetErrorCode(), res.GetErrorMessage())
	}
}

// setTrust records from's trust w in to at cluster h.
func setTrust(t *testing.T, ctx context.Context, h *hubCluster, from *identity.Key, to identity.DID, w trust.Weight) {
	t.Helper()
	c, err := trustCommand(from, to, w, time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	propose(t, ctx, h, c)
}

func setCap(t *testing.T, ctx context.Context, f *Federation, coop identity.DID, units int64) {
	t.Helper()
	propose(t, ctx, f.hubs, &icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{SetCreditPolicy: &icnv1.SetCreditPolicy{
		Did: string(coop), Currency: money.Hours.Code, DebitCapUnits: units}}})
}

// snapshot is every balance and position a rejection must leave alone.
type snapshot struct {
	payer, payee, posA, posB string
	clearing                 [2]int64
}

func (m *member) snap(t *testing.T, ctx context.Context, f *Federation, payee *member) snapshot {
	t.Helper()
	s := snapshot{payer: m.balance(t, ctx), payee: payee.balance(t, ctx),
		posA: positionIn(t, f.hubs, m.coop.DID), posB: positionIn(t, f.hubs, payee.coop.DID)}
	for i, n := range f.Nodes {
		b, err := n.Ledger.Balance(n.Hub.ClearingAccount(), money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		s.clearing[i] = b.Balance.Units()
	}
	return s
}

// TestCrossCoopRejections: each way a cross-co-op payment can be refused
// gives the payer a reason code and leaves every balance, clearing account
// and hub position exactly as before.
func TestCrossCoopRejections(t *testing.T) {
	f, ctx := startDev(t)
	a, b := f.Manifest.Coops[0], f.Manifest.Coops[1]
	alice := login(t, ctx, a, a.Members[0])
	bob := login(t, ctx, b, b.Members[1])
	coopA, coopB := f.Nodes[0].Key, f.Nodes[1].Key
	stranger, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		setup  func()
		undo   func()
		intent client.PaymentIntent
		reason string
	}{
		{name: "unknown co-op", intent: client.PaymentIntent{To: bob.key.DID(), ToCoop: "coop-nowhere", Amount: "1.00"}, reason: "unknown_coop"},
		{name: "receiver refuses (not a member)", intent: client.PaymentIntent{To: stranger.DID(), ToCoop: b.ID, Amount: "1.00"}, reason: "receiver_rejected"},
		{
			name:   "trust below min_trust",
			setup:  func() { setTrust(t, ctx, f.hubs, coopB, f.hubs.fed.DID(), trust.Weight(50_000)) }, // 0.05 < 0.1
			undo:   func() { setTrust(t, ctx, f.hubs, coopB, f.hubs.fed.DID(), trust.One) },
			intent: client.PaymentIntent{To: bob.key.DID(), ToCoop: b.ID, Amount: "1.00"},
			reason: "insufficient_trust",
		},
		{
			name:   "debit cap exceeded",
			setup:  func() { setCap(t, ctx, f, coopA.DID(), 100) }, // 1.00
			undo:   func() { setCap(t, ctx, f, coopA.DID(), devCap) },
			intent: client.PaymentIntent{To: bob.key.DID(), ToCoop: b.ID, Amount: "1.01"},
			reason: "debit_cap_exceeded",
		},
		{
			// The hub gives each hop less time than the one before; an
			// intent that leaves no time for the next hop is expired.
			name:   "expired",
			intent: client.PaymentIntent{To: bob.key.DID(), ToCoop: b.ID, Amount: "1.00", ExpiresAt: client.FormatTime(time.Now().Add(1500 * time.Millisecond))},
			reason: "expired",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
				defer tc.undo()
			}
			before := alice.snap(t, ctx, f, bob)
			res, err := alice.sess.Pay(ctx, tc.intent, alice.key)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != "rejected" || res.Reason != tc.reason {
				t.Fatalf("got %s %q, want rejected %q", res.Status, res.Reason, tc.reason)
			}
			st, err := alice.sess.PaymentStatus(ctx, a.ID, res.ID)
			if err != nil || st.Status != "rejected" || st.Reason != tc.reason {
				t.Fatalf("payment status: %+v %v", st, err)
			}
			// The payee side voids asynchronously when it had accepted.
			waitFor(t, 10*time.Second, func() bool {
				p, err := f.Nodes[1].Ledger.Payment(res.ID)
				return err != nil || p.Status == "rejected"
			}, "the payee side is not left pending")
			if after := alice.snap(t, ctx, f, bob); after != before {
				t.Fatalf("state moved:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	for _, n := range f.Nodes {
		if rep, err := n.Ledger.Verify(); err != nil || !rep.OK() || rep.Open != 0 {
			t.Errorf("%s ledger: %v %+v", n.Config.CoopID, err, rep)
		}
	}
}
