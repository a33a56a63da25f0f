package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ErrJSON marks signed JSON that does not have exactly one meaning; see
// DecodeJSON. Callers wrap it in their own error (invalid_intent, …).
var ErrJSON = errors.New("malformed JSON")

var bom = []byte("\xef\xbb\xbf")

// DecodeJSON decodes data, the exact bytes of a signed object, into the
// struct v. Every signed JSON payload the project accepts from outside goes
// through it, because the bytes a member signed must mean to every reader
// what they mean here: a wallet or hardware signer that shows the first of
// two "amount" keys, or reads "Amount" as another field, must never show
// one payment while the ledger books another. So it refuses what some JSON
// parser could read differently: anything but one object, a byte order
// mark, invalid UTF-8 (raw, or an escaped lone surrogate), a member name
// repeated at any depth (also when spelled with escapes), a name that is not
// exactly one of v's fields (encoding/json would match "AMOUNT" to amount),
// null anywhere (some readers take it as absent, others as a value), a value
// of the wrong JSON type, and data after the object. Each name in required
// must be present at the top level. Bound data's length before calling.
func DecodeJSON(data []byte, v any, required ...string) error {
	if bytes.HasPrefix(data, bom) {
		return fmt.Errorf("%w: starts with a byte order mark", ErrJSON)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not valid UTF-8", ErrJSON)
	}
	names, err := scanObject(data)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v, json.RejectUnknownMembers(true)); err != nil {
		return describe(err)
	}
	for _, k := range required {
		if !names[k] {
			return fmt.Errorf("%w: missing field %q", ErrJSON, k)
		}
	}
	return nil
}

// scanObject walks data's tokens: one object, no null, nothing after it. It
// returns the object's top-level member names. jsontext's decoder refuses
// duplicate names and invalid escapes by default.
func scanObject(data []byte) (map[string]bool, error) {
	sc := scanners.Get().(*scanner)
	defer func() { sc.r.Reset(nil); scanners.Put(sc) }()
	sc.r.Reset(data)
	sc.dec.Reset(&sc.r)
	dec := &sc.dec
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, describe(err)
	}
	if tok.Kind() != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrJSON)
	}
	names := map[string]bool{}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, describe(err)
		}
		names[name.String()] = true
		if err := scanValue(dec); err != nil {
			return nil, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, describe(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrJSON)
	}
	return names, nil
}

// scanner is a reusable decoder: making one per payload was a third of
// DecodeJSON's allocations.
type scanner struct {
	r   bytes.Reader
	dec jsontext.Decoder
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// scanValue reads one value, refusing null at any depth.
func scanValue(dec *jsontext.Decoder) error {
	depth := dec.StackDepth()
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return describe(err)
		}
		if tok.Kind() == 'n' {
			return fmt.Errorf("%w: %s is null; leave the field out or give it a value", ErrJSON, pointer(dec.StackPointer()))
		}
		if dec.StackDepth() == depth {
			return nil
		}
	}
}

func pointer(p jsontext.Pointer) string {
	if p == "" {
		return "the value"
	}
	return fmt.Sprintf("field %q", strings.TrimPrefix(string(p), "/"))
}

// describe turns the JSON library's errors into messages that name the
// problem for the sender; the library's own words stay in the chain.
func describe(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", ErrJSON)
	}
	if errors.Is(err, jsontext.ErrDuplicateName) {
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: duplicate field %q", ErrJSON, lastName(se.JSONPointer))
		}
		return fmt.Errorf("%w: duplicate field", ErrJSON)
	}
	var sem *json.SemanticError
	if errors.As(err, &sem) {
		if errors.Is(err, json.ErrUnknownName) {
			return fmt.Errorf("%w: unknown field %.40q (field names are case-sensitive)", ErrJSON, lastName(sem.JSONPointer))
		}
		if sem.GoType != nil {
			return fmt.Errorf("%w: %s must be a JSON %s", ErrJSON, pointer(sem.JSONPointer), kindOf(sem.GoType))
		}
	}
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "jsontext: "), "json: ")
	return fmt.Errorf("%w: %s", ErrJSON, msg)
}

func lastName(p jsontext.Pointer) string {
	s := string(p)
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(s[strings.LastIndexByte(s, '/')+1:])
}

func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

// ValidID reports whether id is 1 to max characters of letters, digits and
// '-', '_', '.', ':' — the ids signed payloads carry (payments, proposals),
// safe in a URL path, a log line and a file name alike.
func ValidID(id string, max int) bool {
	if id == "" || len(id) > max {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// Printable reports whether s is valid UTF-8 without control or bidi
// control characters: signed text with a right-to-left override could show
// a wallet or a voter different words than the ledger keeps.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}
