package identity_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/icn-coop/icn/identity"
)

var allTags = []identity.Tag{
	identity.TagAuthChallenge, identity.TagPaymentIntent, identity.TagMembershipApplication,
	identity.TagDevice, identity.TagKeyRotation, identity.TagEmergencyRevoke,
	identity.TagCredential, identity.TagReport,
}

// TestTagsFixedByAPI pins the four tags API.md fixes for outside clients.
func TestTagsFixedByAPI(t *testing.T) {
	t.Parallel()
	fixed := map[identity.Tag]string{
		identity.TagAuthChallenge:         "icn/v1/auth-challenge",
		identity.TagPaymentIntent:         "icn/v1/payment-intent",
		identity.TagMembershipApplication: "icn/v1/membership-application",
		identity.TagDevice:                "icn/v1/device",
	}
	for tag, want := range fixed {
		if string(tag) != want {
			t.Errorf("tag %q, want %q", tag, want)
		}
	}
}

// The fixed test vector: seed 0x01..0x20, tag icn/v1/payment-intent, payload {"id":"x"}.
const (
	vectorDID = "did:icn:9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj"
	vectorPub = "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ"
	vectorSig = "VVBsaqgP8PDaYRvncLtpZLrmHASHUfFTKndALGPECjn83usOZANgztAlogNttPLCZG1K1A3afJ8Ra9t9LVvFAg"
)

func TestSignatureVector(t *testing.T) {
	t.Parallel()
	k, err := identity.KeyFromSeed(vectorSeed())
	if err != nil {
		t.Fatal(err)
	}
	if k.DID() != vectorDID {
		t.Errorf("DID = %q, want %q", k.DID(), vectorDID)
	}
	if got := identity.B64(k.Public()); got != vectorPub {
		t.Errorf("public key = %q, want %q", got, vectorPub)
	}
	payload := []byte(`{"id":"x"}`)
	sig := k.Sign(identity.TagPaymentIntent, payload)
	if got := identity.B64(sig); got != vectorSig {
		t.Errorf("signature = %q, want %q", got, vectorSig)
	}
	priv := ed25519.NewKeyFromSeed(vectorSeed())
	if want := ed25519.Sign(priv, []byte("icn/v1/payment-intent\n{\"id\":\"x\"}")); !bytes.Equal(sig, want) {
		t.Errorf("signature is not Ed25519 over TAG 0x0A PAYLOAD")
	}
	if got := identity.SigningInput(identity.TagPaymentIntent, payload); string(got) != "icn/v1/payment-intent\n{\"id\":\"x\"}" {
		t.Errorf("SigningInput = %q", got)
	}
	raw, _ := identity.DecodeB64(vectorSig)
	if err := identity.VerifyDID(vectorDID, identity.TagPaymentIntent, payload, raw); err != nil {
		t.Errorf("vector does not verify: %v", err)
	}
	if !bytes.Equal(k.PrivateKey(), priv) || !bytes.Equal(k.Seed(), vectorSeed()) {
		t.Errorf("PrivateKey/Seed do not match the seed")
	}
	if s := k.String(); strings.Contains(s, identity.B64(k.Seed())) || s != "Key("+vectorDID+")" {
		t.Errorf("String() = %q", s)
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	k, other := testKey(t, 1), testKey(t, 2)
	payload := []byte(`{"id":"01J","amount":"2.50"}`)
	sig := k.Sign(identity.TagPaymentIntent, payload)
	flipped := bytes.Clone(sig)
	flipped[10] ^= 1
	cases := []struct {
		name    string
		pub     ed25519.PublicKey
		tag     identity.Tag
		payload []byte
		sig     []byte
		kind    error // nil: verifies
		code    string
	}{
		{"ok", k.Public(), identity.TagPaymentIntent, payload, sig, nil, ""},
		{"wrong tag", k.Public(), identity.TagDevice, payload, sig, identity.ErrBadSignature, "invalid_signature"},
		{"wrong tag report", k.Public(), identity.TagReport, payload, sig, identity.ErrBadSignature, "invalid_signature"},
		{"unknown tag", k.Public(), "icn/v1/other", payload, sig, identity.ErrBadTag, "invalid_signature"},
		{"empty tag", k.Public(), "", payload, sig, identity.ErrBadTag, "invalid_signature"},
		{"tag case", k.Public(), "ICN/v1/payment-intent", payload, sig, identity.ErrBadTag, "invalid_signature"},
		{"tampered payload", k.Public(), identity.TagPaymentIntent, []byte(`{"id":"01J","amount":"25.0"}`), sig, identity.ErrBadSignature, "invalid_signature"},
		{"payload suffix", k.Public(), identity.TagPaymentIntent, append(bytes.Clone(payload), ' '), sig, identity.ErrBadSignature, "invalid_signature"},
		{"empty payload", k.Public(), identity.TagPaymentIntent, nil, sig, identity.ErrBadSignature, "invalid_signature"},
		{"tampered signature", k.Public(), identity.TagPaymentIntent, payload, flipped, identity.ErrBadSignature, "invalid_signature"},
		{"wrong key", other.Public(), identity.TagPaymentIntent, payload, sig, identity.ErrBadSignature, "invalid_signature"},
		{"short signature", k.Public(), identity.TagPaymentIntent, payload, sig[:63], identity.ErrSigLength, "invalid_signature"},
		{"long signature", k.Public(), identity.TagPaymentIntent, payload, append(bytes.Clone(sig), 0), identity.ErrSigLength, "invalid_signature"},
		{"no signature", k.Public(), identity.TagPaymentIntent, payload, nil, identity.ErrSigLength, "invalid_signature"},
		{"short key", k.Public()[:31], identity.TagPaymentIntent, payload, sig, identity.ErrKeyLength, "invalid_did"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := identity.Verify(tc.pub, tc.tag, tc.payload, tc.sig)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantErr(t, err, tc.kind, tc.code)
		})
	}
}

// TestEveryTagSeparate: a signature made for one tag verifies for that tag only.
func TestEveryTagSeparate(t *testing.T) {
	t.Parallel()
	k := testKey(t, 3)
	payload := []byte("same bytes")
	for _, signed := range allTags {
		sig := k.Sign(signed, payload)
		for _, checked := range allTags {
			err := identity.VerifyDID(k.DID(), checked, payload, sig)
			if (err == nil) != (signed == checked) {
				t.Errorf("signed for %s, verify for %s: %v", signed, checked, err)
			}
		}
	}
}

func TestVerifyDIDBadDID(t *testing.T) {
	t.Parallel()
	k := testKey(t, 1)
	sig := k.Sign(identity.TagDevice, []byte("x"))
	err := identity.VerifyDID("did:key:abc", identity.TagDevice, []byte("x"), sig)
	wantErr(t, err, identity.ErrDIDPrefix, "invalid_did")
	err = identity.VerifyDID(testKey(t, 2).DID(), identity.TagDevice, []byte("x"), sig)
	wantErr(t, err, identity.ErrBadSignature, "invalid_signature")
}

func TestAuthChallengePayload(t *testing.T) {
	t.Parallel()
	nonce := []byte{0x00, 0x0a, 0xff, 'a'}
	got := identity.AuthChallengePayload("coop-a", nonce)
	if want := []byte("coop-a\n\x00\x0a\xffa"); !bytes.Equal(got, want) {
		t.Fatalf("AuthChallengePayload = %q, want %q", got, want)
	}
	if got := identity.AuthChallengePayload("", nil); !bytes.Equal(got, []byte("\n")) {
		t.Errorf("empty payload = %q", got)
	}
	k := testKey(t, 4)
	sig := k.Sign(identity.TagAuthChallenge, got)
	if want := ed25519.Sign(k.PrivateKey(), []byte("icn/v1/auth-challenge\ncoop-a\n\x00\x0a\xffa")); !bytes.Equal(sig, want) {
		t.Errorf("login signature layout differs from API.md")
	}
	if err := identity.Verify(k.Public(), identity.TagAuthChallenge, got, sig); err != nil {
		t.Errorf("login signature: %v", err)
	}
	relayed := identity.AuthChallengePayload("coop-b", nonce)
	if err := identity.Verify(k.Public(), identity.TagAuthChallenge, relayed, sig); !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("login for coop-a verified for coop-b: %v", err)
	}
}

func TestKeyFromSeed(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 31, 33, 64} {
		_, err := identity.KeyFromSeed(make([]byte, n))
		wantErr(t, err, identity.ErrKeyLength, "invalid_did")
	}
	if _, err := identity.GenerateKey(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Errorf("GenerateKey from a short reader succeeded")
	}
	a, b := randKey(t, 1), randKey(t, 2)
	if a.DID() == b.DID() {
		t.Errorf("different seeds gave the same key")
	}
	if a.DID() != identity.DIDFromKey(a.Public()) {
		t.Errorf("DID does not match the public key")
	}
}

func TestDecodeB64(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []byte // nil: rejected
	}{
		{"", []byte{}},
		{"AA", []byte{0}},
		{"-_8", []byte{0xfb, 0xff}},
		{"AAAA", []byte{0, 0, 0}},
		{"AA==", nil},       // padding
		{"AA=", nil},        // padding
		{"+_8", nil},        // standard alphabet
		{"-/8", nil},        // standard alphabet
		{"+/8=", nil},       // standard, padded
		{"AB", nil},         // non-zero trailing bits
		{"A", nil},          // impossible length
		{"AA AA", nil},      // space
		{"AA\nAA", nil},     // newline
		{"AAAA\r\n", nil},   // CRLF
		{"AA\x00", nil},     // NUL
		{"QUJD\u00e9", nil}, // non-ASCII
		{"aGVsbG8", []byte("hello")},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := identity.DecodeB64(tc.in)
			if tc.want == nil {
				wantErr(t, err, identity.ErrEncoding, "invalid_encoding")
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("DecodeB64(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
			}
			if identity.B64(got) != tc.in {
				t.Errorf("B64(DecodeB64(%q)) = %q", tc.in, identity.B64(got))
			}
		})
	}
}

func TestSignedJSON(t *testing.T) {
	t.Parallel()
	k := testKey(t, 5)
	payload := []byte("{\"id\":\"p1\"}\n\xff\xfe>?")
	s := identity.SignPayload(k, identity.TagPaymentIntent, payload)
	if err := s.Verify(identity.TagPaymentIntent); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]string
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"payload":   identity.B64(payload),
		"signer":    string(k.DID()),
		"signature": identity.B64(s.Signature),
	}
	if len(fields) != len(want) {
		t.Errorf("fields %v, want exactly payload/signer/signature", fields)
	}
	for name, v := range want {
		if fields[name] != v {
			t.Errorf("%s = %q, want %q", name, fields[name], v)
		}
		if strings.ContainsAny(fields[name], "+/=") {
			t.Errorf("%s is not base64url without padding: %q", name, fields[name])
		}
	}
	var back identity.Signed
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Payload, payload) || back.Signer != k.DID() || !bytes.Equal(back.Signature, s.Signature) {
		t.Errorf("round trip = %+v, want %+v", back, s)
	}
	if err := back.Verify(identity.TagPaymentIntent); err != nil {
		t.Errorf("Verify after round trip: %v", err)
	}
	if err := back.Verify(identity.TagDevice); !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("Verify for another tag: %v", err)
	}
}

func TestSignedJSONBad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		kind     error // nil: any error
	}{
		{"not json", `nope`, nil},
		{"array", `[]`, nil},
		{"number payload", `{"payload":1,"signer":"","signature":""}`, nil},
		{"padded payload", `{"payload":"AA==","signer":"","signature":""}`, identity.ErrEncoding},
		{"std payload", `{"payload":"+/8","signer":"","signature":""}`, identity.ErrEncoding},
		{"padded signature", `{"payload":"AA","signer":"","signature":"AA=="}`, identity.ErrEncoding},
		{"newline signature", `{"payload":"AA","signer":"","signature":"AA\nAA"}`, identity.ErrEncoding},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s identity.Signed
			err := json.Unmarshal([]byte(tc.in), &s)
			if err == nil {
				t.Fatalf("Unmarshal(%s) succeeded: %+v", tc.in, s)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %v, want %v", err, tc.kind)
			}
		})
	}
}
