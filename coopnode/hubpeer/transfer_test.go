package hubpeer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/payment"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

type members map[identity.DID]bool

func (m members) IsMember(d identity.DID, _ time.Time) bool { return m[d] }
func (m members) SignerOf(identity.DID, []byte, []byte, time.Time) (identity.DID, bool) {
	return "", false
}

func key(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testClient is a Client without a hub connection, over a real ledger.
func testClient(t *testing.T, payees ...identity.DID) *Client {
	t.Helper()
	led, err := ledger.Open(ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = led.Close() })
	ms := members{}
	for _, p := range payees {
		ms[p] = true
	}
	fed := key(t)
	c := &Client{cfg: Config{CoopID: "coop-b", Key: key(t), Ledger: led, Members: ms, Clock: time.Now, Federation: fed.DID(),
		Signatures: routing.NewSignatureCounter("hubpeer", routing.SignedIntent)},
		clearing: ledger.ClearingAccount(string(fed.DID())), ctx: context.Background()}
	return c
}

// verifications is the count of intent verifications in sigs.
func verifications(t *testing.T, sigs *routing.SignatureCounter) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(sigs)
	fams, err := reg.Gather()
	if err != nil || len(fams) != 1 || len(fams[0].GetMetric()) != 1 {
		t.Fatalf("gather: %v %v", fams, err)
	}
	return fams[0].GetMetric()[0].GetCounter().GetValue()
}

// prepare is what a hub delivers: payer's intent to payee at coop-b.
func prepare(t *testing.T, payer *identity.Key, payee identity.DID, amount string, units int64) *icnv1.TransferPrepare {
	t.Helper()
	now := time.Now().UTC()
	in := payment.Intent{ID: "t-" + amount, From: string(payer.DID()), To: string(payee), ToCoop: "coop-b", Amount: amount,
		Currency: "hours", CreatedAt: now.Format(time.RFC3339), ExpiresAt: now.Add(time.Minute).Format(time.RFC3339)}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return &icnv1.TransferPrepare{TransferId: in.ID, FromCoop: "did:icn:coop-a", ToCoop: "coop-b", Currency: "hours",
		AmountUnits: units, ExpiresAtUnixNano: now.Add(time.Minute).UnixNano(),
		Intent: &icnv1.SignedMessage{Payload: raw, Signer: string(payer.DID()), Signature: payer.Sign(identity.TagPaymentIntent, raw)}}
}

func TestAcceptChecks(t *testing.T) {
	payer, payee, stranger := key(t), key(t), key(t)
	for _, tc := range []struct {
		name   string
		mutate func(*icnv1.TransferPrepare)
		to     identity.DID
		want   string
	}{
		{name: "valid", to: payee.DID(), want: ""},
		{name: "payee not a member", to: stranger.DID(), want: ReasonUnknownPayee},
		{name: "amount differs from the intent", to: payee.DID(), mutate: func(p *icnv1.TransferPrepare) { p.AmountUnits = 1 }, want: ReasonInvalid},
		{name: "bad signature", to: payee.DID(), mutate: func(p *icnv1.TransferPrepare) { p.Intent.Signature[0] ^= 1 }, want: ReasonInvalid},
		{name: "id differs from the intent", to: payee.DID(), mutate: func(p *icnv1.TransferPrepare) { p.TransferId = "other" }, want: ReasonInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testClient(t, payee.DID())
			p := prepare(t, payer, tc.to, "2.50", 250)
			if tc.mutate != nil {
				tc.mutate(p)
			}
			rec, got := c.accept(context.Background(), p)
			if got != tc.want {
				t.Fatalf("accept = %q, want %q", got, tc.want)
			}
			if got == "" && (rec.ID != p.GetTransferId() || rec.Status != ledger.StatusPending || !rec.PendingCredit) {
				t.Errorf("accept returned %+v, want the pending credit it recorded", rec)
			}
			// Every prepare's intent is verified once, whatever the outcome.
			if n := verifications(t, c.cfg.Signatures); n != 1 {
				t.Errorf("signature verifications = %v, want 1", n)
			}
			pay, err := c.cfg.Ledger.Payment(p.GetTransferId())
			if tc.want == "" {
				if err != nil || pay.Status != ledger.StatusPending || !pay.PendingCredit || pay.To != ledger.Account(payee.DID()) || pay.From != c.clearing {
					t.Fatalf("pending credit: %+v %v", pay, err)
				}
				// A repeat (the hub redelivering) accepts again and records nothing new.
				if _, again := c.accept(context.Background(), p); again != "" {
					t.Fatalf("repeat: %q", again)
				}
				return
			}
			if err == nil {
				t.Fatalf("a refused prepare left a record: %+v", pay)
			}
		})
	}
}

func TestApplyOutcome(t *testing.T) {
	payer, payee := key(t), key(t)
	for _, tc := range []struct {
		state  icnv1.TransferState
		status ledger.Status
	}{
		{icnv1.TransferState_TRANSFER_STATE_COMMITTED, ledger.StatusCommitted},
		{icnv1.TransferState_TRANSFER_STATE_ABORTED, ledger.StatusRejected},
		{icnv1.TransferState_TRANSFER_STATE_PREPARED, ledger.StatusPending},
	} {
		// applyOut reads the record first; applyKnown (what incoming and
		// Route use) starts from the record accept or Hold returned, and
		// gives the same answer and balances, also when the outcome was
		// applied already (a reconciler pass before it).
		for _, way := range []string{"read", "known", "known-after-reconcile"} {
			t.Run(tc.state.String()+"/"+way, func(t *testing.T) {
				c := testClient(t, payee.DID())
				p := prepare(t, payer, payee.DID(), "1.00", 100)
				rec, r := c.accept(context.Background(), p)
				if r != "" {
					t.Fatal(r)
				}
				out := &icnv1.TransferOutcome{TransferId: p.GetTransferId(), State: tc.state, Reason: "expired"}
				var got ledger.Payment
				var err error
				switch way {
				case "read":
					got, err = c.applyOut(context.Background(), out)
				case "known":
					got, err = c.applyKnown(context.Background(), rec, out)
				default:
					if _, err := c.applyOut(context.Background(), out); err != nil {
						t.Fatal(err)
					}
					got, err = c.applyKnown(context.Background(), rec, out)
				}
				if err != nil || got.Status != tc.status {
					t.Fatalf("apply: %+v %v, want %s", got, err, tc.status)
				}
				if tc.status == ledger.StatusRejected && got.Reason != "expired" {
					t.Errorf("reason %q, want expired", got.Reason)
				}
				bal, err := c.cfg.Ledger.Balance(ledger.Account(payee.DID()), got.Amount.Currency())
				if err != nil {
					t.Fatal(err)
				}
				wantBal := map[ledger.Status]int64{ledger.StatusCommitted: 100}[tc.status]
				wantPending := map[ledger.Status]int64{ledger.StatusPending: 100}[tc.status]
				if bal.Balance.Units() != wantBal || bal.PendingIn.Units() != wantPending {
					t.Fatalf("payee balance %s pending %s", bal.Balance, bal.PendingIn)
				}
				if rep, err := c.cfg.Ledger.Verify(); err != nil || !rep.OK() {
					t.Fatalf("verify: %v %+v", err, rep)
				}
			})
		}
	}
}

// TestApplyKnownDecidedOtherwise: a pending record that was decided the
// other way meanwhile is returned as it stands, as applyOut returns it.
func TestApplyKnownDecidedOtherwise(t *testing.T) {
	payer, payee := key(t), key(t)
	c := testClient(t, payee.DID())
	p := prepare(t, payer, payee.DID(), "1.00", 100)
	rec, r := c.accept(context.Background(), p)
	if r != "" {
		t.Fatal(r)
	}
	if _, err := c.cfg.Ledger.VoidCredit(context.Background(), rec.ID, "expired"); err != nil {
		t.Fatal(err)
	}
	out := &icnv1.TransferOutcome{TransferId: rec.ID, State: icnv1.TransferState_TRANSFER_STATE_COMMITTED}
	want, err := c.applyOut(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.applyKnown(context.Background(), rec, out)
	if err != nil || got.Status != ledger.StatusRejected || got.Status != want.Status || got.Reason != want.Reason {
		t.Fatalf("applyKnown = %+v %v, want %+v", got, err, want)
	}
}

func TestStatementFrom(t *testing.T) {
	st := statementFrom(&icnv1.Statement{Period: 3, State: "final", OpenedAtUnixNano: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(),
		ReportHash: []byte{0xab, 0xcd}, Signatures: 2, Quorum: 2,
		Figures:      []*icnv1.StatementFigures{{Currency: "hours", Sent: "4.00", Received: "1.00", Net: "-3.00", SentCount: 2, ReceivedCount: 1}},
		Instructions: []*icnv1.StatementInstruction{{Index: 4, Currency: "hours", From: "a", To: "b", Amount: "3.00", Paid: true}}})
	if st.Period != 3 || st.OpenedAt != "2026-01-02T03:04:05Z" || st.ClosedAt != "" || st.ReportHash != "abcd" ||
		st.Figures[0].Net != "-3.00" || st.Instructions[0].Index != 4 || !st.Instructions[0].Paid {
		t.Fatalf("%+v", st)
	}
}
