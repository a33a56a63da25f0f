package settlement_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/settlement"
)

// FuzzParseReport: ParseReport never panics; it accepts only the canonical
// bytes of a consistent report (Canonical gives the input back, Check passes,
// Hash is SHA-256 of the input), and every failure is ErrInvalidReport.
func FuzzParseReport(f *testing.F) {
	f.Add(mustReport(f, smallPeriod()).Canonical())
	f.Add(mustReport(f, nil).Canonical())
	f.Add(mustReport(f, []clearing.Transfer{tr("a", A, B, k(1))}).Canonical())
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := settlement.ParseReport(data)
		if err != nil {
			if !errors.Is(err, settlement.ErrInvalidReport) {
				t.Fatalf("error %v is not ErrInvalidReport", err)
			}
			return
		}
		if !bytes.Equal(r.Canonical(), data) {
			t.Fatalf("accepted non-canonical input %q", data)
		}
		if err := r.Check(); err != nil {
			t.Fatalf("accepted a report that fails Check: %v", err)
		}
		if r.Hash() != sha256.Sum256(data) {
			t.Fatal("Hash differs from SHA-256 of the input")
		}
		back, err := settlement.ParseReport(r.Canonical())
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzProofJSON: Proof.UnmarshalJSON never panics; what it accepts marshals
// to a form it reads back to the same proof.
func FuzzProofJSON(f *testing.F) {
	ts := chainPeriod(9)
	p, err := mustTree(f, ts).Proof(ts[8].ID)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(p)
	f.Add(b)
	f.Add([]byte(`{"index":0,"count":1,"path":[]}`))
	f.Add([]byte(`{"index":0,"count":1,"path":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p settlement.Proof
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var q settlement.Proof
		if err := json.Unmarshal(out, &q); err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip of %s: %+v, %v", out, q, err)
		}
		_ = settlement.VerifyProof(settlement.EmptyRoot, ts[0], p) // must not panic
	})
}

// FuzzSignatureJSON: Signature.UnmarshalJSON never panics and round-trips.
func FuzzSignatureJSON(f *testing.F) {
	b, _ := json.Marshal(mustReport(f, smallPeriod()).Sign(keyN(1)))
	f.Add(b)
	f.Add([]byte(`{"signer":"","sig":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s settlement.Signature
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var q settlement.Signature
		if err := json.Unmarshal(out, &q); err != nil || q.Signer != s.Signer || !bytes.Equal(q.Sig, s.Sig) {
			t.Fatalf("round trip of %s: %+v, %v", out, q, err)
		}
	})
}
