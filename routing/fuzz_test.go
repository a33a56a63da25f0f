package routing_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/payment"
	"github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

// FuzzReadEnvelope: reading frames of envelopes from arbitrary bytes never
// panics and fails only with a framing error; every envelope read
// re-encodes to a frame that reads back equal.
func FuzzReadEnvelope(f *testing.F) {
	for _, m := range []*icnv1.Envelope{prepareEnvelope("01J0000000000000000000000A", 2), ping(7), {}} {
		var b bytes.Buffer
		if err := routing.WriteMsg(&b, m); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			var env icnv1.Envelope
			err := routing.ReadMsgMax(r, &env, limit)
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, routing.ErrTruncated) && !errors.Is(err, routing.ErrFrameTooLarge) && !errors.Is(err, routing.ErrMalformed) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			_ = routing.MessageType(&env)
			var b bytes.Buffer
			if err := routing.WriteMsgMax(&b, &env, limit); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			var again icnv1.Envelope
			if err := routing.ReadMsgMax(&b, &again, limit); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			if !proto.Equal(&env, &again) {
				t.Fatalf("round trip changed %v into %v", &env, &again)
			}
		}
	})
}

// FuzzVerifyReceipt: a receipt from a peer is accepted only if signed by the
// expected co-op for the expected transfer and intent; anything else is an
// error, never a panic.
func FuzzVerifyReceipt(f *testing.F) {
	k, err := identity.KeyFromSeed(make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	h := payment.Hash([]byte("intent"))
	good, err := routing.SignReceipt(k, &icnv1.TransferReceipt{TransferId: "t1", IntentHash: h[:], Accept: true, Coop: string(k.DID())})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.GetPayload(), good.GetSignature(), good.GetSigner())
	f.Add([]byte{0xff, 0x01}, []byte("sig"), "did:icn:nope")
	f.Fuzz(func(t *testing.T, payload, sig []byte, signer string) {
		r, err := routing.VerifyReceipt(&icnv1.SignedMessage{Payload: payload, Signature: sig, Signer: signer}, k.DID(), "t1", h)
		if err == nil && (r.GetTransferId() != "t1" || identity.DID(r.GetCoop()) != k.DID()) {
			t.Fatalf("accepted a receipt for %q of %q", r.GetTransferId(), r.GetCoop())
		}
	})
}
