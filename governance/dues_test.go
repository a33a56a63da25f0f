package governance

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
)

func TestDuesDue(t *testing.T) {
	w := newWorld(t, []string{"a", "b", "c"}, nil)
	a, b, c := w.did("a"), w.did("b"), w.did("c")
	s := Schedule{Amount: hours(t, "1.00"), Day: 1, Treasury: "treasury"}
	all := []Payer{{c, time.Time{}}, {a, time.Time{}}, {b, time.Time{}}}
	p := func(y int, m time.Month) Period { return Period{Year: y, Month: m} }
	type due struct {
		period string
		from   identity.DID
	}
	for _, tc := range []struct {
		name     string
		sched    func(s *Schedule)
		payers   []Payer
		last     Period
		now      time.Time
		want     []due
		wantLast Period
	}{
		{"first run on the day", nil, all, Period{}, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
			[]due{{"2026-03", a}, {"2026-03", b}, {"2026-03", c}}, p(2026, 3)},
		{"first run mid-month charges the current month", nil, all[:1], Period{}, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC),
			[]due{{"2026-03", c}}, p(2026, 3)},
		{"just before the day", nil, all, p(2026, 2), time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC), nil, p(2026, 2)},
		{"already collected", nil, all, p(2026, 3), time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), nil, p(2026, 3)},
		{"next month", nil, all[:1], p(2026, 3), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), []due{{"2026-04", c}}, p(2026, 4)},
		{"catch up after an outage, over a year end", nil, all[:1], p(2025, 11), time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
			[]due{{"2025-12", c}, {"2026-01", c}, {"2026-02", c}}, p(2026, 2)},
		{"catch up at most a year", nil, all[:1], p(2020, 1), time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
			[]due{{"2025-03", c}, {"2025-04", c}, {"2025-05", c}, {"2025-06", c}, {"2025-07", c}, {"2025-08", c},
				{"2025-09", c}, {"2025-10", c}, {"2025-11", c}, {"2025-12", c}, {"2026-01", c}, {"2026-02", c}}, p(2026, 2)},
		{"clock behind the last period", nil, all, p(2026, 5), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), nil, p(2026, 5)},
		{"member joined after the due instant", nil, []Payer{{a, time.Date(2026, 3, 1, 0, 0, 1, 0, time.UTC)}, {b, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}},
			p(2026, 2), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), []due{{"2026-03", b}}, p(2026, 3)},
		{"schedule newer than the due instant", func(s *Schedule) { s.From = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC) }, all[:1],
			Period{}, time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), nil, p(2026, 3)},
		{"schedule took effect, next month charged", func(s *Schedule) { s.From = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC) }, all[:1],
			p(2026, 3), time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), []due{{"2026-04", c}}, p(2026, 4)},
		{"treasury pays nothing", func(s *Schedule) { s.Treasury = string(a) }, all, p(2026, 2), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
			[]due{{"2026-03", b}, {"2026-03", c}}, p(2026, 3)},
		{"time zone", func(s *Schedule) { s.Location = time.FixedZone("UTC+2", 2*3600) }, all[:1], p(2026, 2),
			time.Date(2026, 2, 28, 22, 0, 0, 0, time.UTC), []due{{"2026-03", c}}, p(2026, 3)},
		{"day 28", func(s *Schedule) { s.Day = 28 }, all[:1], p(2026, 1), time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), []due{{"2026-02", c}}, p(2026, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := s
			if tc.sched != nil {
				tc.sched(&sc)
			}
			got, last, err := DuesDue(coop, sc, tc.payers, tc.last, tc.now)
			wantErr(t, err, nil)
			if last != tc.wantLast {
				t.Fatalf("last = %s, want %s", last, tc.wantLast)
			}
			// Payments come by period, then member DID.
			slices.SortFunc(tc.want, func(x, y due) int {
				return cmp.Or(strings.Compare(x.period, y.period), cmpDID(x.from, y.from))
			})
			if len(got) != len(tc.want) {
				t.Fatalf("%d payments %v, want %d", len(got), got, len(tc.want))
			}
			for i, g := range got {
				w := tc.want[i]
				if g.Period.String() != w.period || g.From != w.from || g.To != sc.Treasury || g.Amount != sc.Amount ||
					g.ID != DuesID(coop, g.Period, g.From) || !g.DueAt.Equal(sc.DueAt(g.Period)) {
					t.Fatalf("payment %d = %+v, want %s from %s", i, g, w.period, w.from.Short())
				}
			}
		})
	}
}

func TestDuesIDs(t *testing.T) {
	a, b := key(t, "a").DID(), key(t, "b").DID()
	mar, apr := Period{Year: 2026, Month: 3}, Period{Year: 2026, Month: 4}
	id := DuesID(coop, mar, a)
	if !strings.HasPrefix(id, "dues-2026-03-") || len(id) != len("dues-2026-03-")+32 || !identity.ValidID(id, MaxIDLen) {
		t.Fatalf("id %q", id)
	}
	seen := map[string]bool{}
	for _, x := range []string{DuesID(coop, mar, a), DuesID(coop, mar, b), DuesID(coop, apr, a), DuesID("coop-b", mar, a)} {
		if seen[x] {
			t.Fatalf("id %s repeats", x)
		}
		seen[x] = true
	}
	if DuesID(coop, mar, a) != id {
		t.Fatal("DuesID is not a function of its arguments")
	}
}

// TestDuesRerunNeverChargesTwice: running again with the same inputs (a
// crash before recording the new last period) gives the same ids; running
// after recording it gives nothing for the same period.
func TestDuesRerunNeverChargesTwice(t *testing.T) {
	s := Schedule{Amount: hours(t, "1.00"), Day: 1, Treasury: "treasury"}
	payers := []Payer{{Member: key(t, "a").DID()}, {Member: key(t, "b").DID()}}
	now := time.Date(2026, 3, 1, 0, 0, 5, 0, time.UTC)
	first, last, err := DuesDue(coop, s, payers, Period{Year: 2026, Month: 2}, now)
	wantErr(t, err, nil)
	again, _, err := DuesDue(coop, s, payers, Period{Year: 2026, Month: 2}, now.Add(time.Minute))
	wantErr(t, err, nil)
	if len(first) != 2 || len(again) != 2 || first[0].ID != again[0].ID || first[1].ID != again[1].ID {
		t.Fatalf("rerun ids differ: %v vs %v", first, again)
	}
	s.Amount = hours(t, "2.00") // a dues change between runs keeps the period's ids
	changed, _, _ := DuesDue(coop, s, payers, Period{Year: 2026, Month: 2}, now)
	if changed[0].ID != first[0].ID {
		t.Fatal("a changed amount changed the period's payment id")
	}
	after, _, err := DuesDue(coop, s, payers, last, now.Add(time.Hour))
	wantErr(t, err, nil)
	if len(after) != 0 {
		t.Fatalf("charged again after recording %s: %v", last, after)
	}
}

func TestDuesRefusals(t *testing.T) {
	good := Schedule{Amount: hours(t, "1.00"), Day: 1, Treasury: "treasury"}
	a := key(t, "a").DID()
	for _, tc := range []struct {
		name   string
		edit   func(s *Schedule)
		payers []Payer
	}{
		{"zero amount", func(s *Schedule) { s.Amount = hours(t, "0.00") }, nil},
		{"negative amount", func(s *Schedule) { s.Amount = hours(t, "-1.00") }, nil},
		{"day 0", func(s *Schedule) { s.Day = 0 }, nil},
		{"day 29", func(s *Schedule) { s.Day = 29 }, nil},
		{"no treasury", func(s *Schedule) { s.Treasury = "" }, nil},
		{"treasury with a space", func(s *Schedule) { s.Treasury = "the treasury" }, nil},
		{"payer twice", func(*Schedule) {}, []Payer{{Member: a}, {Member: a}}},
		{"no co-op", func(*Schedule) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			c := coop
			if tc.name == "no co-op" {
				c = ""
			}
			_, last, err := DuesDue(c, s, tc.payers, Period{Year: 2026, Month: 1}, t0)
			wantErr(t, err, ErrInvalidSchedule)
			if last != (Period{Year: 2026, Month: 1}) {
				t.Fatalf("refused run moved last to %s", last)
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	p, err := ParsePeriod("2026-03")
	if err != nil || p != (Period{Year: 2026, Month: time.March}) || p.String() != "2026-03" {
		t.Fatalf("ParsePeriod = %v, %v", p, err)
	}
	for _, bad := range []string{"2026-3", "2026-13", "26-03", "2026-03-01", ""} {
		if _, err := ParsePeriod(bad); !errorsIs(err, ErrInvalidSchedule) {
			t.Errorf("ParsePeriod(%q) = %v", bad, err)
		}
	}
	if (Period{Year: 2026, Month: time.December}).Next() != (Period{Year: 2027, Month: time.January}) {
		t.Fatal("Next over a year end")
	}
}
