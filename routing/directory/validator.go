package directory

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Validator is the DHT's record validator for the "icn" namespace (it
// implements go-libp2p-record's Validator): every node that stores or
// returns a record checks it, so a forged, older or expired one is refused
// wherever it is sent.
type Validator struct {
	// Now is the clock records' expiries are judged by.
	Now func() time.Time
	// Anchors, if set, are the root federations a record's path must reach:
	// a path of federations none of which an anchor admitted (or is) is
	// refused, so that only the tree of participating federations can
	// publish.
	Anchors []identity.DID
}

// Validate checks value as the record stored under key.
func (v Validator) Validate(key string, value []byte) error {
	_, err := v.Record(key, value)
	return err
}

// Record decodes value and checks it as stored under key: what every node
// checks before it stores or returns a record.
func (v Validator) Record(key string, value []byte) (Record, error) {
	r, err := Decode(value, v.Now())
	if err != nil {
		return Record{}, err
	}
	switch {
	case r.Federation && key != FederationKey(r.Subject, r.Admitter()):
		return Record{}, refuse("a federation's record is stored under %s, not %.80s", FederationKey(r.Subject, r.Admitter()), key)
	case !r.Federation && key != CoopKey(string(r.Subject)) && (r.SubjectName == "" || key != CoopKey(r.SubjectName)):
		return Record{}, refuse("a co-op's record is stored under its DID or name, not %.80s", key)
	}
	if len(v.Anchors) > 0 && !slices.ContainsFunc(r.Federations(), func(f identity.DID) bool { return slices.Contains(v.Anchors, f) }) {
		return Record{}, refuse("its path reaches none of the directory's root federations")
	}
	return r, nil
}

// Select picks the best of values for key: a valid one with the highest
// sequence number, then the latest expiry, then the smallest bytes (so
// that every node picks the same). An older record never replaces a newer.
func (v Validator) Select(key string, values [][]byte) (int, error) {
	best, bestRec := -1, Record{}
	for i, val := range values {
		r, err := v.Record(key, val)
		if err != nil {
			continue
		}
		if best < 0 || better(r, val, bestRec, values[best]) {
			best, bestRec = i, r
		}
	}
	if best < 0 {
		return 0, refuse("no valid record among %d for %.80s", len(values), strings.TrimPrefix(key, "/"+Namespace+"/"))
	}
	return best, nil
}

func better(a Record, av []byte, b Record, bv []byte) bool {
	switch {
	case a.Seq != b.Seq:
		return a.Seq > b.Seq
	case !a.Expires.Equal(b.Expires):
		return a.Expires.After(b.Expires)
	}
	return bytes.Compare(av, bv) < 0
}
