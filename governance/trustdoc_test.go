package governance

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/icn-coop/icn/identity"
)

func TestTrustDocs(t *testing.T) {
	ann, bob, neu := key(t, "ann"), key(t, "bob"), key(t, "new")
	at := t0.Format("2006-01-02T15:04:05Z07:00")
	v := VouchBody{Coop: coop, Voucher: string(bob.DID()), Vouchee: string(ann.DID()), CreatedAt: at}.Encode()
	d, err := CheckVouch(v, bob.Sign(identity.TagVouch, v))
	if err != nil || d.Author != bob.DID() || d.Subject != ann.DID() || d.Coop != coop || !d.Created.Equal(t0) {
		t.Fatalf("vouch: %+v %v", d, err)
	}
	// A vouch signature is no other document's, and the other way round.
	for _, tag := range []identity.Tag{identity.TagVote, identity.TagVoucherRevoke, identity.TagRecovery, identity.TagPaymentIntent} {
		if _, err := CheckVouch(v, bob.Sign(tag, v)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("vouch signed under %s: %v", tag, err)
		}
	}
	if _, err := CheckVouch(v, ann.Sign(identity.TagVouch, v)); Code(err) != "bad_signature" {
		t.Fatalf("vouch signed by the vouchee: %v", err)
	}
	self := VouchBody{Coop: coop, Voucher: string(ann.DID()), Vouchee: string(ann.DID()), CreatedAt: at}.Encode()
	if _, err := CheckVouch(self, ann.Sign(identity.TagVouch, self)); Code(err) != "self_vouch" {
		t.Fatalf("self vouch: %v", err)
	}
	rv := VoucherRevokeBody{Coop: coop, Voucher: string(bob.DID()), Member: string(ann.DID()), CreatedAt: at}.Encode()
	if d, err := CheckVoucherRevoke(rv, bob.Sign(identity.TagVoucherRevoke, rv)); err != nil || d.Subject != ann.DID() {
		t.Fatalf("voucher revoke: %+v %v", d, err)
	}
	if _, err := CheckVoucherRevoke(rv, bob.Sign(identity.TagEmergencyRevoke, rv)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("voucher revoke under the member's own tag: %v", err)
	}
	rc := RecoveryBody{Coop: coop, Recovery: "rec-1", Old: string(ann.DID()), New: string(neu.DID()), Steward: string(bob.DID()), CreatedAt: at}.Encode()
	if d, err := CheckRecovery(rc, bob.Sign(identity.TagRecovery, rc)); err != nil || d.Subject != ann.DID() || d.New != neu.DID() || d.Recovery != "rec-1" {
		t.Fatalf("recovery: %+v %v", d, err)
	}
	for name, b := range map[string]RecoveryBody{
		"same DIDs":     {Coop: coop, Recovery: "r", Old: string(ann.DID()), New: string(ann.DID()), Steward: string(bob.DID()), CreatedAt: at},
		"old signs":     {Coop: coop, Recovery: "r", Old: string(ann.DID()), New: string(neu.DID()), Steward: string(ann.DID()), CreatedAt: at},
		"new signs":     {Coop: coop, Recovery: "r", Old: string(ann.DID()), New: string(neu.DID()), Steward: string(neu.DID()), CreatedAt: at},
		"bad id":        {Coop: coop, Recovery: "r/1", Old: string(ann.DID()), New: string(neu.DID()), Steward: string(bob.DID()), CreatedAt: at},
		"bad time":      {Coop: coop, Recovery: "r", Old: string(ann.DID()), New: string(neu.DID()), Steward: string(bob.DID()), CreatedAt: "yesterday"},
		"bad new":       {Coop: coop, Recovery: "r", Old: string(ann.DID()), New: "did:icn:x", Steward: string(bob.DID()), CreatedAt: at},
		"no coop":       {Recovery: "r", Old: string(ann.DID()), New: string(neu.DID()), Steward: string(bob.DID()), CreatedAt: at},
		"bidi coop":     {Coop: "co\u202eop", Recovery: "r", Old: string(ann.DID()), New: string(neu.DID()), Steward: string(bob.DID()), CreatedAt: at},
		"bad old field": {Coop: coop, Recovery: "r", Old: "ann", New: string(neu.DID()), Steward: string(bob.DID()), CreatedAt: at},
	} {
		raw := b.Encode()
		if _, err := CheckRecovery(raw, bob.Sign(identity.TagRecovery, raw)); Code(err) != "invalid_recovery" {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, raw := range map[string]string{
		"repeat":   strings.Replace(string(v), `"coop":"coop-a",`, `"coop":"coop-a","coop":"coop-b",`, 1),
		"case":     strings.Replace(string(v), `"voucher"`, `"Voucher"`, 1),
		"missing":  `{"coop":"coop-a"}`,
		"trailing": string(v) + "{}",
		"null":     strings.Replace(string(v), `"coop-a"`, `null`, 1),
		"long":     `{"coop":"` + strings.Repeat("a", MaxTrustDocBytes) + `"}`,
	} {
		if _, err := ParseVouch([]byte(raw), nil); Code(err) != "invalid_vouch" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// fuzzDoc checks what a decoder accepts: its top-level keys are distinct
// fields of the document in their exact case, the canonical encoding
// decodes to the same body, and encoding/json reads the same values.
func fuzzDoc[B comparable](t *testing.T, raw []byte, fields []string, decode func([]byte) (B, error), encode func(B) []byte, parse func(raw, sig []byte) (TrustDoc, error)) {
	b, err := decode(raw)
	if _, perr := parse(raw, nil); err != nil && perr == nil {
		t.Fatalf("parse accepted %q, which decode refuses", raw)
	}
	if err != nil {
		return
	}
	requireExactKeys(t, raw, fields)
	back, err := decode(encode(b))
	if err != nil || back != b {
		t.Fatalf("canonical form %s decodes to %+v, %v; want %+v", encode(b), back, err, b)
	}
	var v1 B
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if dec.Decode(&v1) == nil && v1 != b {
		t.Fatalf("%q: encoding/json reads %+v, the decoder %+v", raw, v1, b)
	}
}

const fuzzVouch = `{"coop":"coop-a","voucher":"did:icn:2cBqMdXQc7qdnJCuvvFVxCZTbas6SRn818KZYGCe6Qjk","vouchee":"did:icn:FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF","created_at":"2026-03-09T09:00:00Z"}`

func docSeeds(f *testing.F, base string, field string) {
	edit := func(old, new string) string { return strings.Replace(base, old, new, 1) }
	for _, s := range []string{
		base,
		edit(`"coop":"coop-a",`, `"coop":"coop-a","coop":"coop-b",`),
		edit(`"coop":"coop-a",`, `"coop":"coop-a","\u0063oop":"coop-b",`),
		edit(`"`+field+`"`, `"`+strings.ToUpper(field)+`"`),
		edit(`"coop-a"`, "\"co\xffop\""),
		edit(`"coop-a"`, `"\ud800"`),
		"\ufeff" + base,
		base + " {}",
		edit(`"coop-a"`, `null`),
		edit(`"coop-a"`, `1`),
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeVouch: the vouch decoder (outside input at POST
// /membership/{coop}/vouches) accepts only bytes with one meaning.
func FuzzDecodeVouch(f *testing.F) {
	docSeeds(f, fuzzVouch, "voucher")
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzDoc(t, raw, vouchFields, DecodeVouch, VouchBody.Encode, ParseVouch)
	})
}

const fuzzVoucherRevoke = `{"coop":"coop-a","voucher":"did:icn:2cBqMdXQc7qdnJCuvvFVxCZTbas6SRn818KZYGCe6Qjk","member":"did:icn:FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF","created_at":"2026-03-09T09:00:00Z"}`

// FuzzDecodeVoucherRevoke: the same for POST /membership/{coop}/emergency-revoke.
func FuzzDecodeVoucherRevoke(f *testing.F) {
	docSeeds(f, fuzzVoucherRevoke, "member")
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzDoc(t, raw, voucherRevokeFields, DecodeVoucherRevoke, VoucherRevokeBody.Encode, ParseVoucherRevoke)
	})
}

const fuzzRecovery = `{"coop":"coop-a","recovery":"rec-1","old":"did:icn:2cBqMdXQc7qdnJCuvvFVxCZTbas6SRn818KZYGCe6Qjk","new":"did:icn:FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF","steward":"did:icn:9tMZQmQ5D2pwRZ2G2vJ5mQ8e6h6a3YdYk4Nn5n7kVZb1","created_at":"2026-03-09T09:00:00Z"}`

// FuzzDecodeRecovery: the same for POST /membership/{coop}/recoveries.
func FuzzDecodeRecovery(f *testing.F) {
	docSeeds(f, fuzzRecovery, "steward")
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzDoc(t, raw, recoveryFields, DecodeRecovery, RecoveryBody.Encode, ParseRecovery)
	})
}
