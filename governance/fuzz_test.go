package governance

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

const fuzzVote = `{"coop":"coop-a","proposal":"p-1","voter":"did:icn:2cBqMdXQc7qdnJCuvvFVxCZTbas6SRn818KZYGCe6Qjk","choice":"for","revision":1,"created_at":"2026-03-09T09:00:00Z"}`

// FuzzDecodeVote feeds arbitrary bytes to the vote decoder. Whatever it
// accepts has one meaning: its top-level keys, as an independent parser
// (encoding/json's tokenizer) reads them, are distinct vote fields in their
// exact case; the canonical encoding decodes to the same vote; and
// encoding/json, where it accepts the bytes too, reads the same values.
func FuzzDecodeVote(f *testing.F) {
	edit := func(old, new string) string { return strings.Replace(fuzzVote, old, new, 1) }
	for _, s := range []string{
		fuzzVote,
		edit(`"choice":"for",`, `"choice":"for","choice":"against",`),
		edit(`"choice":"for",`, `"choice":"for","\u0063hoice":"against",`),
		edit(`"choice"`, `"Choice"`),
		edit(`"revision":1`, `"revision":1.0`),
		edit(`"revision":1`, `"revision":-0`),
		edit(`"coop-a"`, "\"co\xffop\""),
		edit(`"coop-a"`, `"\ud800"`),
		"\ufeff" + fuzzVote,
		fuzzVote + " {}",
		edit(`"for"`, `null`),
		`{"coop":"a","coop":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := DecodeVote(raw)
		if err != nil {
			return
		}
		requireExactKeys(t, raw, voteFields)
		back, err := DecodeVote(b.Encode())
		if err != nil || back != b {
			t.Fatalf("canonical form %s decodes to %+v, %v; want %+v", b.Encode(), back, err, b)
		}
		var v1 VoteBody
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if dec.Decode(&v1) == nil && v1 != b {
			t.Fatalf("%q: encoding/json reads %+v, DecodeVote %+v", raw, v1, b)
		}
		// Checking never panics, whatever was decoded.
		_, _ = b.check()
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

// requireExactKeys fails t unless raw, which a strict decoder accepted, is
// an object with each of fields exactly once and nothing else.
func requireExactKeys(t *testing.T, raw []byte, fields []string) {
	t.Helper()
	keys, ok := topKeys(raw)
	if !ok {
		t.Fatalf("accepted %q, which encoding/json's tokenizer cannot read", raw)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] || !slices.Contains(fields, k) {
			t.Fatalf("accepted %q with key %q repeated or unknown", raw, k)
		}
		seen[k] = true
	}
	if len(seen) != len(fields) {
		t.Fatalf("accepted %q without all of %v", raw, fields)
	}
}
