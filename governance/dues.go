package governance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Schedule is a co-op's dues: Amount from every member to Treasury on Day
// of every month, at midnight in Location, or at each instant of Cron.
type Schedule struct {
	Amount money.Amount
	// Day is the day of the month, 1-28 (every month has it); 0 with Cron.
	Day int
	// Cron, instead of Day, gives the due instants: a parsed cron expression
	// (the co-op node parses CronSpec with robfig/cron, evaluated in
	// Location). It must fire at least once a year and at most once a day.
	Cron     Calendar
	CronSpec string
	// Treasury is the ledger account that receives the dues.
	Treasury string
	// Location is the time zone of the due instant; nil is UTC.
	Location *time.Location
	// From is when the schedule took effect: periods due before it are not
	// charged. A passed dues proposal sets it to its close (SetDues) unless
	// it names a later start.
	From time.Time
}

// Calendar is a recurring schedule: Next is its first instant after t (the
// zero time if none within five years), as robfig/cron's Schedule gives.
type Calendar interface {
	Next(t time.Time) time.Time
}

// Limits of a schedule.
const (
	MaxDuesDay      = 28
	MaxTreasuryLen  = 128
	MaxCatchUpMonth = 12
	// MaxCatchUp bounds the periods charged after an outage, however they
	// fall (MaxCatchUpMonth for a monthly schedule).
	MaxCatchUp  = MaxCatchUpMonth
	MaxCronSpec = 100
)

// minCronGap is the least time between two instants of a cron schedule: a
// day, less the hour a daylight-saving change can take from one.
const minCronGap = 23 * time.Hour

// Validate checks the schedule.
func (s *Schedule) Validate() error {
	if err := s.Amount.Currency().Validate(); err != nil {
		return errorf(ErrInvalidSchedule, "%w", err)
	}
	switch {
	case s.Amount.Sign() <= 0:
		return errorf(ErrInvalidSchedule, "amount %s is not positive", s.Amount)
	case s.Cron != nil || s.CronSpec != "":
		if err := s.validateCron(); err != nil {
			return err
		}
	case s.Day < 1 || s.Day > MaxDuesDay:
		return errorf(ErrInvalidSchedule, "day %d outside 1..%d (every month must have it)", s.Day, MaxDuesDay)
	}
	if s.Treasury == "" || len(s.Treasury) > MaxTreasuryLen || !identity.Printable(s.Treasury) || strings.ContainsRune(s.Treasury, ' ') {
		return errorf(ErrInvalidSchedule, "treasury must be a ledger account of 1-%d printable characters without spaces", MaxTreasuryLen)
	}
	return nil
}

// validateCron checks a cron schedule over a common and a leap year (2027,
// 2028): it fires in each, never twice within minCronGap.
func (s *Schedule) validateCron() error {
	switch {
	case s.Day != 0:
		return errorf(ErrInvalidSchedule, "a schedule has a day or a cron expression, not both")
	case s.Cron == nil || s.CronSpec == "" || len(s.CronSpec) > MaxCronSpec || !identity.Printable(s.CronSpec):
		return errorf(ErrInvalidSchedule, "cron expression must be 1-%d printable characters", MaxCronSpec)
	}
	for _, year := range []int{2027, 2028} {
		start := time.Date(year, 1, 1, 0, 0, 0, 0, s.loc())
		end := start.AddDate(1, 0, 0)
		n := 0
		prev := time.Time{}
		for t := s.Cron.Next(start.Add(-time.Nanosecond)); !t.IsZero() && t.Before(end); t = s.Cron.Next(t) {
			if !prev.IsZero() && t.Sub(prev) < minCronGap {
				return errorf(ErrInvalidSchedule, "cron %q fires at %s and again at %s: dues fall due at most once a day",
					s.CronSpec, prev.Format(time.RFC3339), t.Format(time.RFC3339))
			}
			prev, n = t, n+1
		}
		if n == 0 {
			return errorf(ErrInvalidSchedule, "cron %q does not fire in %d: dues fall due at least once a year", s.CronSpec, year)
		}
	}
	return nil
}

func (s *Schedule) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Period is one month of a monthly schedule's dues, or one instant of a
// cron schedule's (At).
type Period struct {
	Year  int
	Month time.Month
	// At is a cron schedule's due instant (UTC, whole minutes); zero for a
	// month.
	At time.Time
}

// cronPeriodLayout is a cron period's text: the instant in UTC.
const cronPeriodLayout = "20060102T1504Z"

// String is the period as YYYY-MM (a month) or YYYYMMDDTHHMMZ (an instant).
func (p Period) String() string {
	if !p.At.IsZero() {
		return p.At.UTC().Format(cronPeriodLayout)
	}
	return fmt.Sprintf("%04d-%02d", p.Year, int(p.Month))
}

// IsZero reports whether p is the zero period (nothing collected yet).
func (p Period) IsZero() bool { return p.Year == 0 && p.Month == 0 && p.At.IsZero() }

// Next is the following month.
func (p Period) Next() Period { return p.add(1) }

func (p Period) add(months int) Period {
	m := p.Year*12 + int(p.Month) - 1 + months
	return Period{Year: m / 12, Month: time.Month(m%12 + 1)}
}

// Before reports whether p is earlier than q.
func (p Period) Before(q Period) bool {
	return p.Year < q.Year || p.Year == q.Year && p.Month < q.Month
}

// ParsePeriod parses YYYY-MM or YYYYMMDDTHHMMZ.
func ParsePeriod(s string) (Period, error) {
	if len(s) == len(cronPeriodLayout) {
		if t, err := time.Parse(cronPeriodLayout, s); err == nil {
			return Period{At: t.UTC()}, nil
		}
	}
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != len("2006-01") {
		return Period{}, errorf(ErrInvalidSchedule, "period %.20q is not YYYY-MM or YYYYMMDDTHHMMZ", s)
	}
	return Period{Year: t.Year(), Month: t.Month()}, nil
}

// DueAt is the instant p's dues fall due.
func (s *Schedule) DueAt(p Period) time.Time {
	if !p.At.IsZero() {
		return p.At
	}
	return time.Date(p.Year, p.Month, s.Day, 0, 0, 0, 0, s.loc())
}

// Latest is the latest period due at or before now (of a monthly schedule;
// see cronDue for a cron one).
func (s *Schedule) Latest(now time.Time) Period {
	local := now.In(s.loc())
	p := Period{Year: local.Year(), Month: local.Month()}
	if now.Before(s.DueAt(p)) {
		p = p.add(-1)
	}
	return p
}

// Payer is a member who owes dues from Since (its joining): periods that
// fell due before it are not charged to it.
type Payer struct {
	Member identity.DID
	Since  time.Time
}

// DuesPayment is one member's dues for one period. ID is a function of the
// co-op, the period and the member only: a run repeated after a crash, on
// another replica or with a changed schedule gives the same id, and the
// ledger, which refuses a payment id it has seen, never charges twice.
type DuesPayment struct {
	ID     string
	Period Period
	From   identity.DID
	To     string
	Amount money.Amount
	DueAt  time.Time
}

// DuesID is the payment id of member's dues for period in coop:
// "dues-YYYY-MM-" and 32 hex digits of a SHA-256 over them.
func DuesID(coop string, p Period, member identity.DID) string {
	h := sha256.Sum256([]byte("icn/v1/dues\n" + coop + "\n" + p.String() + "\n" + string(member)))
	return "dues-" + p.String() + "-" + hex.EncodeToString(h[:16])
}

// DuesDue returns the dues payments due at now, given the last period
// collected (zero if none), and the period to record as collected once
// they are booked, in the same transaction. With no period collected yet,
// only the latest period due is considered; periods due before s.From or
// before a payer's Since are never charged to it; after an outage, every period since the last collected
// is charged, at most MaxCatchUpMonth of them (older months are waived).
// Payments are ordered by period, then member. A payer who is the
// treasury itself pays nothing.
func DuesDue(coop string, s Schedule, payers []Payer, last Period, now time.Time) ([]DuesPayment, Period, error) {
	if err := s.Validate(); err != nil {
		return nil, last, err
	}
	if !validCoop(coop) {
		return nil, last, errorf(ErrInvalidSchedule, "coop must be 1-%d printable characters", MaxCoopLen)
	}
	ps := slices.Clone(payers)
	slices.SortFunc(ps, func(a, b Payer) int { return strings.Compare(string(a.Member), string(b.Member)) })
	for i := 1; i < len(ps); i++ {
		if ps[i].Member == ps[i-1].Member {
			return nil, last, errorf(ErrInvalidSchedule, "payer %s listed twice", ps[i].Member.Short())
		}
	}
	periods, latest := s.due(last, now)
	var out []DuesPayment
	for _, p := range periods {
		due := s.DueAt(p)
		for _, m := range ps {
			if string(m.Member) == s.Treasury || m.Since.After(due) || s.From.After(due) {
				continue
			}
			out = append(out, DuesPayment{ID: DuesID(coop, p, m.Member), Period: p, From: m.Member,
				To: s.Treasury, Amount: s.Amount, DueAt: due})
		}
	}
	if len(periods) == 0 {
		return out, last, nil
	}
	return out, latest, nil
}

// due lists the periods due at now after last, oldest first, at most
// MaxCatchUp of them, and the latest of them. A last period of the other
// kind (the schedule changed between monthly and cron) counts as none: the
// new schedule starts at its From.
func (s *Schedule) due(last Period, now time.Time) ([]Period, Period) {
	if lastIsInstant := !last.At.IsZero(); lastIsInstant != (s.Cron != nil) {
		last = Period{}
	}
	if s.Cron != nil {
		return s.cronDue(last, now)
	}
	latest := s.Latest(now)
	first := last.Next()
	if last.IsZero() {
		first = latest
	}
	if monthsBetween(first, latest) >= MaxCatchUpMonth {
		first = latest.add(1 - MaxCatchUpMonth)
	}
	var out []Period
	for p := first; !latest.Before(p); p = p.Next() {
		out = append(out, p)
	}
	return out, latest
}

// cronDue is due for a cron schedule: its instants in (last, now], or only
// the latest with nothing collected yet. Validate bounds how many a year
// holds, and the walk starts no earlier than MaxCatchUp years back.
func (s *Schedule) cronDue(last Period, now time.Time) ([]Period, Period) {
	floor := now.AddDate(-MaxCatchUp, 0, -1)
	if last.IsZero() {
		floor = now.AddDate(-1, 0, -1) // it fires at least once a year
	}
	from := floor
	if !last.IsZero() && last.At.After(floor) {
		from = last.At
	}
	var out []Period
	for t := s.Cron.Next(from.In(s.loc())); !t.IsZero() && !t.After(now); t = s.Cron.Next(t) {
		out = append(out, Period{At: t.UTC().Truncate(time.Minute)})
		if len(out) > MaxCatchUp {
			out = out[1:]
		}
	}
	if len(out) == 0 {
		return nil, last
	}
	if last.IsZero() {
		out = out[len(out)-1:]
	}
	return out, out[len(out)-1]
}

// monthsBetween is the number of months from a to b.
func monthsBetween(a, b Period) int {
	return (b.Year-a.Year)*12 + int(b.Month) - int(a.Month)
}
