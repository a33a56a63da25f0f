package identity

import (
	"errors"
	"strings"
	"testing"
)

type strictT struct {
	ID     string `json:"id"`
	Amount string `json:"amount"`
	N      int64  `json:"n"`
	Inner  *struct {
		A string `json:"a"`
	} `json:"inner"`
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want: "" accepted, else a substring of the error
	}{
		{"plain", `{"id":"a","amount":"1"}`, ""},
		{"whitespace around", " \n{\"id\":\"a\",\"amount\":\"1\"}\n ", ""},
		{"escaped name is the same name", `{"\u0069d":"a","amount":"1"}`, ""},
		{"nested", `{"id":"a","amount":"1","inner":{"a":"x"}}`, ""},
		{"duplicate", `{"id":"a","amount":"1","amount":"2"}`, `duplicate field "amount"`},
		{"duplicate through an escape", `{"id":"a","amount":"1","\u0061mount":"2"}`, `duplicate field "amount"`},
		{"duplicate nested", `{"id":"a","amount":"1","inner":{"a":"x","a":"y"}}`, `duplicate field "a"`},
		{"case variant", `{"id":"a","Amount":"1"}`, `unknown field "Amount" (field names are case-sensitive)`},
		{"upper case", `{"ID":"a","amount":"1"}`, `unknown field "ID"`},
		{"unknown", `{"id":"a","amount":"1","x":"y"}`, `unknown field "x"`},
		{"missing", `{"id":"a"}`, `missing field "amount"`},
		{"null", `{"id":"a","amount":null}`, `field "amount" is null`},
		{"null nested", `{"id":"a","amount":"1","inner":{"a":null}}`, `field "inner/a" is null`},
		{"wrong type", `{"id":"a","amount":1}`, `field "amount" must be a JSON string`},
		{"wrong type number", `{"id":"a","amount":"1","n":"5"}`, `field "n" must be a JSON number`},
		{"trailing", `{"id":"a","amount":"1"}x`, `after`},
		{"second object", `{"id":"a","amount":"1"}{}`, `after`},
		{"bom", "\ufeff{\"id\":\"a\",\"amount\":\"1\"}", "byte order mark"},
		{"invalid utf-8", "{\"id\":\"a\xff\",\"amount\":\"1\"}", "not valid UTF-8"},
		{"lone surrogate", `{"id":"\ud800","amount":"1"}`, "surrogate"},
		{"array", `["id"]`, "not a JSON object"},
		{"empty", ``, "truncated"},
		{"truncated", `{"id":"a","amount":"1"`, "truncated"},
		{"bad syntax", `{"id":"a",,"amount":"1"}`, "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v strictT
			err := DecodeJSON([]byte(tc.in), &v, "id", "amount")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
				if v.ID != "a" || v.Amount != "1" {
					t.Fatalf("decoded %+v", v)
				}
			case err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case !errors.Is(err, ErrJSON) || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want ErrJSON with %q", err, tc.want)
			}
		})
	}
}

func TestValidIDAndPrintable(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{{"p-1:a.b_", true}, {"", false}, {"a b", false}, {"a/b", false}, {"é", false}, {"12345678", true}, {"123456789", false}} {
		if got := ValidID(tc.id, 8); got != tc.ok {
			t.Errorf("ValidID(%q, 8) = %v, want %v", tc.id, got, tc.ok)
		}
	}
	for _, tc := range []struct {
		s  string
		ok bool
	}{{"Coffee ☕ für alle", true}, {"tab\there", false}, {"rtl\u202eoverride", false}, {"bad\xffutf8", false}, {"", true}} {
		if got := Printable(tc.s); got != tc.ok {
			t.Errorf("Printable(%q) = %v, want %v", tc.s, got, tc.ok)
		}
	}
}
