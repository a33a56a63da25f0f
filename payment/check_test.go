package payment

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

var (
	testNow   = time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC)
	testRules = Rules{Currencies: money.DefaultCurrencies()}
	didA      = "did:icn:9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj"
	didB      = "did:icn:BdByMiyvNxG3rqGNk81urc5MQX25bb98jRXXdMuBdbfx"
)

// good is a valid intent's JSON, with its fields in API.md's order; edit
// replaces the first occurrence of old by new in it.
const good = `{"id":"p1","from":"` + "did:icn:9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj" + `","to":"` + "did:icn:BdByMiyvNxG3rqGNk81urc5MQX25bb98jRXXdMuBdbfx" + `","to_coop":"coop-b","amount":"2.50","currency":"hours","memo":"rent","created_at":"2026-11-25T10:00:00Z","expires_at":"2026-11-25T10:05:00Z"}`

func edit(old, new string) string { return strings.Replace(good, old, new, 1) }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		code      string // "" accepted
		msg       string // a substring of the message
	}{
		{"good", good, "", ""},
		{"memo left out", edit(`"memo":"rent",`, ""), "", ""},
		{"unicode memo", edit(`"rent"`, `"loyer – 家賃 👨‍👩‍👧"`), "", ""},
		{"offset time", edit(`"2026-11-25T10:05:00Z"`, `"2026-11-25T11:05:00+01:00"`), "", ""},

		{"amount twice", edit(`"amount":"2.50",`, `"amount":"2.50","amount":"250.00",`), CodeInvalid, `duplicate field "amount"`},
		{"to twice", edit(`"to_coop"`, `"to":"`+didA+`","to_coop"`), CodeInvalid, `duplicate field "to"`},
		{"amount twice via escape", edit(`"amount":"2.50",`, `"amount":"2.50","\u0061mount":"250.00",`), CodeInvalid, `duplicate field "amount"`},
		{"Amount", edit(`"amount"`, `"Amount"`), CodeInvalid, `unknown field "Amount"`},
		{"AMOUNT", edit(`"amount"`, `"AMOUNT"`), CodeInvalid, `unknown field "AMOUNT"`},
		{"TO", edit(`"to"`, `"TO"`), CodeInvalid, `unknown field "TO"`},
		{"Amount beside amount", edit(`"amount":"2.50",`, `"amount":"2.50","Amount":"250.00",`), CodeInvalid, `unknown field "Amount"`},
		{"unknown field", edit(`"memo"`, `"note":"x","memo"`), CodeInvalid, `unknown field "note"`},
		{"missing to", edit(`"to":"`+didB+`",`, ""), CodeInvalid, `missing field "to"`},
		{"null memo", edit(`"rent"`, `null`), CodeInvalid, `"memo" is null`},
		{"number amount", edit(`"2.50"`, `2.50`), CodeInvalid, `"amount" must be a JSON string`},
		{"trailing data", good + `{}`, CodeInvalid, "after"},
		{"bom", "\ufeff" + good, CodeInvalid, "byte order mark"},
		{"non-UTF-8 memo", edit(`"rent"`, "\"r\xe9nt\""), CodeInvalid, "UTF-8"},
		{"lone surrogate memo", edit(`"rent"`, `"\udc00"`), CodeInvalid, "surrogate"},
		{"control in memo", edit(`"rent"`, `"a\nb"`), CodeInvalid, "control character"},
		{"bidi override in memo", edit(`"rent"`, `"\u202etner"`), CodeInvalid, "control character"},
		{"long memo", edit(`"rent"`, `"`+strings.Repeat("m", MaxMemoBytes+1)+`"`), CodeInvalid, "memo is longer"},
		{"not an object", `["p1"]`, CodeInvalid, "not a JSON object"},
		{"too big", `{"id":"` + strings.Repeat("x", MaxBytes) + `"}`, CodeInvalid, "bytes, at most"},

		{"bad id", edit(`"p1"`, `"p 1"`), CodeInvalid, "id must be"},
		{"same from and to", edit(`"to":"`+didB, `"to":"`+didA), CodeInvalid, "same DID"},
		{"bad did", edit(didB, "did:icn:0OIl"), "invalid_did", ""},
		{"empty to_coop", edit(`"coop-b"`, `""`), CodeInvalid, "to_coop"},
		{"control in to_coop", edit(`"coop-b"`, `"coop\tb"`), CodeInvalid, "to_coop"},
		{"unknown currency", edit(`"hours"`, `"euros"`), "unknown_currency", ""},
		{"amount scale", edit(`"2.50"`, `"2.505"`), "invalid_amount", ""},
		{"zero amount", edit(`"2.50"`, `"0.00"`), "invalid_amount", ""},
		{"negative amount", edit(`"2.50"`, `"-2.50"`), "invalid_amount", ""},
		{"exponent", edit(`"2.50"`, `"25e-1"`), "invalid_amount", ""},
		{"bad created_at", edit(`"2026-11-25T10:00:00Z"`, `"yesterday"`), CodeInvalid, "created_at must be"},

		{"expires before created", edit(`"2026-11-25T10:05:00Z"`, `"2026-11-25T09:55:00Z"`), CodeTimeWindow, "is not after created_at"},
		{"expires at created", edit(`"2026-11-25T10:05:00Z"`, `"2026-11-25T10:00:00Z"`), CodeTimeWindow, "is not after created_at"},
		{"ten years ahead", edit(`"2026-11-25T10:05:00Z"`, `"2036-11-25T10:05:00Z"`), CodeTooFar, "more than 10m0s ahead"},
		{"9999-12-31", edit(`"2026-11-25T10:05:00Z"`, `"9999-12-31T23:59:59Z"`), CodeTooFar, "ahead"},
		{"just past the horizon", edit(`"2026-11-25T10:05:00Z"`, `"2026-11-25T10:11:01Z"`), CodeTooFar, "ahead"},
		{"created in the future", strings.Replace(edit(`"2026-11-25T10:00:00Z"`, `"2026-11-25T10:06:01Z"`), `"2026-11-25T10:05:00Z"`, `"2026-11-25T10:08:00Z"`, 1), CodeInvalid, "in the future"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Check([]byte(tc.raw), testRules, testNow)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Amount.Units() != 250 || c.To != didB {
					t.Fatalf("checked %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %s", tc.code)
			}
			if got := code(err); got != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q with code %q, want code %q and %q", err, got, tc.code, tc.msg)
			}
		})
	}
}

// code is the wire code a caller derives from a Check error.
func code(err error) string {
	var pe *Error
	var me *money.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case errors.As(err, &me):
		return me.ErrorCode()
	}
	return identity.Code(err)
}

func TestHorizonConfigurable(t *testing.T) {
	raw := edit(`"2026-11-25T10:05:00Z"`, `"2026-11-25T11:00:00Z"`)
	if _, err := Check([]byte(raw), testRules, testNow); code(err) != CodeTooFar {
		t.Fatalf("default horizon: %v", err)
	}
	r := testRules
	r.Horizon = time.Hour
	if _, err := Check([]byte(raw), r, testNow); err != nil {
		t.Fatalf("1 h horizon: %v", err)
	}
}

func TestExpired(t *testing.T) {
	c, err := Check([]byte(good), testRules, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expired(testNow) || !c.Expired(c.Expires) || !c.Expired(c.Expires.Add(time.Second)) {
		t.Fatal("Expired is wrong around the expiry")
	}
}

func TestVerify(t *testing.T) {
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(good)
	sig := k.Sign(identity.TagPaymentIntent, raw)
	if err := VerifyBy(k.DID(), raw, sig); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	if err := Verify(k.Public(), raw, sig); err != nil {
		t.Fatalf("good signature by key: %v", err)
	}
	// Another purpose's signature over the same bytes never verifies.
	if err := VerifyBy(k.DID(), raw, k.Sign(identity.TagDevice, raw)); err == nil {
		t.Fatal("a device-request signature verified as a payment")
	}
	if err := VerifyBy(k.DID(), []byte(edit("2.50", "2.51")), sig); err == nil {
		t.Fatal("a signature verified for other bytes")
	}
	if Hash(raw) == Hash([]byte(edit("2.50", "2.51"))) {
		t.Fatal("two intents hash alike")
	}
}

func BenchmarkCheck(b *testing.B) {
	raw := []byte(good)
	now := testNow
	for b.Loop() {
		if _, err := Check(raw, testRules, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	raw := []byte(good)
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
