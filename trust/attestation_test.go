package trust_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/trust"
)

func TestPayloadCanonical(t *testing.T) {
	a := trust.Attestation{From: did(1), To: did(2), Weight: w("0.8"), IssuedAt: 1732000000000000000}
	want := `{"type":"icn-trust-attestation","from":"` + string(did(1)) + `","to":"` + string(did(2)) +
		`","weight":"0.8","issued_at":1732000000000000000}`
	if got := string(a.Payload()); got != want {
		t.Fatalf("Payload:\n got %s\nwant %s", got, want)
	}
	back, err := trust.DecodeAttestation(a.Payload())
	if err != nil || back != a {
		t.Fatalf("DecodeAttestation(Payload) = %+v, %v; want %+v", back, err, a)
	}
}

func TestDecodeAttestation(t *testing.T) {
	from, to := string(did(1)), string(did(2))
	obj := func(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }
	typ := `"type":"icn-trust-attestation"`
	f := func(name, v string) string { return `"` + name + `":` + v }
	q := func(s string) string { return `"` + s + `"` }
	good := []string{typ, f("from", q(from)), f("to", q(to)), f("weight", `"0.8"`), f("issued_at", "1732000000000000000")}
	with := func(i int, field string) string {
		fs := append([]string(nil), good...)
		fs[i] = field
		return obj(fs...)
	}
	for _, tc := range []struct {
		name, in string
		want     error // nil: accepted
	}{
		{"canonical", obj(good...), nil},
		{"spaces and reordered", " {" + strings.Join([]string{good[4], good[3], good[2], good[1], good[0]}, " , ") + "} \n", nil},
		{"weight with trailing zeros", with(3, f("weight", `"0.80"`)), nil},
		{"weight zero", with(3, f("weight", `"0"`)), nil},
		{"escaped characters", with(0, `"type":"icn-trust-\u0061ttestation"`), nil},
		{"unknown field", obj(append(good, f("memo", `"x"`))...), trust.ErrAttestation},
		{"field in other case", with(0, `"Type":"icn-trust-attestation"`), trust.ErrAttestation},
		{"repeated field", obj(append(good, f("weight", `"0.1"`))...), trust.ErrAttestation},
		{"missing field", obj(good[:4]...), trust.ErrAttestation},
		{"wrong type", with(0, `"type":"icn-membership-credential"`), trust.ErrAttestation},
		{"type not a string", with(0, `"type":1`), trust.ErrAttestation},
		{"nested value", with(0, `"type":{"type":"icn-trust-attestation"}`), trust.ErrAttestation},
		{"bad from DID", with(1, f("from", `"did:key:z6Mk"`)), identity.ErrDIDPrefix},
		{"bad to DID", with(2, f("to", q(to[:20]+"0"+to[21:]))), identity.ErrBase58},
		{"null to", with(2, f("to", "null")), trust.ErrAttestation},
		{"self trust", with(2, f("to", q(from))), trust.ErrSelfTrust},
		{"weight above one", with(3, f("weight", `"1.5"`)), trust.ErrWeight},
		{"weight as number", with(3, f("weight", "0.8")), trust.ErrAttestation},
		{"weight seven places", with(3, f("weight", `"0.1234567"`)), trust.ErrWeight},
		{"weight exponent", with(3, f("weight", `"8e-1"`)), trust.ErrWeight},
		{"issued_at zero", with(4, f("issued_at", "0")), trust.ErrAttestation},
		{"issued_at negative", with(4, f("issued_at", "-5")), trust.ErrAttestation},
		{"issued_at exponent", with(4, f("issued_at", "1.7e18")), trust.ErrAttestation},
		{"issued_at fraction", with(4, f("issued_at", "1.5")), trust.ErrAttestation},
		{"issued_at overflow", with(4, f("issued_at", "9223372036854775808")), trust.ErrAttestation},
		{"issued_at string", with(4, f("issued_at", `"1"`)), trust.ErrAttestation},
		{"trailing data", obj(good...) + "x", trust.ErrAttestation},
		{"two objects", obj(good...) + obj(good...), trust.ErrAttestation},
		{"array", "[" + obj(good...) + "]", trust.ErrAttestation},
		{"truncated", obj(good...)[:40], trust.ErrAttestation},
		{"empty", "", trust.ErrAttestation},
		{"too large", obj(good...) + strings.Repeat(" ", 4096), trust.ErrAttestation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := trust.DecodeAttestation([]byte(tc.in))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if a.From != did(1) || a.To != did(2) || a.IssuedAt != 1732000000000000000 {
					t.Fatalf("decoded %+v", a)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, trust.ErrAttestation) {
				t.Fatalf("error %v; want %v (and ErrAttestation)", err, tc.want)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	alice, bob := testKey(t, 1), testKey(t, 2)
	a := trust.Attestation{From: alice.DID(), To: bob.DID(), Weight: w("0.8"), IssuedAt: 1732000000000000000}
	good, err := trust.Sign(alice, a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(good.Payload, a.Payload()) || good.Signer != alice.DID() {
		t.Fatalf("Sign: %+v", good)
	}
	forged := good
	forged.Signature = bob.Sign(identity.TagTrustAttestation, good.Payload)
	bobSigns := identity.SignPayload(bob, identity.TagTrustAttestation, good.Payload)
	otherTag := identity.SignPayload(alice, identity.TagPaymentIntent, good.Payload)
	flipped := good
	flipped.Signature = bytes.Clone(good.Signature)
	flipped.Signature[0] ^= 1
	short := good
	short.Signature = good.Signature[:10]
	malformed := identity.SignPayload(alice, identity.TagTrustAttestation, []byte(`{}`))
	for _, tc := range []struct {
		name string
		s    identity.Signed
		want error
	}{
		{"good", good, nil},
		{"signed by the wrong key", forged, trust.ErrSignature},
		{"signer is not from", bobSigns, trust.ErrSignature},
		{"payment-intent tag", otherTag, trust.ErrSignature},
		{"flipped bit", flipped, trust.ErrSignature},
		{"short signature", short, trust.ErrSignature},
		{"malformed payload", malformed, trust.ErrAttestation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := trust.VerifyAttestation(tc.s)
			if tc.want == nil {
				if err != nil || got != a {
					t.Fatalf("VerifyAttestation = %+v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v; want %v", err, tc.want)
			}
		})
	}
	if !errors.Is(mustErr(trust.VerifyAttestation(otherTag)), identity.ErrBadSignature) {
		t.Error("a payment-intent signature should fail with identity.ErrBadSignature inside")
	}
}

func mustErr(_ trust.Attestation, err error) error { return err }

func TestSignRejects(t *testing.T) {
	alice, bob := testKey(t, 1), testKey(t, 2)
	ok := trust.Attestation{From: alice.DID(), To: bob.DID(), Weight: w("0.5"), IssuedAt: 1}
	for _, tc := range []struct {
		name string
		k    *identity.Key
		a    trust.Attestation
		want error
	}{
		{"not from's key", bob, ok, trust.ErrSignature},
		{"nil key", nil, ok, trust.ErrSignature},
		{"self trust", alice, trust.Attestation{From: alice.DID(), To: alice.DID(), Weight: 1, IssuedAt: 1}, trust.ErrSelfTrust},
		{"weight above one", alice, trust.Attestation{From: alice.DID(), To: bob.DID(), Weight: trust.One + 1, IssuedAt: 1}, trust.ErrWeight},
		{"no issued_at", alice, trust.Attestation{From: alice.DID(), To: bob.DID(), Weight: 1}, trust.ErrAttestation},
		{"bad to", alice, trust.Attestation{From: alice.DID(), To: "did:icn:x", Weight: 1, IssuedAt: 1}, trust.ErrAttestation},
	} {
		if _, err := trust.Sign(tc.k, tc.a); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v; want %v", tc.name, err, tc.want)
		}
	}
}
