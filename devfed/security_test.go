package devfed

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/dataplane"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/payment"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// violations sums icn_trust_violations_total{kind} over every hub node.
func violations(t *testing.T, f *Federation, kind string) float64 {
	t.Helper()
	return hubCounter(t, f, "icn_trust_violations_total", kind)
}

// hubCounter sums counter name over the federation's hub nodes: its series
// with label kind = kind, or every series if kind is "".
func hubCounter(t *testing.T, f *Federation, name, kind string) float64 {
	t.Helper()
	var sum float64
	for _, s := range f.hubs.svcs {
		reg := prometheus.NewRegistry()
		reg.MustRegister(s.Data.Collectors()...)
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range fams {
			if fam.GetName() != name {
				continue
			}
			for _, m := range fam.GetMetric() {
				if kind == "" {
					sum += m.GetCounter().GetValue()
				}
				for _, l := range m.GetLabel() {
					if kind != "" && l.GetName() == "kind" && l.GetValue() == kind {
						sum += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return sum
}

func leaderService(t *testing.T, f *Federation) *hub.Service {
	t.Helper()
	for _, s := range f.hubs.svcs {
		if s.Node.IsLeader() {
			return s
		}
	}
	t.Fatal("no hub leader")
	return nil
}

// dialHub connects to the hub leader's data plane as key.
func dialHub(t *testing.T, ctx context.Context, f *Federation, key *identity.Key) (*routing.Conn, error) {
	t.Helper()
	s := leaderService(t, f)
	return routing.Dial(ctx, s.Data.Addr(), key, s.Node.DID(), routing.Options{Role: icnv1.NodeRole_NODE_ROLE_COOP})
}

// signedPrepare builds the prepare co-op A would send for alice's intent.
func signedPrepare(t *testing.T, alice *member, bob *member, fromCoop identity.DID, amount string) *icnv1.TransferPrepare {
	t.Helper()
	now := time.Now()
	in := client.PaymentIntent{ID: client.NewPaymentID(), From: alice.key.DID(), To: bob.key.DID(), ToCoop: bob.coop.ID,
		Amount: amount, Currency: "hours", CreatedAt: client.FormatTime(now), ExpiresAt: client.FormatTime(now.Add(time.Minute))}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return &icnv1.TransferPrepare{TransferId: in.ID, FromCoop: string(fromCoop), ToCoop: bob.coop.ID, Currency: "hours",
		AmountUnits: 100, ExpiresAtUnixNano: now.Add(time.Minute).UnixNano(),
		Intent: &icnv1.SignedMessage{Payload: raw, Signer: string(alice.key.DID()), Signature: alice.key.Sign(identity.TagPaymentIntent, raw)}}
}

func call(t *testing.T, ctx context.Context, c *routing.Conn, p *icnv1.TransferPrepare) *icnv1.Envelope {
	t.Helper()
	var resp icnv1.Envelope
	if err := c.Call(ctx, &icnv1.Envelope{Body: &icnv1.Envelope_Prepare{Prepare: p}}, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

// TestDataPlaneSecurity: an unregistered node, a tampered intent, a prepare
// sent in another co-op's name, a replayed prepare and an accept signed by
// the wrong co-op are each refused and counted in icn_trust_violations_total.
func TestDataPlaneSecurity(t *testing.T) {
	f, ctx := startDev(t)
	a, b := f.Manifest.Coops[0], f.Manifest.Coops[1]
	alice := login(t, ctx, a, a.Members[0])
	bob := login(t, ctx, b, b.Members[1])
	coopA, coopB := f.Nodes[0].Key, f.Nodes[1].Key

	t.Run("unregistered node refused at the handshake", func(t *testing.T) {
		stranger, err := identity.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		before := violations(t, f, "unregistered_node")
		if c, err := dialHub(t, ctx, f, stranger); err == nil {
			c.Close()
			t.Fatal("an unregistered key got a data-plane connection")
		}
		if violations(t, f, "unregistered_node") <= before {
			t.Fatal("unregistered_node not counted")
		}
	})

	c, err := dialHub(t, ctx, f, coopA)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	t.Run("tampered intent", func(t *testing.T) {
		p := signedPrepare(t, alice, bob, coopA.DID(), "1.00")
		p.AmountUnits = 1 // the intent says 1.00
		resp := call(t, ctx, c, p)
		if resp.GetError().GetCode() != dataplane.ReplyBadIntent || violations(t, f, "tampered_intent") != 1 {
			t.Fatalf("got %v, violations %v", resp, violations(t, f, "tampered_intent"))
		}
		p = signedPrepare(t, alice, bob, coopA.DID(), "1.00")
		p.Intent.Payload = append([]byte(nil), p.Intent.Payload...)
		p.Intent.Payload[len(p.Intent.Payload)-3] ^= 1 // breaks the signature
		if resp := call(t, ctx, c, p); resp.GetError().GetCode() != dataplane.ReplyBadIntent || violations(t, f, "bad_intent_signature") != 1 {
			t.Fatalf("got %v", resp)
		}
	})

	t.Run("prepare in another co-op's name", func(t *testing.T) {
		p := signedPrepare(t, alice, bob, coopB.DID(), "1.00")
		if resp := call(t, ctx, c, p); resp.GetError().GetCode() != dataplane.ReplyForbidden || violations(t, f, "sender_mismatch") != 1 {
			t.Fatalf("got %v", resp)
		}
	})

	t.Run("payer's co-op named by the hub, not the sender", func(t *testing.T) {
		// coop-a claims to pay in coop-b's name: the hub names the payer's
		// co-op from its registry, so bob still reads coop-a.
		p := signedPrepare(t, alice, bob, coopA.DID(), "1.00")
		p.FromCoopId = b.ID
		if resp := call(t, ctx, c, p); resp.GetOutcome().GetState() != icnv1.TransferState_TRANSFER_STATE_COMMITTED {
			t.Fatalf("got %v", resp)
		}
		e := bob.historyRow(t, ctx, p.GetTransferId())
		if string(e.From) != string(alice.key.DID()) || e.FromCoop != a.ID {
			t.Fatalf("bob reads %s @ %s, want alice @ %s", e.From, e.FromCoop, a.ID)
		}
	})

	t.Run("replayed prepare", func(t *testing.T) {
		res := alice.pay(t, ctx, bob, "1.00")
		if res.Status != "committed" {
			t.Fatalf("payment: %+v", res)
		}
		pay, err := f.Nodes[0].Ledger.Payment(res.ID)
		if err != nil {
			t.Fatal(err)
		}
		before := alice.balance(t, ctx)
		p := &icnv1.TransferPrepare{TransferId: res.ID, FromCoop: string(coopA.DID()), ToCoop: b.ID, Currency: "hours",
			AmountUnits: 100, ExpiresAtUnixNano: time.Now().Add(time.Minute).UnixNano(),
			Intent: &icnv1.SignedMessage{Payload: pay.Intent, Signer: string(alice.key.DID()), Signature: pay.Signature}}
		resp := call(t, ctx, c, p)
		if resp.GetOutcome().GetState() != icnv1.TransferState_TRANSFER_STATE_COMMITTED || violations(t, f, "replayed_prepare") != 1 {
			t.Fatalf("got %v, violations %v", resp, violations(t, f, "replayed_prepare"))
		}
		if after := alice.balance(t, ctx); after != before {
			t.Fatalf("a replay moved money: %s → %s", before, after)
		}
		// The same prepare marked as a retry (a co-op whose answer was
		// lost) gets the outcome too, but is no violation.
		p.Retry = true
		resp = call(t, ctx, c, p)
		if resp.GetOutcome().GetState() != icnv1.TransferState_TRANSFER_STATE_COMMITTED ||
			violations(t, f, "replayed_prepare") != 1 || hubCounter(t, f, "icn_hub_prepare_retries_total", "") != 1 {
			t.Fatalf("retry: got %v, violations %v, retries %v", resp, violations(t, f, "replayed_prepare"),
				hubCounter(t, f, "icn_hub_prepare_retries_total", ""))
		}
		if after := alice.balance(t, ctx); after != before {
			t.Fatalf("a retry moved money: %s → %s", before, after)
		}
	})

	t.Run("accept signed by the wrong co-op", func(t *testing.T) {
		// A node holding coop-b's key answers deliveries with receipts
		// signed by coop-a's key.
		fake, err := dialHub(t, ctx, f, coopB)
		if err != nil {
			t.Fatal(err)
		}
		defer fake.Close()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go fake.Serve(sctx, func(s *routing.Stream) {
			var env icnv1.Envelope
			if s.Recv(&env) != nil || env.GetPrepare() == nil {
				return
			}
			p := env.GetPrepare()
			h := payment.Hash(p.GetIntent().GetPayload())
			r, _ := routing.SignReceipt(coopA, &icnv1.TransferReceipt{TransferId: p.GetTransferId(), IntentHash: h[:], Accept: true, Coop: string(coopB.DID())})
			_ = s.Send(&icnv1.Envelope{Body: &icnv1.Envelope_Accept{Accept: &icnv1.TransferAccept{TransferId: p.GetTransferId(), Receipt: r}}})
		})
		before := alice.balance(t, ctx)
		res := alice.pay(t, ctx, bob, "1.00")
		if res.Status != "rejected" || res.Reason != dataplane.ReasonReceiverRejected || violations(t, f, "bad_receipt") != 1 {
			t.Fatalf("payment %+v, violations %v", res, violations(t, f, "bad_receipt"))
		}
		if after := alice.balance(t, ctx); after != before {
			t.Fatalf("a refused accept moved money: %s → %s", before, after)
		}
	})
}
