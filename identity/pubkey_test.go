package identity

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/mr-tron/base58"
	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"

	"github.com/icn-coop/icn/internal/testutil"
)

// forgeryMsgs are two different payloads; a universal forgery verifies both.
var forgeryMsgs = [][]byte{[]byte("pay 1 hour to alice"), []byte("pay 1000 hours to mallory")}

// smallOrderR are the canonical encodings of the eight small-order points:
// with S = 0, the signature R || 0 verifies under a small-order key A with
// crypto/ed25519 whenever R = -[k]A, and -[k]A is always one of them.
func smallOrderR(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, w := range testutil.WeakKeys {
		if w.SmallOrder && w.Canonical {
			out = append(out, w.Bytes())
		}
	}
	if len(out) != 8 {
		t.Fatalf("%d canonical small-order points, want 8", len(out))
	}
	return out
}

// forgeries returns the fixed signatures that are known to verify under
// small-order keys: R = each small-order point (the identity first), and
// R = the key itself, all with S = 0.
func forgeries(t testing.TB, pub []byte) [][]byte {
	var sigs [][]byte
	for _, r := range append(smallOrderR(t), pub) {
		sigs = append(sigs, append(bytes.Clone(r), make([]byte, 32)...))
	}
	return sigs
}

// forge returns a signature of msg under the small-order key pub that
// crypto/ed25519 accepts, made without a secret: R = [s]B + T, S = s for a
// small-order point T, which verifies when T = -[k]A, k = H(R || A || msg),
// about one try in eight. It returns nil if no try of s < 256 works.
func forge(t testing.TB, pub, msg []byte) []byte {
	t.Helper()
	var ts []*curve.EdwardsPoint
	for _, r := range smallOrderR(t) {
		p, _ := decode(r)
		ts = append(ts, p)
	}
	for s := uint64(1); s < 256; s++ {
		var sc scalar.Scalar
		sc.SetUint64(s)
		var sB curve.EdwardsPoint
		sB.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &sc)
		for _, tp := range ts {
			var r curve.EdwardsPoint
			r.Add(&sB, tp)
			sig := make([]byte, 64)
			copy(sig, encode(&r))
			_ = sc.ToBytes(sig[32:])
			if ed25519.Verify(pub, msg, sig) {
				return sig
			}
		}
	}
	return nil
}

// decode decompresses b with curve25519-voi, which (like crypto/ed25519)
// accepts non-canonical encodings.
func decode(b []byte) (*curve.EdwardsPoint, bool) {
	var c curve.CompressedEdwardsY
	if _, err := c.SetBytes(b); err != nil {
		return nil, false
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		return nil, false
	}
	return &p, true
}

func encode(p *curve.EdwardsPoint) []byte {
	var c curve.CompressedEdwardsY
	c.SetEdwardsPoint(p)
	return c[:]
}

// TestWeakKeyVectors: every small-order point, in its canonical and its
// non-canonical encodings, and the non-canonical encodings of other points,
// are refused by CheckPublicKey, ParseDID, the verifier, key files and
// certificates; and the vectors are what they claim (checked with
// curve25519-voi), the small-order ones really forgeable with crypto/ed25519.
func TestWeakKeyVectors(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, w := range testutil.WeakKeys {
		t.Run(w.Name, func(t *testing.T) {
			t.Parallel()
			b := w.Bytes()
			p, ok := decode(b)
			if w.SmallOrder && (!ok || !p.IsSmallOrder()) {
				t.Fatalf("vector claims small order: decodes %v", ok)
			}
			if ok && !w.SmallOrder && p.IsSmallOrder() {
				t.Fatal("vector is of small order but not marked so")
			}
			if ok && bytes.Equal(encode(p), b) != w.Canonical {
				t.Fatalf("canonical = %v, but re-encodes to %x", w.Canonical, encode(p))
			}

			wantErr := func(what string, err error, code string) {
				t.Helper()
				if !errors.Is(err, ErrWeakKey) {
					t.Errorf("%s: error %v, want ErrWeakKey", what, err)
				}
				if got := Code(err); got != code {
					t.Errorf("%s: code %q, want %q", what, got, code)
				}
			}
			wantErr("CheckPublicKey", CheckPublicKey(b), "invalid_did")
			did := DIDFromKey(b)
			d, pub, err := ParseDID(string(did))
			wantErr("ParseDID", err, "invalid_did")
			if d != "" || pub != nil {
				t.Errorf("ParseDID returned %q, %x with its error", d, pub)
			}

			// Key files: a weak did or public_key is named as such.
			k := randKey(t, 1)
			for _, kf := range []KeyFile{
				{DID: did, PublicKey: B64(k.Public()), Seed: B64(k.Seed())},
				{DID: k.DID(), PublicKey: B64(b), Seed: B64(k.Seed())},
			} {
				data, _ := json.Marshal(kf)
				got, err := UnmarshalKey(data)
				wantErr("UnmarshalKey", err, "invalid_key_file")
				if got != nil || !errors.Is(err, ErrKeyFile) {
					t.Errorf("UnmarshalKey(%s) = %v, %v", data, got, err)
				}
			}

			// The forgeries: under a small-order key crypto/ed25519 accepts
			// a signature made without any secret for every message; the
			// verifier accepts none, twice (the second time a key might
			// come from the cache).
			for _, m := range forgeryMsgs {
				sigs := forgeries(t, b)
				if w.SmallOrder {
					sig := forge(t, b, SigningInput(TagPaymentIntent, m))
					if sig == nil {
						t.Fatalf("no forgery found for %q: the vector proves nothing", m)
					}
					sigs = append(sigs, sig)
				}
				for _, sig := range sigs {
					for range 2 {
						if err := Verify(b, TagPaymentIntent, m, sig); err == nil {
							t.Fatalf("forged signature %x verifies for %q", sig, m)
						}
					}
					if err := VerifyDID(did, TagPaymentIntent, m, sig); !errors.Is(err, ErrWeakKey) {
						t.Fatalf("VerifyDID: %v, want ErrWeakKey", err)
					}
				}
			}
		})
		if w.SmallOrder && w.Canonical {
			seen[w.Hex] = true
		}
	}
	if len(seen) != 8 {
		t.Errorf("%d distinct canonical small-order points, want 8", len(seen))
	}
}

// TestIdentityPointDID: the shared constant is the identity point's DID,
// under which one signature verifies for every message with crypto/ed25519.
func TestIdentityPointDID(t *testing.T) {
	t.Parallel()
	id := testutil.WeakKeys[0].Bytes()
	if got := DIDFromKey(id); got != testutil.IdentityPointDID {
		t.Fatalf("DIDFromKey(identity) = %s, want %s", got, testutil.IdentityPointDID)
	}
	sig := append(bytes.Clone(id), make([]byte, 32)...)
	for _, m := range forgeryMsgs {
		if !ed25519.Verify(id, SigningInput(TagAuthChallenge, m), sig) {
			t.Fatalf("R = identity, S = 0 does not verify %q under the identity point", m)
		}
	}
}

// edgeCandidates are 32-byte strings near the edges of the encoding: every
// y below 64 and above p - 64 (up to 2^255 - 1) with either sign bit, the
// weak vectors, real keys and random bytes.
func edgeCandidates(t testing.TB) [][]byte {
	var out [][]byte
	for y := range 64 {
		for _, sign := range []byte{0, 0x80} {
			lo := make([]byte, 32)
			lo[0], lo[31] = byte(y), sign
			hi := bytes.Repeat([]byte{0xff}, 32)
			hi[0], hi[31] = 0xff-byte(y), 0x7f|sign // 2^255 - 1 - y
			out = append(out, lo, hi)
		}
	}
	for _, w := range testutil.WeakKeys {
		out = append(out, w.Bytes())
	}
	r := mrand.NewChaCha8([32]byte{'k', 'e', 'y', 's'})
	for i := range 100 {
		out = append(out, randKey(t, uint64(i)).Public())
		b := make([]byte, 32)
		_, _ = io.ReadFull(r, b)
		out = append(out, b)
	}
	return out
}

// TestAcceptedKeysUnforgeable is the differential test: whatever ParseDID
// accepts is canonical, of large order, and a key under which none of the
// fixed forgeries verifies, neither with the verifier nor with
// crypto/ed25519, for two different messages.
func TestAcceptedKeysUnforgeable(t *testing.T) {
	t.Parallel()
	accepted := 0
	for _, b := range edgeCandidates(t) {
		_, pub, err := ParseDID(string(DIDFromKey(b)))
		if err != nil {
			continue
		}
		accepted++
		checkAccepted(t, pub)
	}
	if accepted < 150 { // the 100 real keys, and about half the rest
		t.Fatalf("only %d candidates accepted: the test checks little", accepted)
	}
}

// checkAccepted fails the test unless pub, accepted by ParseDID, is a
// canonical encoding of a point of large order under which no fixed
// forgery verifies.
func checkAccepted(t testing.TB, pub []byte) {
	t.Helper()
	p, ok := decode(pub)
	if !ok {
		t.Fatalf("accepted %x does not decode", pub)
	}
	if !bytes.Equal(encode(p), pub) {
		t.Fatalf("accepted %x re-encodes to %x", pub, encode(p))
	}
	if p.IsSmallOrder() {
		t.Fatalf("accepted %x is of small order", pub)
	}
	for _, m := range forgeryMsgs {
		for _, sig := range forgeries(t, pub) {
			if ed25519.Verify(pub, SigningInput(TagPaymentIntent, m), sig) {
				t.Fatalf("forgery %x verifies under accepted %x with crypto/ed25519", sig, pub)
			}
			if err := Verify(pub, TagPaymentIntent, m, sig); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("forgery %x under accepted %x: %v", sig, pub, err)
			}
		}
	}
}

// FuzzParseDIDKey: for any bytes as a key, ParseDID of its DID either
// refuses it with invalid_did or accepts a canonical encoding (the same DID
// back) of a point of large order that no fixed forgery fools.
func FuzzParseDIDKey(f *testing.F) {
	for _, b := range edgeCandidates(f)[:300] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := DIDPrefix + base58.Encode(b)
		did, pub, err := ParseDID(s)
		if err != nil {
			if Code(err) != "invalid_did" {
				t.Fatalf("ParseDID(%q): code %q for %v", s, Code(err), err)
			}
			if len(b) == ed25519.PublicKeySize && CheckPublicKey(b) == nil {
				t.Fatalf("ParseDID(%q) refused a sound key: %v", s, err)
			}
			return
		}
		if string(did) != s || DIDFromKey(pub) != did || !bytes.Equal(pub, b) {
			t.Fatalf("ParseDID(%q) = %q, %x", s, did, pub)
		}
		checkAccepted(t, pub)
	})
}

// forgingSigner is a crypto.Signer for the identity point, whose
// "signature" R = identity, S = 0 verifies for every message.
type forgingSigner struct{ pub ed25519.PublicKey }

func (s forgingSigner) Public() crypto.PublicKey { return s.pub }
func (s forgingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return append(bytes.Clone(s.pub), make([]byte, 32)...), nil
}

// TestCertDIDRefusesSmallOrderKey: a "self-signed" certificate over the
// identity point (its signature forged) gives no DID.
func TestCertDIDRefusesSmallOrderKey(t *testing.T) {
	t.Parallel()
	id := ed25519.PublicKey(testutil.WeakKeys[0].Bytes())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testutil.IdentityPointDID},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id, forgingSigner{id})
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Fatalf("the forged self-signature does not verify (%v): the test proves nothing", err)
	}
	did, err := CertDID([][]byte{der})
	if !errors.Is(err, ErrPeer) || !errors.Is(err, ErrWeakKey) || did != "" {
		t.Fatalf("CertDID = %q, %v; want ErrPeer and ErrWeakKey", did, err)
	}
}

// randKey returns a key generated from a seeded (deterministic) stream.
func randKey(t testing.TB, seed uint64) *Key {
	t.Helper()
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	k, err := GenerateKey(mrand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCheckPublicKeyCache: the memo of accepted keys changes no verdict: a
// good key passes again from the cache, and a refused key is never kept.
func TestCheckPublicKeyCache(t *testing.T) {
	k, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := [32]byte(k.Public())
	for i := 0; i < 2; i++ {
		if err := CheckPublicKey(pub[:]); err != nil {
			t.Fatalf("check %d of a generated key: %v", i, err)
		}
	}
	if !checked.Contains(pub) {
		t.Fatal("an accepted key is not remembered")
	}
	weak := make([]byte, 32)
	weak[0] = 1 // the identity point
	for i := 0; i < 2; i++ {
		if err := CheckPublicKey(weak); !errors.Is(err, ErrWeakKey) {
			t.Fatalf("check %d of the identity point: %v", i, err)
		}
	}
	if checked.Contains([32]byte(weak)) {
		t.Fatal("a refused key is remembered")
	}
}
