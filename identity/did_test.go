package identity_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/icn-coop/icn/identity"
)

func TestParseDIDBad(t *testing.T) {
	t.Parallel()
	enc43 := base58.Encode(bytes.Repeat([]byte{1}, 32))    // a 32-byte key, 43 digits
	enc44 := base58.Encode(bytes.Repeat([]byte{0xff}, 32)) // a 32-byte key, 44 digits
	zeroLead := base58.Encode(append([]byte{0}, bytes.Repeat([]byte{0xff}, 31)...))
	sub := func(s string, i int, r string) string { return s[:i] + r + s[i+1:] }
	cases := []struct {
		name, in string
		kind     error
	}{
		{"did:key", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", identity.ErrDIDPrefix},
		{"empty", "", identity.ErrDIDPrefix},
		{"no colon", "did:icn", identity.ErrDIDPrefix},
		{"upper prefix", "DID:ICN:" + enc43, identity.ErrDIDPrefix},
		{"leading space", " did:icn:" + enc43, identity.ErrDIDPrefix},
		{"bare key", enc43, identity.ErrDIDPrefix},
		{"empty key", "did:icn:", identity.ErrBase58},
		{"zero digit", "did:icn:" + sub(enc43, 5, "0"), identity.ErrBase58},
		{"capital O", "did:icn:" + sub(enc43, 5, "O"), identity.ErrBase58},
		{"capital I", "did:icn:" + sub(enc43, 5, "I"), identity.ErrBase58},
		{"small l", "did:icn:" + sub(enc43, 5, "l"), identity.ErrBase58},
		{"0OIl", "did:icn:0OIl", identity.ErrBase58},
		{"trailing space", "did:icn:" + enc43 + " ", identity.ErrBase58},
		{"trailing newline", "did:icn:" + enc43 + "\n", identity.ErrBase58},
		{"non-ascii", "did:icn:" + "é" + enc43[2:], identity.ErrBase58},
		{"base64 chars", "did:icn:" + sub(enc43, 5, "+"), identity.ErrBase58},
		{"31 bytes", "did:icn:" + base58.Encode(bytes.Repeat([]byte{1}, 31)), identity.ErrKeyLength},
		{"33 bytes", "did:icn:" + base58.Encode(bytes.Repeat([]byte{1}, 33)), identity.ErrKeyLength},
		{"1 byte", "did:icn:2", identity.ErrKeyLength},
		{"non-canonical leading 1", "did:icn:1" + enc43, identity.ErrKeyLength},
		{"leading 1 dropped", "did:icn:" + zeroLead[1:], identity.ErrKeyLength},
		{"44 digits above 2^256", "did:icn:" + strings.Repeat("z", 44), identity.ErrKeyLength},
		{"overlong", "did:icn:" + enc44 + "2", identity.ErrKeyLength},
		{"very long", "did:icn:" + strings.Repeat("z", 100000), identity.ErrKeyLength},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			did, pub, err := identity.ParseDID(tc.in)
			wantErr(t, err, tc.kind, "invalid_did")
			if did != "" || pub != nil {
				t.Errorf("ParseDID(%q) returned %q, %x with an error", tc.in, did, pub)
			}
			if _, err := identity.DID(tc.in).PublicKey(); err == nil {
				t.Errorf("DID(%q).PublicKey() succeeded", tc.in)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error message not bounded: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestDIDRoundTrip(t *testing.T) {
	t.Parallel()
	// Real keys whose encodings stress base58 (leading zero bytes are
	// leading '1' digits; ff ff… needs 44 digits), from seeds found by
	// search: 00…00 and ff…ff themselves are refused as keys (a small-order
	// point, a non-canonical encoding).
	fromSeed := func(n uint64, prefix string) ed25519.PublicKey {
		seed := make([]byte, ed25519.SeedSize)
		binary.LittleEndian.PutUint64(seed, n)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if hex.EncodeToString(pub[:2]) != prefix {
			t.Fatalf("seed %d: key %x, want prefix %s", n, pub, prefix)
		}
		return pub
	}
	keys := map[string]ed25519.PublicKey{
		"ff ff":        fromSeed(378377, "ffff"),
		"leading zero": fromSeed(48289, "00ff"),
		"two zeros":    fromSeed(74884, "0000"),
		"vector":       ed25519.NewKeyFromSeed(vectorSeed()).Public().(ed25519.PublicKey),
	}
	for i := range 50 {
		keys["random"+string(rune('A'+i))] = randKey(t, uint64(i)).Public()
	}
	for name, pub := range keys {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			did := identity.DIDFromKey(pub)
			if !strings.HasPrefix(string(did), identity.DIDPrefix) {
				t.Fatalf("DIDFromKey = %q", did)
			}
			got, gotPub, err := identity.ParseDID(string(did))
			if err != nil || got != did || !bytes.Equal(gotPub, pub) {
				t.Fatalf("ParseDID(%q) = %q, %x, %v; want %x", did, got, gotPub, err, pub)
			}
			if p, err := did.PublicKey(); err != nil || !bytes.Equal(p, pub) {
				t.Errorf("PublicKey() = %x, %v", p, err)
			}
		})
	}
}

func TestDIDShort(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"did:icn:9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj", "did:icn:9C6hyb…Jtpj"},
		{"did:icn:123456789012", "did:icn:123456789012"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := identity.DID(tc.in).Short(); got != tc.want {
			t.Errorf("Short(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
