package coopnode_test

import (
	"context"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/coopnodetest"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/money"
)

// TestReplicatedTrust: on a 3-node co-op, through a follower's gateway, a
// vouch, the voucher's emergency revoke and a steward quorum's recovery
// are carried out by the leader and applied alike by every node: the
// member in recovery cannot log in at any node, the new DID holds its
// balance, and every node ends with the same state hash.
func TestReplicatedTrust(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	ctx := context.Background()
	ann, bob, s1, neu := coopnodetest.Key(t, "ann"), coopnodetest.Key(t, "bob"), coopnodetest.Key(t, "s1"), coopnodetest.Key(t, "ann-new")
	for _, m := range []struct {
		k     *identity.Key
		roles []string
	}{{ann, nil}, {bob, nil}, {s1, []string{membership.RoleSteward}}} {
		cc.OnLeader(func(i int) error {
			_, err := cc.Nodes[i].Members.AddMember(ctx, m.k.DID(), "m", m.roles)
			return err
		})
	}
	f := (cc.Leader() + 1) % 3
	retry := func(what string, fn func() error) {
		t.Helper()
		var err error
		testutil.WaitFor(t, 20*time.Second, what, func() bool {
			err = fn()
			return err == nil || (client.ErrorCode(err) != "unavailable" && !isConnErr(err))
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	bobS := cc.Login(f, bob)
	retry("bob's payment to ann", func() error {
		_, err := bobS.Pay(ctx, client.PaymentIntent{ID: "b-a", To: ann.DID(), Amount: "7.00"}, bob)
		return err
	})
	retry("bob's vouch", func() error { _, err := bobS.Vouch(ctx, coopnodetest.CoopID, bob, ann.DID()); return err })
	retry("bob's emergency revoke", func() error {
		_, err := bobS.VoucherRevoke(ctx, coopnodetest.CoopID, bob, ann.DID())
		return err
	})
	for i := range cc.Nodes {
		if _, err := client.New(cc.URL(i)).Login(ctx, ann, coopnodetest.CoopID); client.ErrorCode(err) != "in_recovery" {
			t.Fatalf("ann's login through node %d: %v", i, err)
		}
	}
	// Any token may send a steward's signature (the gateway allows a
	// member-less token 10 requests/s per address: bob sends them here).
	for _, k := range []*identity.Key{s1, cc.Admin} {
		req, sig, err := client.SignRecovery(coopnodetest.CoopID, "rec-ann", k, ann.DID(), neu.DID())
		if err != nil {
			t.Fatal(err)
		}
		retry("a recovery signature", func() error { _, err := bobS.SendRecovery(ctx, coopnodetest.CoopID, req, sig); return err })
	}
	newS := cc.Login(f, neu)
	b, err := newS.Balance(ctx, coopnodetest.CoopID, neu.DID(), "")
	if err != nil || b.Balance != "7.00" {
		t.Fatalf("the new DID's balance: %+v %v", b, err)
	}
	h0, _ := cc.Nodes[0].Ledger.State().StateHash()
	testutil.WaitFor(t, 20*time.Second, "one state hash on every node", func() bool {
		for _, n := range cc.Nodes[1:] {
			if h, _ := n.Ledger.State().StateHash(); h != h0 {
				h0, _ = cc.Nodes[0].Ledger.State().StateHash()
				return false
			}
		}
		return true
	})
}

// TestCreditPolicyFollowsTheLeader: the credit gate reads the policy
// recorded in the replicated state, never a node's own [credit_policy]: a
// follower configured otherwise gates credit as the others do, and the
// policy changes on every node once a leader configured with it records
// it.
func TestCreditPolicyFollowsTheLeader(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	l := cc.Leader()
	f := (l + 1) % 3
	cc.Stop(f)
	cc.Configs[f].CreditPolicy = coopnode.CreditPolicyConfig{Enabled: true}
	cc.Restart(f)
	inForce := func(i int) bool {
		t.Helper()
		p, err := cc.Nodes[i].Vouch.Policy()
		if err != nil {
			t.Fatal(err)
		}
		return p != nil
	}
	if inForce(f) {
		t.Fatal("a follower's own [credit_policy] is in force on it; the recorded one must be")
	}
	// Every node configured with the policy: whichever leads records it.
	for i := range cc.Nodes {
		if i != f {
			cc.Stop(i)
			cc.Configs[i].CreditPolicy = coopnode.CreditPolicyConfig{Enabled: true}
			cc.Restart(i)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "the policy in force on every node", func() bool {
		for i := range cc.Nodes {
			if cc.Nodes[i] == nil || !inForce(i) {
				return false
			}
		}
		return true
	})
}

// TestCurrenciesFollowTheLeader: payments and default credit limits follow
// the currency table recorded in the replicated state, never a node's own
// [[currencies]]: a follower configured with another default limit applies
// the recorded one, and the new limit is in force on every node once a
// leader configured with it records it.
func TestCurrenciesFollowTheLeader(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	member := ledger.Account(coopnodetest.Key(t, "ann").DID())
	limitOn := func(i int) int64 {
		t.Helper()
		bal, err := cc.Nodes[i].Ledger.Balance(member, money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		return bal.SetLimit.Units()
	}
	wider := []coopnode.CurrencyConfig{{Code: money.Hours.Code, Scale: money.Hours.Scale, DefaultCreditLimit: "250.00"}}
	// The leader has recorded its table (or does now), and every node holds it.
	cc.OnLeader(func(i int) error { _, err := cc.Nodes[i].Ledger.RecordCurrencies(context.Background()); return err })
	testutil.WaitFor(t, 20*time.Second, "one state hash on every node", func() bool {
		h0, _ := cc.Nodes[0].Ledger.State().StateHash()
		for _, n := range cc.Nodes[1:] {
			if h, _ := n.Ledger.State().StateHash(); h != h0 {
				return false
			}
		}
		return true
	})
	l := cc.Leader()
	before := limitOn(l)
	f := (l + 1) % 3
	cc.Stop(f)
	cc.Configs[f].Currencies = wider
	cc.Restart(f)
	if got := limitOn(f); got != before {
		t.Fatalf("a follower's own [[currencies]] is in force on it (default limit %d); the recorded %d must be", got, before)
	}
	for i := range cc.Nodes {
		if i != f {
			cc.Stop(i)
			cc.Configs[i].Currencies = wider
			cc.Restart(i)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "the wider default limit in force on every node", func() bool {
		for i := range cc.Nodes {
			if cc.Nodes[i] == nil || limitOn(i) != 25000 {
				return false
			}
		}
		return true
	})
}
