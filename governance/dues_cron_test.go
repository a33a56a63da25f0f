package governance

import (
	"testing"
	"time"
)

// every is a Calendar firing every d from a fixed origin (a cron
// schedule's stand-in: the pure package does not import robfig/cron).
type every struct {
	origin time.Time
	d      time.Duration
}

func (e every) Next(t time.Time) time.Time {
	if t.Before(e.origin) {
		return e.origin
	}
	n := t.Sub(e.origin)/e.d + 1
	return e.origin.Add(n * e.d)
}

var mondays = every{origin: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), d: 7 * 24 * time.Hour}

func TestCronScheduleValidate(t *testing.T) {
	good := Schedule{Amount: hours(t, "1.00"), Cron: mondays, CronSpec: "0 0 * * 1", Treasury: "treasury"}
	if err := good.Validate(); err != nil {
		t.Fatalf("weekly: %v", err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*Schedule)
	}{
		{"day and cron", func(s *Schedule) { s.Day = 1 }},
		{"no spec", func(s *Schedule) { s.CronSpec = "" }},
		{"spec without calendar", func(s *Schedule) { s.Cron = nil }},
		{"twice a day", func(s *Schedule) { s.Cron = every{mondays.origin, 12 * time.Hour} }},
		{"never in a year", func(s *Schedule) { s.Cron = every{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), 24 * time.Hour} }},
		{"spec too long", func(s *Schedule) { s.CronSpec = string(make([]byte, MaxCronSpec+1)) }},
	} {
		s := good
		tc.mut(&s)
		if err := s.Validate(); !errorsIs(err, ErrInvalidSchedule) {
			t.Errorf("%s: %v, want ErrInvalidSchedule", tc.name, err)
		}
	}
}

// A cron schedule's periods are its instants: with nothing collected only
// the latest is due; after an outage each one since the last, at most
// MaxCatchUp; the ids are stable, and a last period of the monthly kind
// counts as none.
func TestCronDuesDue(t *testing.T) {
	w := newWorld(t, []string{"a", "b"}, nil)
	a, b := w.did("a"), w.did("b")
	s := Schedule{Amount: hours(t, "1.00"), Cron: mondays, CronSpec: "0 0 * * 1", Treasury: "treasury"}
	payers := []Payer{{Member: a}, {Member: b}}
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC) // a Wednesday
	lastMonday := Period{At: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}

	got, last, err := DuesDue("riverside", s, payers, Period{}, now)
	if err != nil || len(got) != 2 || last != lastMonday || got[0].Period != lastMonday || got[0].DueAt != lastMonday.At {
		t.Fatalf("first run: %+v, last %v, %v", got, last, err)
	}
	if got[0].ID != DuesID("riverside", lastMonday, got[0].From) || got[0].Period.String() != "20260302T0000Z" {
		t.Fatalf("id %s, period %s", got[0].ID, got[0].Period)
	}
	if again, l2, _ := DuesDue("riverside", s, payers, last, now.Add(time.Hour)); len(again) != 0 || l2 != last {
		t.Fatalf("a second run in the same week: %+v, last %v", again, l2)
	}
	twoBack := Period{At: lastMonday.At.AddDate(0, 0, -14)}
	got, last, _ = DuesDue("riverside", s, payers, twoBack, now)
	if len(got) != 4 || got[0].Period.At != twoBack.At.AddDate(0, 0, 7) || last != lastMonday {
		t.Fatalf("after two weeks' outage: %+v, last %v", got, last)
	}
	long := Period{At: lastMonday.At.AddDate(-1, 0, 0)}
	got, _, _ = DuesDue("riverside", s, payers, long, now)
	if len(got) != 2*MaxCatchUp || got[len(got)-1].Period != lastMonday {
		t.Fatalf("after a year's outage: %d payments, want %d ending %v", len(got), 2*MaxCatchUp, lastMonday)
	}
	got, last, _ = DuesDue("riverside", s, payers, Period{Year: 2026, Month: time.March}, now)
	if len(got) != 2 || last != lastMonday {
		t.Fatalf("after a change from a monthly schedule: %+v, last %v", got, last)
	}
	if p, err := ParsePeriod(lastMonday.String()); err != nil || p != lastMonday {
		t.Fatalf("ParsePeriod(%s) = %v, %v", lastMonday, p, err)
	}
}
