package gateway

import (
	"testing"
	"time"

	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/payment"
)

// FuzzIntentErrors: whatever payment.Check refuses, the gateway answers with
// a 400 and a wire code, never a 500 (payment's own fuzz target checks what
// it accepts).
func FuzzIntentErrors(f *testing.F) {
	f.Add([]byte(`{"id":"p1","from":"did:icn:9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj","to":"did:icn:BdByMiyvNxG3rqGNk81urc5MQX25bb98jRXXdMuBdbfx","to_coop":"coop-a","amount":"2.50","currency":"hours","memo":"m","created_at":"2026-11-25T10:00:00Z","expires_at":"2026-11-25T10:05:00Z"}`))
	f.Add([]byte(`{"id":"","amount":"1e3"}`))
	f.Add([]byte(`{"id":"x","amount":"2.505","currency":"hours"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"p1"} trailing`))
	rules := payment.Rules{Currencies: money.DefaultCurrencies()}
	now := time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := payment.Check(raw, rules, now); err != nil {
			if ae := toAPIError(err); ae.Status != 400 || ae.Code == "" || ae.Code == "internal" {
				t.Fatalf("error %v maps to %d %q, want a 400 with a code", err, ae.Status, ae.Code)
			}
		}
	})
}
