package hubpeer

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/payment"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// signers: every member, and every intent signed by the member's own key.
type signers struct{}

func (signers) IsMember(identity.DID, time.Time) bool { return true }
func (signers) SignerOf(m identity.DID, _, _ []byte, _ time.Time) (identity.DID, bool) {
	return m, true
}

// stubHub is a hub node on a real QUIC listener that knows no transfer,
// reports each prepare it receives (and its retry mark), and commits it
// once released; with refuse set it first answers that many prepares
// "unavailable".
type stubHub struct {
	key      *identity.Key
	addr     string
	prepared chan string
	retry    chan bool
	release  chan struct{}
	refuse   atomic.Int32
	// refusals, when it holds codes, answers the next prepares with them
	// in order (before refuse).
	refusals chan string
	// refuseOnly, when set, limits refusals to the prepares of that
	// transfer (a reconciler's resend of another one takes none).
	refuseOnly atomic.Pointer[string]
	// maxQuery, if positive, refuses outcome queries of more ids as
	// payload_too_large, as a hub does for a frame over the class's cap.
	maxQuery atomic.Int32
	stop     func() // closes the listener and its connections
}

func startStubHub(t *testing.T) *stubHub {
	t.Helper()
	return startStubHubAdmitting(t, func(identity.DID) bool { return true })
}

// startStubHubAdmitting starts a stubHub that admits the co-op nodes accept
// approves at the handshake (the registered participants).
func startStubHubAdmitting(t *testing.T, accept func(identity.DID) bool) *stubHub {
	t.Helper()
	h := &stubHub{key: key(t), prepared: make(chan string, 16), retry: make(chan bool, 16), release: make(chan struct{}),
		refusals: make(chan string, 16)}
	l, err := routing.Listen("127.0.0.1:0", h.key, accept, routing.Options{Role: icnv1.NodeRole_NODE_ROLE_HUB})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); _ = l.Close(); <-done }) }
	t.Cleanup(h.stop)
	h.addr = l.Addr().String()
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept(ctx)
			if err != nil {
				return
			}
			go func() { _ = conn.Serve(ctx, h.serve) }()
		}
	}()
	return h
}

func (h *stubHub) serve(s *routing.Stream) {
	defer func() { _ = s.Close() }()
	var env icnv1.Envelope
	if err := s.Recv(&env); err != nil {
		return
	}
	var resp *icnv1.Envelope
	switch b := env.Body.(type) {
	case *icnv1.Envelope_Ping:
		resp = &icnv1.Envelope{Body: &icnv1.Envelope_Pong{Pong: &icnv1.Pong{Nonce: b.Ping.GetNonce()}}}
	case *icnv1.Envelope_OutcomeQuery:
		if m := h.maxQuery.Load(); m > 0 && len(b.OutcomeQuery.GetTransferIds()) > int(m) {
			resp = &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: "payload_too_large", Message: "over the cap"}}}
			break
		}
		out := &icnv1.TransferOutcomes{}
		for _, id := range b.OutcomeQuery.GetTransferIds() {
			out.Outcomes = append(out.Outcomes, &icnv1.TransferOutcome{TransferId: id}) // unknown
		}
		resp = &icnv1.Envelope{Body: &icnv1.Envelope_Outcomes{Outcomes: out}}
	case *icnv1.Envelope_Prepare:
		h.prepared <- b.Prepare.GetTransferId()
		h.retry <- b.Prepare.GetRetry()
		refusals := h.refusals
		if only := h.refuseOnly.Load(); only != nil && *only != b.Prepare.GetTransferId() {
			refusals = nil
		}
		select {
		case code := <-refusals:
			resp = &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: code, Message: "refused by the stub"}}}
		default:
		}
		if resp != nil {
			break
		}
		if h.refuse.Add(-1) >= 0 {
			resp = &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: "unavailable", Message: "try again"}}}
			break
		}
		<-h.release
		resp = &icnv1.Envelope{Body: &icnv1.Envelope_Outcome{Outcome: &icnv1.TransferOutcome{
			TransferId: b.Prepare.GetTransferId(), State: icnv1.TransferState_TRANSFER_STATE_COMMITTED}}}
	default:
		resp = &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Code: "unsupported"}}}
	}
	_ = s.Send(resp)
}

// TestRouteWhileReconcilerResends: a payment request retried while the
// reconciler is resending the same held payment (after a restart) waits for
// that and answers the final outcome, and the hub gets one prepare.
// Before the fix, Route answered "pending" as soon as the reconciler's
// prepare returned, before its outcome was applied.
func TestRouteWhileReconcilerResends(t *testing.T) {
	hub := startStubHub(t)
	led, payer, payee := payerLedger(t)
	ctx := context.Background()
	tr, expires := heldTransfer(t, payer, payee.DID())
	if p, err := led.Hold(ctx, tr); err != nil || p.Status != ledger.StatusPending {
		t.Fatalf("hold: %+v, %v", p, err)
	}

	fed := key(t)
	c, err := Start(Config{CoopID: "coop-a", Key: key(t), Hubs: []Hub{{DID: hub.key.DID(), Addr: hub.addr}},
		Federation: fed.DID(), Ledger: led, Members: signers{}, ReconcileEvery: time.Hour, StatementsEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	busy := make(chan string, 1)
	c.testHookBusy = func(id string) { busy <- id }

	// The reconciler runs at connect, learns the hub never saw the hold and
	// resends it, marked as a retry: it may have reached the hub before the
	// restart.
	waitFor(t, hub.prepared, tr.ID)
	if !<-hub.retry {
		t.Fatal("the reconciler's resend is not marked as a retry")
	}
	type result struct {
		p   ledger.Payment
		err error
	}
	routed := make(chan result, 1)
	go func() {
		p, err := c.Route(ctx, tr, payer.DID(), expires)
		routed <- result{p, err}
	}()
	waitFor(t, busy, tr.ID)
	close(hub.release)

	var r result
	select {
	case r = <-routed:
	case <-time.After(10 * time.Second):
		t.Fatal("Route did not return")
	}
	if r.err != nil || r.p.Status != ledger.StatusCommitted {
		t.Fatalf("Route = %s %s, %v; want committed", r.p.Status, r.p.Reason, r.err)
	}
	select {
	case id := <-hub.prepared:
		t.Fatalf("the hub got a second prepare of %s", id)
	default:
	}
}

// TestRetriedPrepareMarked: Route's first prepare is not marked as a retry;
// once the hub has failed to answer it, the next attempt is, so the hub
// counts its repeat as a retry and not as a replay.
func TestRetriedPrepareMarked(t *testing.T) {
	hub := startStubHub(t)
	hub.refuse.Store(1)
	close(hub.release)
	led, payer, payee := payerLedger(t)
	ctx := context.Background()
	c, err := Start(Config{CoopID: "coop-a", Key: key(t), Hubs: []Hub{{DID: hub.key.DID(), Addr: hub.addr}},
		Federation: key(t).DID(), Ledger: led, Members: signers{}, ReconcileEvery: time.Hour, StatementsEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	tr, expires := heldTransfer(t, payer, payee.DID())
	p, err := c.Route(ctx, tr, payer.DID(), expires)
	if err != nil || p.Status != ledger.StatusCommitted {
		t.Fatalf("Route = %s %s, %v; want committed", p.Status, p.Reason, err)
	}
	var marks []bool
	for range 2 {
		waitFor(t, hub.prepared, tr.ID)
		marks = append(marks, <-hub.retry)
	}
	if marks[0] || !marks[1] {
		t.Fatalf("retry marks of the two prepares: %v, want [false true]", marks)
	}
}

// TestClassRefusalOfRetryNotFinal: the hub's trust-class refusal
// (rate_limited, payload_too_large) of a co-op's first prepare is final:
// nothing was recorded, and the payment is rejected with that reason. The
// same refusal of a retried prepare is not: the hub may have recorded the
// earlier attempt, so the co-op asks again instead of releasing a hold the
// hub may commit. Before, both were taken as final.
func TestClassRefusalOfRetryNotFinal(t *testing.T) {
	for _, code := range []string{"rate_limited", "payload_too_large"} {
		t.Run(code, func(t *testing.T) {
			hub := startStubHub(t)
			close(hub.release)
			led, payer, payee := payerLedger(t)
			ctx := context.Background()
			c, err := Start(Config{CoopID: "coop-a", Key: key(t), Hubs: []Hub{{DID: hub.key.DID(), Addr: hub.addr}},
				Federation: key(t).DID(), Ledger: led, Members: signers{}, ReconcileEvery: time.Hour, StatementsEvery: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })

			tr, expires := heldTransfer(t, payer, payee.DID())
			hub.refuseOnly.Store(&tr.ID)
			hub.refusals <- code
			p, err := c.Route(ctx, tr, payer.DID(), expires)
			if err != nil || p.Status != ledger.StatusRejected || p.Reason != code {
				t.Fatalf("first prepare refused: Route = %s %s, %v; want rejected %s", p.Status, p.Reason, err, code)
			}
			waitFor(t, hub.prepared, tr.ID)
			<-hub.retry

			tr2, expires2 := heldTransferID(t, payer, payee.DID(), "01a22b0c-0000-7000-8000-000000000002")
			// The first attempt is not answered: the next ones are retries.
			// (The reconciler may resend tr meanwhile: it takes no refusal.)
			hub.refuseOnly.Store(&tr2.ID)
			hub.refusals <- "unavailable"
			hub.refusals <- code
			hub.refusals <- code
			p, err = c.Route(ctx, tr2, payer.DID(), expires2)
			if err != nil || p.Status != ledger.StatusCommitted {
				t.Fatalf("retried prepares refused: Route = %s %s, %v; want committed once the hub answers", p.Status, p.Reason, err)
			}
		})
	}
}

// TestReconcileShrinksRefusedQueries: an outcome query the hub refuses as
// larger than the co-op's trust class allows halves the batch until the
// queries fit, and the open transfers are finished. Before, the same
// oversized query was refused at every tick, and the transfers stayed open.
func TestReconcileShrinksRefusedQueries(t *testing.T) {
	hub := startStubHub(t)
	hub.maxQuery.Store(3)
	close(hub.release)
	led, payer, payee := payerLedger(t)
	ctx := context.Background()
	for i := range 10 {
		tr, _ := heldTransferID(t, payer, payee.DID(), fmt.Sprintf("01a22b0c-0000-7000-8000-0000000001%02d", i))
		if _, err := led.Hold(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Start(Config{CoopID: "coop-a", Key: key(t), Hubs: []Hub{{DID: hub.key.DID(), Addr: hub.addr}},
		Federation: key(t).DID(), Ledger: led, Members: signers{}, ReconcileEvery: time.Hour, StatementsEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var errs []string
	for range 5 {
		err := c.Reconcile(ctx)
		if err == nil {
			break
		}
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 || !strings.Contains(errs[0], "payload_too_large") {
		t.Fatalf("reconcile errors %q, want the first naming the refusal", errs)
	}
	testutil.WaitFor(t, 10*time.Second, "every open transfer finished", func() bool {
		if n, _ := led.OpenCount(); n == 0 {
			return true
		}
		_ = c.Reconcile(ctx)
		return false
	})
}

// payerLedger opens a ledger in which payer may spend up to 100 hours.
func payerLedger(t *testing.T) (led *ledger.Store, payer, payee *identity.Key) {
	t.Helper()
	led, err := ledger.Open(ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = led.Close() })
	payer, payee = key(t), key(t)
	if err := led.SetCreditLimit(context.Background(), ledger.Account(payer.DID()), hours(t, "100")); err != nil {
		t.Fatal(err)
	}
	return led, payer, payee
}

// heldTransfer is a signed 1-hour payment from payer to payee at coop-b.
func heldTransfer(t *testing.T, payer *identity.Key, payee identity.DID) (ledger.Transfer, time.Time) {
	t.Helper()
	return heldTransferID(t, payer, payee, "01a22b0c-0000-7000-8000-000000000001")
}

// heldTransferID is heldTransfer with the payment id id.
func heldTransferID(t *testing.T, payer *identity.Key, payee identity.DID, id string) (ledger.Transfer, time.Time) {
	t.Helper()
	now := time.Now().UTC()
	expires := now.Add(time.Minute)
	in := payment.Intent{ID: id, From: string(payer.DID()), To: string(payee),
		ToCoop: "coop-b", Amount: "1.00", Currency: "hours",
		CreatedAt: now.Format(time.RFC3339), ExpiresAt: expires.Format(time.RFC3339)}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Transfer{ID: in.ID, From: ledger.Account(payer.DID()), To: ledger.Account(payee), FromCoop: "coop-a",
		ToCoop: "coop-b", Amount: hours(t, "1.00"), CreatedAt: now,
		Intent: raw, Signature: payer.Sign(identity.TagPaymentIntent, raw)}, expires
}

func waitFor(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", want)
	}
}

func hours(t *testing.T, s string) money.Amount {
	t.Helper()
	a, err := money.Parse(s, money.Hours)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
