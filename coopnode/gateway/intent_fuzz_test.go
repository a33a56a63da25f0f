package gateway

import (
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// FuzzParseIntent: intents are outside input. Parsing never panics, and an
// accepted intent has a valid id, two distinct DIDs and a positive amount that
// prints back in the currency's scale.
func FuzzParseIntent(f *testing.F) {
	f.Add([]byte(`{"id":"p1","from":"did:icn:9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj","to":"did:icn:BdByMiyvNxG3rqGNk81urc5MQX25bb98jRXXdMuBdbfx","to_coop":"coop-a","amount":"2.50","currency":"hours","memo":"m","created_at":"2026-11-25T10:00:00Z","expires_at":"2026-11-25T10:05:00Z"}`))
	f.Add([]byte(`{"id":"","amount":"1e3"}`))
	f.Add([]byte(`{"id":"x","amount":"2.505","currency":"hours"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"p1"} trailing`))
	cs := money.DefaultCurrencies()
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, amt, err := ParseIntent(raw, cs)
		if err != nil {
			if ae := toAPIError(err); ae.Status != 400 || ae.Code == "" {
				t.Fatalf("error %v maps to %d %q, want a 400 with a code", err, ae.Status, ae.Code)
			}
			return
		}
		if !validID(in.ID) || in.From == in.To || amt.Sign() <= 0 {
			t.Fatalf("accepted a bad intent: %+v amount %v", in, amt)
		}
		if _, _, err := identity.ParseDID(in.From); err != nil {
			t.Fatalf("accepted bad from %q", in.From)
		}
		if back, err := money.ParsePayment(amt.String(), amt.Currency()); err != nil || back != amt {
			t.Fatalf("amount %v does not round-trip: %v", amt, err)
		}
	})
}
