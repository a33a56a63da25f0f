package testutil

import "encoding/hex"

// WeakKey is a 32-byte Ed25519 public key encoding that must be refused.
type WeakKey struct {
	Name string
	// SmallOrder: the point's order divides 8, so that fixed signatures
	// verify under it (with the cofactorless equation of crypto/ed25519).
	SmallOrder bool
	// Canonical: the encoding is the point's canonical one (RFC 8032
	// §5.1.2); the others are refused by RFC 8032 §5.1.3 decoding.
	Canonical bool
	Hex       string
}

// Bytes returns the key's 32 bytes.
func (k WeakKey) Bytes() []byte {
	b, err := hex.DecodeString(k.Hex)
	if err != nil || len(b) != 32 {
		panic("testutil: bad weak key " + k.Name)
	}
	return b
}

// WeakKeys are the small-order points of edwards25519 in their canonical
// encodings, the non-canonical encodings of small-order points, and
// non-canonical encodings of other points, as listed in "Taming the many
// EdDSAs" (Chalkias, Garillot, Nikolaenko, 2020) and libsodium's blocklist.
// identity's tests check every claim made here with curve25519-voi.
var WeakKeys = []WeakKey{
	// The eight points of small order, canonical.
	{"identity (order 1)", true, true, "0100000000000000000000000000000000000000000000000000000000000000"},
	{"(0, -1) (order 2)", true, true, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"(sqrt(-1), 0) (order 4), all zero", true, true, "0000000000000000000000000000000000000000000000000000000000000000"},
	{"(-sqrt(-1), 0) (order 4)", true, true, "0000000000000000000000000000000000000000000000000000000000000080"},
	{"order 8, a", true, true, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"},
	{"order 8, -a", true, true, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"},
	{"order 8, b", true, true, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"},
	{"order 8, -b", true, true, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"},
	// Non-canonical encodings of small-order points.
	{"identity, sign bit set (x = 0)", true, false, "0100000000000000000000000000000000000000000000000000000000000080"},
	{"(0, -1), sign bit set (x = 0)", true, false, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"identity as y = p + 1", true, false, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"identity as y = p + 1, sign bit set", true, false, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"(sqrt(-1), 0) as y = p", true, false, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"(-sqrt(-1), 0) as y = p", true, false, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	// Non-canonical encodings (y >= p) of points of large order or of no point.
	{"y = p + 2", false, false, "efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"y = p + 3, sign bit set", false, false, "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"y = 2^255 - 1", false, false, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"y = 2^255 - 1, sign bit set, all ones", false, false, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
}

// IdentityPointDID is the DID of the identity point 01 00…00, under which
// R = 01 00…00, S = 0 is a valid crypto/ed25519 signature of every message.
const IdentityPointDID = "did:icn:4uQeVj5tqViQh7yWWGStvkEG1Zmhx6uasJtWCJziofM"
