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
// of every month, at midnight in Location.
type Schedule struct {
	Amount money.Amount
	// Day is the day of the month, 1-28 (every month has it).
	Day int
	// Treasury is the ledger account that receives the dues.
	Treasury string
	// Location is the time zone of the due instant; nil is UTC.
	Location *time.Location
	// From is when the schedule took effect: periods due before it are not
	// charged. A passed dues proposal sets it to its close (SetDues) unless
	// it names a later start.
	From time.Time
}

// Limits of a schedule.
const (
	MaxDuesDay      = 28
	MaxTreasuryLen  = 128
	MaxCatchUpMonth = 12
)

// Validate checks the schedule.
func (s *Schedule) Validate() error {
	if err := s.Amount.Currency().Validate(); err != nil {
		return errorf(ErrInvalidSchedule, "%w", err)
	}
	switch {
	case s.Amount.Sign() <= 0:
		return errorf(ErrInvalidSchedule, "amount %s is not positive", s.Amount)
	case s.Day < 1 || s.Day > MaxDuesDay:
		return errorf(ErrInvalidSchedule, "day %d outside 1..%d (every month must have it)", s.Day, MaxDuesDay)
	case s.Treasury == "" || len(s.Treasury) > MaxTreasuryLen || !identity.Printable(s.Treasury) || strings.ContainsRune(s.Treasury, ' '):
		return errorf(ErrInvalidSchedule, "treasury must be a ledger account of 1-%d printable characters without spaces", MaxTreasuryLen)
	}
	return nil
}

func (s *Schedule) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Period is one month of dues.
type Period struct {
	Year  int
	Month time.Month
}

// String is the period as YYYY-MM.
func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, int(p.Month)) }

// IsZero reports whether p is the zero period (nothing collected yet).
func (p Period) IsZero() bool { return p == Period{} }

// Next is the following month.
func (p Period) Next() Period { return p.add(1) }

func (p Period) add(months int) Period {
	m := p.Year*12 + int(p.Month) - 1 + months
	return Period{m / 12, time.Month(m%12 + 1)}
}

// Before reports whether p is earlier than q.
func (p Period) Before(q Period) bool {
	return p.Year < q.Year || p.Year == q.Year && p.Month < q.Month
}

// ParsePeriod parses YYYY-MM.
func ParsePeriod(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != len("2006-01") {
		return Period{}, errorf(ErrInvalidSchedule, "period %.20q is not YYYY-MM", s)
	}
	return Period{t.Year(), t.Month()}, nil
}

// DueAt is the instant p's dues fall due.
func (s *Schedule) DueAt(p Period) time.Time {
	return time.Date(p.Year, p.Month, s.Day, 0, 0, 0, 0, s.loc())
}

// Latest is the latest period due at or before now.
func (s *Schedule) Latest(now time.Time) Period {
	local := now.In(s.loc())
	p := Period{local.Year(), local.Month()}
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
	latest := s.Latest(now)
	first := last.Next()
	if last.IsZero() {
		first = latest
	}
	if monthsBetween(first, latest) >= MaxCatchUpMonth {
		first = latest.add(1 - MaxCatchUpMonth)
	}
	var out []DuesPayment
	for p := first; !latest.Before(p); p = p.Next() {
		due := s.DueAt(p)
		for _, m := range ps {
			if string(m.Member) == s.Treasury || m.Since.After(due) || s.From.After(due) {
				continue
			}
			out = append(out, DuesPayment{ID: DuesID(coop, p, m.Member), Period: p, From: m.Member,
				To: s.Treasury, Amount: s.Amount, DueAt: due})
		}
	}
	if latest.Before(first) {
		return out, last, nil
	}
	return out, latest, nil
}

// monthsBetween is the number of months from a to b.
func monthsBetween(a, b Period) int {
	return (b.Year-a.Year)*12 + int(b.Month) - int(a.Month)
}
