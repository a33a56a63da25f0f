package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"math/big"
	"testing"
)

// order is L, the order of the Ed25519 base point, little-endian.
var order = func() []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	return leBytes(l, 32)
}()

func leBytes(n *big.Int, size int) []byte {
	be := n.FillBytes(make([]byte, size))
	for i, j := 0, len(be)-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

func fromLE(b []byte) *big.Int {
	be := bytes.Clone(b)
	for i, j := 0, len(be)-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return new(big.Int).SetBytes(be)
}

// edgeKeys are public key encodings that verifiers are known to treat
// differently: the identity and other small-order points, and non-canonical
// encodings (y >= p).
var edgeKeys = [][]byte{
	append([]byte{1}, make([]byte, 31)...),       // identity
	append([]byte{0}, make([]byte, 31)...),       // y = 0: order 4
	bytes.Repeat([]byte{0xff}, 32),               // y = 2^255-1 >= p, sign bit set
	append(bytes.Repeat([]byte{0xff}, 31), 0x7f), // y = 2^255-1, not canonical
	func() []byte { // y = p + 1: the identity, not canonical
		b := bytes.Repeat([]byte{0xff}, 32)
		b[0], b[31] = 0xee, 0x7f
		return b
	}(),
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a}, // order 8
}

// mutate derives a signature case from a fuzz input: a real key and
// signature, then one change chosen by how.
func mutate(seed [32]byte, msg []byte, how, pos byte) (pub ed25519.PublicKey, m, sig []byte) {
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub = priv.Public().(ed25519.PublicKey)
	sig = ed25519.Sign(priv, msg)
	m = bytes.Clone(msg)
	switch how % 8 {
	case 1: // flip a bit of the signature
		sig[int(pos)%64] ^= 1 << (pos % 8)
	case 2: // flip a bit of the key
		pub = bytes.Clone(pub)
		pub[int(pos)%32] ^= 1 << (pos % 8)
	case 3: // change the message
		m = append(m, pos)
	case 4: // S + L: the same scalar, not reduced
		s := new(big.Int).Add(fromLE(sig[32:]), fromLE(order))
		if s.BitLen() <= 256 {
			copy(sig[32:], leBytes(s, 32))
		}
	case 5: // an edge-case key with R = that key and S = 0, which the
		// cofactorless equation accepts for some of them
		pub = bytes.Clone(edgeKeys[int(pos)%len(edgeKeys)])
		copy(sig, pub)
		clear(sig[32:])
	case 6: // an edge-case key with the real signature
		pub = bytes.Clone(edgeKeys[int(pos)%len(edgeKeys)])
	case 7: // an edge-case R with S chosen for k = H(R || A || M) and A small
		r := edgeKeys[int(pos)%len(edgeKeys)]
		copy(sig, r)
		h := sha512.Sum512(append(append(bytes.Clone(r), pub...), m...))
		binary.LittleEndian.PutUint64(sig[32:], binary.LittleEndian.Uint64(h[:]))
	}
	return pub, m, sig
}

// FuzzVerifyMatchesStdlib: the verifier accepts exactly what crypto/ed25519
// accepts under a key that CheckPublicKey passes, and nothing under one it
// refuses, with the key cached or not, for real signatures, tampered ones and
// the known edge cases (small-order and non-canonical keys and R, S >= L).
func FuzzVerifyMatchesStdlib(f *testing.F) {
	for how := range byte(8) {
		for pos := range byte(len(edgeKeys)) {
			f.Add([]byte("seed"), []byte("icn/v1/payment-intent\n{}"), how, pos)
		}
	}
	f.Fuzz(func(t *testing.T, seed, msg []byte, how, pos byte) {
		pub, m, sig := mutate(sha512.Sum512_256(seed), msg, how, pos)
		want := ed25519.Verify(pub, m, sig) && CheckPublicKey(pub) == nil
		for i := range 2 { // the second time the key may come from the cache
			if got := verifyEd25519(pub, m, sig); got != want {
				t.Fatalf("round %d: verifyEd25519 = %v, crypto/ed25519 = %v (pub %x sig %x)", i, got, want, pub, sig)
			}
		}
	})
}

// TestVerifyCachedKey: a cached key still rejects what it did not sign, and
// a key is cached only once it has verified a signature.
func TestVerifyCachedKey(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	k := [32]byte(pub)
	expanded.Remove(k)

	bad := bytes.Repeat([]byte{1}, 64)
	if verifyEd25519(pub, []byte("a"), bad) {
		t.Fatal("a forged signature verified")
	}
	if expanded.Contains(k) {
		t.Fatal("a key was cached after a failed verification")
	}
	if !verifyEd25519(pub, []byte("a"), ed25519.Sign(priv, []byte("a"))) {
		t.Fatal("a good signature failed")
	}
	if !expanded.Contains(k) {
		t.Fatal("the key was not cached after a good signature")
	}
	if verifyEd25519(pub, []byte("b"), ed25519.Sign(priv, []byte("a"))) {
		t.Fatal("a cached key verified a signature over another message")
	}
	if !verifyEd25519(pub, []byte("b"), ed25519.Sign(priv, []byte("b"))) {
		t.Fatal("a cached key failed a good signature")
	}
}

// BenchmarkVerify compares the verifier with crypto/ed25519 on one key.
func BenchmarkVerify(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	msg := bytes.Repeat([]byte("x"), 300)
	sig := ed25519.Sign(priv, msg)
	b.Run("icn", func(b *testing.B) {
		for b.Loop() {
			if !verifyEd25519(pub, msg, sig) {
				b.Fatal("verify failed")
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("verify failed")
			}
		}
	})
}

// TestSignMatchesStdlib: Key.Sign gives crypto/ed25519's signature to the
// byte, for many keys and message lengths.
func TestSignMatchesStdlib(t *testing.T) {
	for i := range 500 {
		seed := sha512.Sum512_256([]byte{byte(i), byte(i >> 8)})
		k, err := KeyFromSeed(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		payload := bytes.Repeat([]byte{byte(i)}, i)
		got := k.Sign(TagPaymentIntent, payload)
		want := ed25519.Sign(ed25519.NewKeyFromSeed(seed[:]), SigningInput(TagPaymentIntent, payload))
		if !bytes.Equal(got, want) {
			t.Fatalf("key %d, %d-byte payload: signature %x, crypto/ed25519 %x", i, i, got, want)
		}
	}
}

// BenchmarkSign compares Key.Sign with crypto/ed25519.
func BenchmarkSign(b *testing.B) {
	k, err := KeyFromSeed(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 300)
	b.Run("icn", func(b *testing.B) {
		for b.Loop() {
			k.Sign(TagPaymentIntent, payload)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		msg := SigningInput(TagPaymentIntent, payload)
		for b.Loop() {
			ed25519.Sign(k.priv, msg)
		}
	})
}
