package govern

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/money"
)

// FuzzChange feeds a proposal's change as a client sends it (JSON, parsed
// as the OpenProposal handler parses it) through the rules: it never
// panics, and a change the rules accept survives the stored form unchanged
// (record → domain → record), so what is stored is what was decided.
func FuzzChange(f *testing.F) {
	pat, ann := testKey(f, "pat").DID(), testKey(f, "ann").DID()
	for _, s := range []string{
		`{"default_credit_limit":{"amount":"50","currency":"hours"}}`,
		`{"credit_limits":[{"member":"` + string(ann) + `","limit":{"amount":"2.5","currency":"hours"}}]}`,
		`{"roles":[{"member":"` + string(ann) + `","role":"moderator","grant":true}]}`,
		`{"remove":"` + string(ann) + `"}`,
		`{"dues":{"amount":{"amount":"1","currency":"hours"},"day":1,"treasury":"treasury","time_zone":"Europe/Berlin"}}`,
		`{"dues":{"amount":{"amount":"1e3","currency":"hours"},"day":29,"treasury":""}}`,
		`{"credit_limits":[{"member":"x","limit":{"amount":"-1","currency":"zz"}}]}`,
	} {
		for _, k := range governance.Kinds {
			f.Add(string(k), s)
		}
	}
	members := governance.Members{pat: {"member", "proposer"}, ann: {"member"}}
	cur := money.DefaultCurrencies().Lookup
	f.Fuzz(func(t *testing.T, kind, raw string) {
		var ch Change
		if json.Unmarshal([]byte(raw), &ch) != nil || ch.Restore != nil {
			return
		}
		dc, err := ch.domain(cur)
		if err != nil {
			if governance.Code(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		p, err := governance.Open(governance.Draft{ID: "p-1", Coop: coop, Kind: governance.Kind(kind), Title: "t",
			Proposer: pat, Change: dc}, members, governance.DefaultPolicy(), t0)
		if err != nil {
			return
		}
		rec := proposalOf(p)
		back, err := rec.domain(cur)
		if err != nil {
			t.Fatalf("stored form does not read back: %v", err)
		}
		if again := proposalOf(back); !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", again, rec)
		}
		if _, err := json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
	})
}
