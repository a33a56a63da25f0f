package governance

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
)

const badDID = "did:icn:0OIl"

// goodVote is a valid vote body in canonical form (voter: the test key "alice").
func goodVote(t *testing.T) string {
	return `{"coop":"coop-a","proposal":"p-1","voter":"` + string(key(t, "alice").DID()) +
		`","choice":"for","revision":1,"created_at":"2026-03-09T09:00:00Z"}`
}

func TestVoteEncodeIsCanonical(t *testing.T) {
	k := key(t, "alice")
	b := VoteBody{Coop: "coop-a", Proposal: "p-1", Voter: string(k.DID()), Choice: "for", Revision: 1, CreatedAt: "2026-03-09T09:00:00Z"}
	if got := string(b.Encode()); got != goodVote(t) {
		t.Fatalf("Encode:\n got %s\nwant %s", got, goodVote(t))
	}
	// HTML characters stay as they are: the bytes a wallet shows are the bytes signed.
	b.Coop = "a&b<c>"
	if got := string(b.Encode()); !strings.Contains(got, `"coop":"a&b<c>"`) {
		t.Fatalf("Encode escaped HTML: %s", got)
	}
}

func TestDecodeVote(t *testing.T) {
	good := goodVote(t)
	edit := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	for _, tc := range []struct {
		name, raw string
		ok        bool
	}{
		{"canonical", good, true},
		{"whitespace and other order", "{ \"revision\": 1, " + strings.TrimPrefix(edit(`,"revision":1`, ""), "{"), true},
		{"duplicate key", edit(`"choice":"for",`, `"choice":"for","choice":"against",`), false},
		{"duplicate by escape", edit(`"choice":"for",`, `"choice":"for","\u0063hoice":"against",`), false},
		{"key case", edit(`"choice"`, `"Choice"`), false},
		{"unknown key", edit(`"choice":"for",`, `"choice":"for","weight":9,`), false},
		{"missing key", edit(`,"revision":1`, ""), false},
		{"null", edit(`"for"`, `null`), false},
		{"revision fraction", edit(`"revision":1`, `"revision":1.0`), false},
		{"revision exponent", edit(`"revision":1`, `"revision":1e0`), false},
		{"revision negative", edit(`"revision":1`, `"revision":-1`), false},
		{"revision string", edit(`"revision":1`, `"revision":"1"`), false},
		{"revision overflow", edit(`"revision":1`, `"revision":4294967296`), false},
		{"not UTF-8", edit(`"coop-a"`, "\"co\xffop\""), false},
		{"lone surrogate", edit(`"coop-a"`, `"\ud800"`), false},
		{"byte order mark", "\ufeff" + good, false},
		{"trailing data", good + "{}", false},
		{"array", "[" + good + "]", false},
		{"too long", edit(`"coop-a"`, `"`+strings.Repeat("a", MaxVoteBytes)+`"`), false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeVote([]byte(tc.raw))
			if tc.ok {
				wantErr(t, err, nil)
			} else {
				wantErr(t, err, ErrInvalidVote)
			}
		})
	}
}

func TestCheckVote(t *testing.T) {
	k, mallory := key(t, "alice"), key(t, "mallory")
	good := goodVote(t)
	edit := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	sign := func(raw string) []byte { return k.Sign(identity.TagVote, []byte(raw)) }
	for _, tc := range []struct {
		name   string
		raw    string
		sig    []byte
		signer identity.DID
		want   error
	}{
		{"good", good, sign(good), k.DID(), nil},
		{"abstain", edit(`"for"`, `"abstain"`), sign(edit(`"for"`, `"abstain"`)), k.DID(), nil},
		{"unknown choice", edit(`"for"`, `"yes"`), sign(edit(`"for"`, `"yes"`)), k.DID(), ErrInvalidVote},
		{"choice case", edit(`"for"`, `"For"`), sign(edit(`"for"`, `"For"`)), k.DID(), ErrInvalidVote},
		{"revision zero", edit(`"revision":1`, `"revision":0`), sign(edit(`"revision":1`, `"revision":0`)), k.DID(), ErrInvalidVote},
		{"bad voter", edit(string(k.DID()), badDID), sign(edit(string(k.DID()), badDID)), k.DID(), ErrInvalidVote},
		{"bad proposal id", edit(`"p-1"`, `"p 1"`), sign(edit(`"p-1"`, `"p 1"`)), k.DID(), ErrInvalidVote},
		{"empty coop", edit(`"coop-a"`, `""`), sign(edit(`"coop-a"`, `""`)), k.DID(), ErrInvalidVote},
		{"coop control char", edit(`"coop-a"`, `"co\nop"`), sign(edit(`"coop-a"`, `"co\nop"`)), k.DID(), ErrInvalidVote},
		{"bad time", edit(`2026-03-09T09:00:00Z`, `2026-03-09`), sign(edit(`2026-03-09T09:00:00Z`, `2026-03-09`)), k.DID(), ErrInvalidVote},
		{"signed by another", good, mallory.Sign(identity.TagVote, []byte(good)), mallory.DID(), ErrWrongSigner},
		{"another's signature", good, mallory.Sign(identity.TagVote, []byte(good)), k.DID(), ErrBadSignature},
		{"payment-intent tag", good, k.Sign(identity.TagPaymentIntent, []byte(good)), k.DID(), ErrBadSignature},
		{"signature of other bytes", good, sign(edit(`"for"`, `"against"`)), k.DID(), ErrBadSignature},
		{"short signature", good, sign(good)[:10], k.DID(), ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := CheckVote([]byte(tc.raw), tc.sig, tc.signer)
			wantErr(t, err, tc.want)
			if tc.want == nil && (v.Voter != k.DID() || string(v.Payload) != tc.raw || v.Revision != 1) {
				t.Fatalf("checked vote %+v", v)
			}
		})
	}
}

func TestVoteCreated(t *testing.T) {
	v, err := SignVote(key(t, "alice"), VoteBody{Coop: coop, Proposal: "p", Voter: string(key(t, "alice").DID()),
		Choice: "against", Revision: 7, CreatedAt: "2026-03-09T10:00:00+01:00"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Created.Equal(time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)) || v.Choice != Against || v.Revision != 7 {
		t.Fatalf("vote %+v", v)
	}
}

func TestCode(t *testing.T) {
	_, err := DecodeVote([]byte("{"))
	if got := Code(err); got != "invalid_vote" {
		t.Fatalf("Code = %q", got)
	}
	if got := Code(ErrAlreadyVoted); got != "already_voted" {
		t.Fatalf("Code = %q", got)
	}
	if got := Code(identity.ErrBadSignature); got != "" {
		t.Fatalf("Code of a foreign error = %q", got)
	}
}

// TestVoteVector: the test vector in docs/governance.md (testdata) holds: the
// seed gives the DID, the canonical encoding gives the bytes, the signature
// is the one Ed25519 makes, and the vote checks.
func TestVoteVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/vote-vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Seed      string `json:"seed"`
		DID       string `json:"did"`
		Vote      string `json:"vote"`
		VoteB64   string `json:"vote_b64"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	seed, _ := identity.DecodeB64(vec.Seed)
	k, err := identity.KeyFromSeed(seed)
	if err != nil || string(k.DID()) != vec.DID {
		t.Fatalf("seed gives %v (%v), want %s", k, err, vec.DID)
	}
	body := VoteBody{Coop: "riverside", Proposal: "prop-2026-03-credit", Voter: vec.DID, Choice: "for", Revision: 1, CreatedAt: "2026-03-09T09:00:00Z"}
	if string(body.Encode()) != vec.Vote || identity.B64(body.Encode()) != vec.VoteB64 {
		t.Fatalf("canonical bytes %s differ from the vector's", body.Encode())
	}
	if got := identity.B64(k.Sign(identity.TagVote, body.Encode())); got != vec.Signature {
		t.Fatalf("signature %s, vector %s", got, vec.Signature)
	}
	sig, _ := identity.DecodeB64(vec.Signature)
	if _, err := CheckVote([]byte(vec.Vote), sig, k.DID()); err != nil {
		t.Fatal(err)
	}
}

// TestVoteEncodingVectors: the canonical encodings in the vector file are
// VoteBody.Encode's, byte for byte (icn.js's encodeVote is checked against
// the same file in coopnode/wallet's browser tests): U+2028 and U+2029
// escaped, <, > and & as they are, control characters as Go escapes them.
func TestVoteEncodingVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vote-vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Encodings []struct {
			Comment string   `json:"comment"`
			Vote    VoteBody `json:"vote"`
			Bytes   string   `json:"bytes_b64"`
		} `json:"encodings"`
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	if len(vec.Encodings) < 3 {
		t.Fatalf("%d encoding vectors", len(vec.Encodings))
	}
	for _, c := range vec.Encodings {
		if got := identity.B64(c.Vote.Encode()); got != c.Bytes {
			t.Errorf("%s: Encode gives %s (%s), the vector %s", c.Comment, got, c.Vote.Encode(), c.Bytes)
		}
	}
	if !bytes.Contains(mustDecode(t, vec.Encodings[2].Bytes), []byte(`x\u2028y\u2029z`)) {
		t.Error("the third vector does not hold the escaped line separators")
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := identity.DecodeB64(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
