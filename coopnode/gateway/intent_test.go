package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
)

// TestHostileIntents: intents a hostile wallet signs so that its bytes could
// mean two things, or that stay valid for years, are refused with their
// exact status and code, and move nothing. Each is signed with the payer's
// real key: the signature is good, the meaning is what is refused.
func TestHostileIntents(t *testing.T) {
	_, e := newTestGateway(t, nil)
	ctx := context.Background()
	adminS := e.login(e.admin)
	bob, eve := newKey(t), newKey(t)
	e.join(adminS, bob, "bob")
	e.join(adminS, eve, "eve")
	now := e.clock.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	base := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"from":%q,"to":%q,"to_coop":%q,"amount":"1.00","currency":"hours","memo":"m","created_at":%q,"expires_at":%q}`,
			id, e.admin.DID(), bob.DID(), testCoop, at(0), at(5*time.Minute))
	}
	for _, tc := range []struct {
		name   string
		intent func(id string) string
		status int
		code   string
	}{
		{"amount twice", func(id string) string {
			return strings.Replace(base(id), `"amount":"1.00"`, `"amount":"1.00","amount":"99.00"`, 1)
		}, 400, "invalid_intent"},
		{"to twice", func(id string) string {
			return strings.Replace(base(id), `"to_coop"`, fmt.Sprintf(`"to":%q,"to_coop"`, eve.DID()), 1)
		}, 400, "invalid_intent"},
		{"Amount", func(id string) string { return strings.Replace(base(id), `"amount"`, `"Amount"`, 1) }, 400, "invalid_intent"},
		{"AMOUNT beside amount", func(id string) string {
			return strings.Replace(base(id), `"amount":"1.00"`, `"amount":"1.00","AMOUNT":"99.00"`, 1)
		}, 400, "invalid_intent"},
		{"TO", func(id string) string { return strings.Replace(base(id), `"to"`, `"TO"`, 1) }, 400, "invalid_intent"},
		{"non-UTF-8 memo", func(id string) string { return strings.Replace(base(id), `"memo":"m"`, "\"memo\":\"\xff\xfe\"", 1) }, 400, "invalid_intent"},
		{"byte order mark", func(id string) string { return "\ufeff" + base(id) }, 400, "invalid_intent"},
		{"trailing data", func(id string) string { return base(id) + `{"amount":"99.00"}` }, 400, "invalid_intent"},
		{"null memo", func(id string) string { return strings.Replace(base(id), `"memo":"m"`, `"memo":null`, 1) }, 400, "invalid_intent"},
		{"expires before created", func(id string) string {
			return strings.Replace(base(id), at(5*time.Minute), at(-time.Minute), 1)
		}, 400, "invalid_time_window"},
		{"ten years ahead", func(id string) string {
			return strings.Replace(base(id), at(5*time.Minute), at(10*365*24*time.Hour), 1)
		}, 400, "expiry_too_far"},
		{"9999-12-31", func(id string) string {
			return strings.Replace(base(id), at(5*time.Minute), "9999-12-31T23:59:59Z", 1)
		}, 400, "expiry_too_far"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "hostile-" + strings.ReplaceAll(tc.name, " ", "-")
			raw := []byte(tc.intent(id))
			_, err := adminS.PayRaw(ctx, raw, e.admin.Sign(identity.TagPaymentIntent, raw))
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != tc.code {
				t.Fatalf("pay = %v, want %d %s", err, tc.status, tc.code)
			}
			if _, err := e.ledger.Payment(id); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("a refused intent left a payment: %v", err)
			}
		})
	}
	for _, did := range []identity.DID{bob.DID(), eve.DID()} {
		if b, err := adminS.Balance(ctx, testCoop, did, ""); err != nil || b.Balance != "0.00" {
			t.Errorf("balance of %s = %+v, %v; want 0.00", did.Short(), b, err)
		}
	}
	// The well-formed intent still pays.
	raw := []byte(base("hostile-control"))
	if r, err := adminS.PayRaw(ctx, raw, e.admin.Sign(identity.TagPaymentIntent, raw)); err != nil || r.Status != "committed" {
		t.Fatalf("good intent = %+v, %v", r, err)
	}
}
