package govern

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

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

// FuzzDuesCron: a proposal's cron expression, outside input, is parsed and
// checked without a panic, and one that passes yields instants a day or
// more apart.
func FuzzDuesCron(f *testing.F) {
	for _, s := range []string{"0 9 * * 1", "@monthly", "0 0 1 * *", "*/5 * * * *", "@every 1h", "TZ=UTC 0 0 * * *", "0 0 31 2 *", "", "59 23 L * *", "0 0 1-31/7 * MON-FRI"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := parseCron(spec, nil)
		if err != nil {
			return
		}
		one, err := money.Parse("1", money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		s := governance.Schedule{Amount: one, Cron: c, CronSpec: spec, Treasury: "treasury"}
		if s.Validate() != nil {
			return
		}
		prev := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 3 {
			next := c.Next(prev)
			if next.IsZero() {
				break
			}
			if i > 0 && next.Sub(prev) < 23*time.Hour {
				t.Fatalf("cron %q passed with instants %s and %s", spec, prev, next)
			}
			prev = next
		}
	})
}
