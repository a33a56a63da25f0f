package trust_test

import (
	"errors"
	"testing"

	"github.com/icn-coop/icn/trust"
)

// FuzzDecodeAttestation: DecodeAttestation never panics; every error is an ErrAttestation;
// anything accepted is valid and its canonical payload decodes to the same attestation.
func FuzzDecodeAttestation(f *testing.F) {
	a := trust.Attestation{From: did(1), To: did(2), Weight: w("0.8"), IssuedAt: 1732000000000000000}
	f.Add(a.Payload())
	f.Add([]byte(`{"issued_at":1,"weight":"1.000000","to":"` + string(did(3)) + `","from":"` + string(did(4)) + `","type":"icn-trust-attestation"}`))
	f.Add([]byte(`{"type":"icn-trust-attestation","from":"did:icn:1","to":"did:icn:2","weight":"0.1","issued_at":1e3}`))
	f.Add([]byte(`{"type":"icn-trust-attestation","type":"icn-trust-attestation"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"icn-trust-\u0061ttestation","from":"` + string(did(5)) + `","to":"` + string(did(6)) + `","weight":"0.80","issued_at":7}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := trust.DecodeAttestation(payload)
		if err != nil {
			if !errors.Is(err, trust.ErrAttestation) {
				t.Fatalf("error %v is not ErrAttestation", err)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted an invalid attestation %+v: %v", got, err)
		}
		again, err := trust.DecodeAttestation(got.Payload())
		if err != nil || again != got {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, got)
		}
	})
}
