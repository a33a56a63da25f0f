package devfed

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// member is a logged-in demo member of a dev co-op.
type member struct {
	key  *identity.Key
	sess *client.Session
	coop ManifestCoop
}

func login(t *testing.T, ctx context.Context, c ManifestCoop, m ManifestMember) *member {
	t.Helper()
	k, err := keyfile.Read(m.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.New(c.GatewayURL).Login(ctx, k, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &member{key: k, sess: s, coop: c}
}

func (m *member) pay(t *testing.T, ctx context.Context, to *member, amount string) *client.PaymentResult {
	t.Helper()
	res, err := m.sess.Pay(ctx, client.PaymentIntent{To: to.key.DID(), ToCoop: to.coop.ID, Amount: amount}, m.key)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (m *member) balance(t *testing.T, ctx context.Context) string {
	t.Helper()
	b, err := m.sess.Balance(ctx, m.coop.ID, m.key.DID(), "")
	if err != nil {
		t.Fatal(err)
	}
	return b.Balance
}

// startDev starts a dev federation with one hub cluster and two co-ops for
// the test.
func startDev(t *testing.T) (*Federation, context.Context) {
	t.Helper()
	return startFed(t, nil, "starts a hub cluster and two co-op nodes")
}

// startFed starts a dev federation (with remote co-ops: two regions under
// a parent) stopped when the test ends; -short skips the test (why).
func startFed(t *testing.T, remote []string, why string) (*Federation, context.Context) {
	t.Helper()
	return startFedOpts(t, Options{RemoteCoops: remote}, why)
}

// startFedOpts starts a dev federation with o (its data directory and
// logger set here) and stops it when the test ends.
func startFedOpts(t *testing.T, o Options, why string) (*Federation, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	o.DataDir, o.Logger = t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, ctx
}

// paymentEvent is the payload of a Payment event, as a wallet reads it.
type paymentEvent struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	From     string `json:"from"`
	To       string `json:"to"`
	FromCoop string `json:"from_coop"`
	ToCoop   string `json:"to_coop"`
}

// sawCommitted reads events until a Payment event for id with status
// committed arrives (its payload and true) or 10 s pass.
func sawCommitted(ctx context.Context, ch <-chan client.Event, id string) (paymentEvent, bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return paymentEvent{}, false
			}
			var p paymentEvent
			if e.Type == client.EventPayment && json.Unmarshal(e.Payload, &p) == nil && p.ID == id && p.Status == "committed" {
				return p, true
			}
		case <-ctx.Done():
			return paymentEvent{}, false
		}
	}
}

// historyRow returns the row of payment id in m's own history.
func (m *member) historyRow(t *testing.T, ctx context.Context, id string) client.HistoryEntry {
	t.Helper()
	h, err := m.sess.History(ctx, m.coop.ID, m.key.DID(), 50, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h.Entries {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("payment %s is not in the history of %s", id, m.key.DID().Short())
	return client.HistoryEntry{}
}

// wantParties checks what a history row or event names as payer and payee:
// both members and both co-ops by id, on either side of the payment.
func wantParties(t *testing.T, what string, from, fromCoop, to, toCoop string, payer, payee *member) {
	t.Helper()
	if from != string(payer.key.DID()) || fromCoop != payer.coop.ID || to != string(payee.key.DID()) || toCoop != payee.coop.ID {
		t.Errorf("%s: %s @ %s -> %s @ %s, want %s @ %s -> %s @ %s", what, from, fromCoop, to, toCoop,
			payer.key.DID(), payer.coop.ID, payee.key.DID(), payee.coop.ID)
	}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPaid waits until pay reports a committed payment, failing with the
// last status and reason after within; it returns the payment's id.
func waitPaid(t *testing.T, within time.Duration, what string, pay func() *client.PaymentResult) string {
	t.Helper()
	var last *client.PaymentResult
	deadline := time.Now().Add(within)
	for {
		if last = pay(); last.Status == "committed" {
			return last.ID
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s (last: %s %s)", within, what, last.Status, last.Reason)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCrossCoopPayment pays from coop-a to coop-b through the wallet API:
// both balances, both clearing accounts and both hub positions move, and
// each ledger still sums to zero.
func TestCrossCoopPayment(t *testing.T) {
	f, ctx := startDev(t)
	a, b := f.Manifest.Coops[0], f.Manifest.Coops[1]
	alice := login(t, ctx, a, a.Members[0])
	bob := login(t, ctx, b, b.Members[1])

	// Both members watch their own feeds (the backfill, then live events);
	// the payment's id picks its event out.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	aliceEvents, _ := alice.sess.Watch(wctx, a.ID, 0, false)
	bobEvents, _ := bob.sess.Watch(wctx, b.ID, 0, false)

	res := alice.pay(t, ctx, bob, "2.50")
	if res.Status != "committed" {
		t.Fatalf("payment: %+v", res)
	}
	if got := alice.balance(t, ctx); got != "47.50" {
		t.Errorf("alice's balance %s, want 47.50", got)
	}
	// The payee's co-op applies the outcome as the hub tells it, just after
	// the payer's co-op has its answer.
	waitFor(t, 10*time.Second, func() bool { return bob.balance(t, ctx) == "52.50" }, "bob's balance 52.50")
	if pa, pb := positionIn(t, f.hubs, a.DID), positionIn(t, f.hubs, b.DID); pa != "-2.50" || pb != "2.50" {
		t.Errorf("hub positions a=%s b=%s, want -2.50 and 2.50", pa, pb)
	}
	for i, n := range f.Nodes {
		bal, err := n.Ledger.Balance(n.Hub.ClearingAccount(), money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{250, -250}[i] // the clearing account mirrors the hub's position, sign reversed
		if bal.Balance.Units() != want {
			t.Errorf("%s clearing account %s, want %d units", n.Config.CoopID, bal.Balance, want)
		}
		rep, err := n.Ledger.Verify()
		if err != nil || !rep.OK() {
			t.Errorf("%s ledger verify: %v %+v", n.Config.CoopID, err, rep)
		}
	}
	// Both sides name the paying member and both co-ops by id (the payee's
	// ledger posts against its clearing account, which neither shows).
	for who, ch := range map[string]<-chan client.Event{"alice": aliceEvents, "bob": bobEvents} {
		ev, ok := sawCommitted(ctx, ch, res.ID)
		if !ok {
			t.Errorf("%s got no committed Payment event for %s", who, res.ID)
			continue
		}
		wantParties(t, who+"'s Payment event", ev.From, ev.FromCoop, ev.To, ev.ToCoop, alice, bob)
	}
	for who, m := range map[string]*member{"alice": alice, "bob": bob} {
		e := m.historyRow(t, ctx, res.ID)
		wantParties(t, who+"'s history row", string(e.From), e.FromCoop, string(e.To), e.ToCoop, alice, bob)
	}
	p, err := f.Nodes[1].Ledger.Payment(res.ID)
	if err != nil || p.Status != ledger.StatusCommitted || !p.PendingCredit {
		t.Fatalf("payee side: %+v %v", p, err)
	}
	tr, ok, err := f.hubs.leader().FSM().Transfer(res.ID)
	if err != nil || !ok || tr.GetState() != icnv1.TransferState_TRANSFER_STATE_COMMITTED {
		t.Fatalf("hub record: %v %v %v", tr, ok, err)
	}
}
