package payment

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the intent decoder. Whatever it
// accepts has one meaning: its top-level keys, as an independent parser
// (encoding/json's tokenizer) reads them, are distinct and exactly
// intent fields in their exact case; the canonical re-encoding decodes
// to the same intent; and encoding/json, where it accepts the bytes too,
// reads the same values.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		good,
		edit(`"amount":"2.50",`, `"amount":"2.50","amount":"250.00",`),
		edit(`"amount"`, `"Amount"`),
		edit(`"to"`, `"TO"`),
		edit(`"amount":"2.50",`, `"amount":"2.50","\u0061mount":"250.00",`),
		edit(`"rent"`, "\"r\xe9nt\""),
		edit(`"rent"`, `"\ud800"`),
		"\ufeff" + good,
		good + " {}",
		edit(`"rent"`, `null`),
		`{"id":"p1","id":"p2"}`,
	} {
		f.Add([]byte(s))
	}
	fields := []string{"id", "from", "to", "to_coop", "amount", "currency", "memo", "created_at", "expires_at"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := Decode(raw)
		if err != nil {
			return
		}
		keys, ok := topKeys(raw)
		if !ok {
			t.Fatalf("accepted %q, which encoding/json's tokenizer cannot read", raw)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] || !slices.Contains(fields, k) {
				t.Fatalf("accepted %q with key %q repeated or not an intent field", raw, k)
			}
			seen[k] = true
		}
		canon, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(canon)
		if err != nil || back != in {
			t.Fatalf("canonical form %s decodes to %+v, %v; want %+v", canon, back, err, in)
		}
		var v1 Intent
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if dec.Decode(&v1) == nil && v1 != in {
			t.Fatalf("%q: encoding/json reads %+v, Decode %+v", raw, v1, in)
		}
	})
}

// topKeys lists the top-level keys of a JSON object with encoding/json's
// tokenizer (which decodes escapes and keeps duplicates).
func topKeys(raw []byte) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
	}
	return keys, true
}
