package identity_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// FuzzParseDID: ParseDID never panics; success means the input is the
// canonical DID of a 32-byte key that CheckPublicKey passes; failure carries
// the invalid_did code. FuzzParseDIDKey fuzzes the key bytes themselves.
func FuzzParseDID(f *testing.F) {
	f.Add(vectorDID)
	f.Add("did:icn:11111111111111111111111111111111")
	f.Add("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
	f.Fuzz(func(t *testing.T, s string) {
		did, pub, err := identity.ParseDID(s)
		if err != nil {
			if c := identity.Code(err); c != "invalid_did" {
				t.Fatalf("ParseDID(%q): code %q for %v", s, c, err)
			}
			return
		}
		if len(pub) != 32 || string(did) != s {
			t.Fatalf("ParseDID(%q) = %q, %d-byte key", s, did, len(pub))
		}
		if got := identity.DIDFromKey(pub); got != did {
			t.Fatalf("DIDFromKey(pub) = %q, want %q", got, did)
		}
		if err := identity.CheckPublicKey(pub); err != nil {
			t.Fatalf("ParseDID(%q) accepted a refused key: %v", s, err)
		}
	})
}

// FuzzUnmarshalKey: UnmarshalKey never panics; an accepted key file is
// consistent and marshals back to a file that gives the same key.
func FuzzUnmarshalKey(f *testing.F) {
	k, err := identity.KeyFromSeed(vectorSeed())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(identity.MarshalKey(k))
	f.Add([]byte(`{"did":"","public_key":"","seed":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := identity.UnmarshalKey(data)
		if err != nil {
			if !errors.Is(err, identity.ErrKeyFile) || identity.Code(err) != "invalid_key_file" {
				t.Fatalf("UnmarshalKey: error %v is not ErrKeyFile", err)
			}
			return
		}
		if k.DID() != identity.DIDFromKey(k.Public()) || len(k.Seed()) != 32 {
			t.Fatalf("inconsistent key %v", k)
		}
		back, err := identity.UnmarshalKey(identity.MarshalKey(k))
		if err != nil || back.DID() != k.DID() || !bytes.Equal(back.Seed(), k.Seed()) {
			t.Fatalf("MarshalKey round trip: %v, %v", back, err)
		}
		sig := k.Sign(identity.TagDevice, data)
		if err := identity.VerifyDID(k.DID(), identity.TagDevice, data, sig); err != nil {
			t.Fatalf("accepted key cannot sign: %v", err)
		}
	})
}

// FuzzSignedJSON: Signed.UnmarshalJSON never panics; what it accepts
// re-marshals to the same fields.
func FuzzSignedJSON(f *testing.F) {
	k, err := identity.KeyFromSeed(vectorSeed())
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(identity.SignPayload(k, identity.TagPaymentIntent, []byte(`{"id":"x"}`)))
	f.Add(good)
	f.Add([]byte(`{"payload":"AA==","signer":"","signature":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s identity.Signed
		if err := s.UnmarshalJSON(data); err != nil {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("Marshal after Unmarshal: %v", err)
		}
		var back identity.Signed
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-Unmarshal %s: %v", b, err)
		}
		if !bytes.Equal(back.Payload, s.Payload) || back.Signer != s.Signer || !bytes.Equal(back.Signature, s.Signature) {
			t.Fatalf("round trip %+v != %+v", back, s)
		}
		_ = s.Verify(identity.TagPaymentIntent) // must not panic either
	})
}
