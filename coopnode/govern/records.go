package govern

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/tzdb"
	"github.com/icn-coop/icn/money"
)

// The types below are the stored form of governance records and their form
// on the wire (JSON, snake_case): money as its decimal string with the
// currency code, signed bytes as base64url, times in RFC 3339.

// Amount is money: the decimal string in its currency's scale, and the code.
type Amount struct {
	Value    string `json:"amount"`
	Currency string `json:"currency"`
}

func amountOf(a money.Amount) Amount { return Amount{Value: a.String(), Currency: a.Currency().Code} }

func amountsOf(as []money.Amount) []Amount {
	out := make([]Amount, len(as))
	for i, a := range as {
		out[i] = amountOf(a)
	}
	return out
}

// lookup finds a currency by code (the ledger's currencies).
type lookup func(code string) (money.Currency, error)

func (a Amount) parse(cur lookup) (money.Amount, error) {
	c, err := cur(a.Currency)
	if err != nil {
		return money.Amount{}, fmt.Errorf("%w: unknown currency %.20q", governance.ErrInvalidProposal, a.Currency)
	}
	v, err := money.Parse(a.Value, c)
	if err != nil {
		return money.Amount{}, fmt.Errorf("%w: amount %.40q: %w", governance.ErrInvalidProposal, a.Value, err)
	}
	return v, nil
}

func parseAmounts(as []Amount, cur lookup) ([]money.Amount, error) {
	out := make([]money.Amount, len(as))
	for i, a := range as {
		v, err := a.parse(cur)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Change is what a proposal changes if it passes (governance.Change).
type Change struct {
	DefaultCreditLimit *Amount       `json:"default_credit_limit,omitempty"`
	CreditLimits       []CreditLimit `json:"credit_limits,omitempty"`
	Roles              []RoleChange  `json:"roles,omitempty"`
	Remove             identity.DID  `json:"remove,omitempty"`
	// Restore is set by an appeal (never by a client).
	Restore *Removal  `json:"restore,omitempty"`
	Dues    *Schedule `json:"dues,omitempty"`
}

// CreditLimit is one member's new limit.
type CreditLimit struct {
	Member identity.DID `json:"member"`
	Limit  Amount       `json:"limit"`
}

// RoleChange grants (Grant) or revokes Role for Member.
type RoleChange struct {
	Member identity.DID `json:"member"`
	Role   string       `json:"role"`
	Grant  bool         `json:"grant"`
}

// Schedule is the dues schedule (governance.Schedule); TimeZone is an IANA
// name, "" for UTC.
type Schedule struct {
	Amount Amount `json:"amount"`
	// Day (monthly, 1-28) or Cron (a standard 5-field cron expression or
	// @yearly, @monthly, @weekly, @daily; in TimeZone): one of the two.
	Day      int       `json:"day,omitempty"`
	Cron     string    `json:"cron,omitempty"`
	Treasury string    `json:"treasury"`
	TimeZone string    `json:"time_zone,omitempty"`
	From     time.Time `json:"from,omitzero"`
}

// Removal is a member's removal (governance.Removal) and what became of it.
type Removal struct {
	Member       identity.DID `json:"member"`
	Proposal     string       `json:"proposal"`
	RemovedAt    time.Time    `json:"removed_at"`
	AppealUntil  time.Time    `json:"appeal_until"`
	Roles        []string     `json:"roles"`
	CreditLimits []Amount     `json:"credit_limits"`
	Appeal       string       `json:"appeal,omitempty"`
	// ResolvedBy is the appeal that reversed the removal.
	ResolvedBy string `json:"resolved_by,omitempty"`
}

func (c Change) domain(cur lookup) (governance.Change, error) {
	var out governance.Change
	if c.DefaultCreditLimit != nil {
		v, err := c.DefaultCreditLimit.parse(cur)
		if err != nil {
			return out, err
		}
		out.DefaultCreditLimit = &v
	}
	for _, l := range c.CreditLimits {
		v, err := l.Limit.parse(cur)
		if err != nil {
			return out, err
		}
		out.CreditLimits = append(out.CreditLimits, governance.CreditLimit{Member: l.Member, Limit: v})
	}
	for _, r := range c.Roles {
		out.Roles = append(out.Roles, governance.RoleChange(r))
	}
	out.Remove = c.Remove
	if c.Restore != nil {
		r, err := c.Restore.domain(cur)
		if err != nil {
			return out, err
		}
		out.Restore = &r
	}
	if c.Dues != nil {
		s, err := c.Dues.domain(cur)
		if err != nil {
			return out, err
		}
		out.Dues = &s
	}
	return out, nil
}

func changeOf(c governance.Change) Change {
	var out Change
	if c.DefaultCreditLimit != nil {
		a := amountOf(*c.DefaultCreditLimit)
		out.DefaultCreditLimit = &a
	}
	for _, l := range c.CreditLimits {
		out.CreditLimits = append(out.CreditLimits, CreditLimit{Member: l.Member, Limit: amountOf(l.Limit)})
	}
	for _, r := range c.Roles {
		out.Roles = append(out.Roles, RoleChange(r))
	}
	out.Remove = c.Remove
	if c.Restore != nil {
		r := removalOf(*c.Restore)
		out.Restore = &r
	}
	if c.Dues != nil {
		s := scheduleOf(*c.Dues)
		out.Dues = &s
	}
	return out
}

func (s Schedule) domain(cur lookup) (governance.Schedule, error) {
	a, err := s.Amount.parse(cur)
	if err != nil {
		return governance.Schedule{}, fmt.Errorf("%w: %w", governance.ErrInvalidSchedule, err)
	}
	out := governance.Schedule{Amount: a, Day: s.Day, Treasury: s.Treasury, From: s.From}
	if s.TimeZone != "" {
		// The binary's pinned zoneinfo, not the host's: every node must
		// compute the same periods (internal/tzdb).
		loc, err := tzdb.Load(s.TimeZone)
		if err != nil {
			return governance.Schedule{}, fmt.Errorf("%w: time zone %.40q is not an IANA zone name", governance.ErrInvalidSchedule, s.TimeZone)
		}
		out.Location = loc
	}
	if s.Cron != "" {
		if out.Cron, err = parseCron(s.Cron, out.Location); err != nil {
			return governance.Schedule{}, err
		}
		out.CronSpec = s.Cron
	}
	return out, nil
}

// parseCron parses a dues schedule's cron expression with robfig/cron's
// standard parser, evaluated in loc (nil: UTC). A time zone in the
// expression and @every are refused: the zone is the schedule's time_zone,
// and @every counts from whenever it is asked, which no two nodes share.
func parseCron(spec string, loc *time.Location) (governance.Calendar, error) {
	if len(spec) > governance.MaxCronSpec {
		return nil, fmt.Errorf("%w: cron expression longer than %d bytes", governance.ErrInvalidSchedule, governance.MaxCronSpec)
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("%w: cron %.40q names a time zone: set time_zone instead", governance.ErrInvalidSchedule, spec)
	}
	c, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: cron %.40q: %w", governance.ErrInvalidSchedule, spec, err)
	}
	ss, ok := c.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%w: cron %.40q: @every is not a calendar schedule; use a cron expression", governance.ErrInvalidSchedule, spec)
	}
	if loc == nil {
		loc = time.UTC
	}
	ss.Location = loc
	return ss, nil
}

func scheduleOf(s governance.Schedule) Schedule {
	out := Schedule{Amount: amountOf(s.Amount), Day: s.Day, Cron: s.CronSpec, Treasury: s.Treasury, From: s.From.UTC()}
	if s.Location != nil && s.Location != time.UTC {
		out.TimeZone = s.Location.String()
	}
	return out
}

func (r Removal) domain(cur lookup) (governance.Removal, error) {
	limits, err := parseAmounts(r.CreditLimits, cur)
	if err != nil {
		return governance.Removal{}, err
	}
	return governance.Removal{Member: r.Member, Proposal: r.Proposal, RemovedAt: r.RemovedAt,
		Roles: slices.Clone(r.Roles), CreditLimits: limits, Appeal: r.Appeal}, nil
}

func removalOf(r governance.Removal) Removal {
	return Removal{Member: r.Member, Proposal: r.Proposal, RemovedAt: r.RemovedAt.UTC(), AppealUntil: r.AppealUntil().UTC(),
		Roles: slices.Clone(r.Roles), CreditLimits: amountsOf(r.CreditLimits), Appeal: r.Appeal}
}

// Rule is a kind's rule as a proposal copied it when it opened.
type Rule struct {
	Threshold         string `json:"threshold"`
	QuorumNum         int    `json:"quorum_num"`
	QuorumDen         int    `json:"quorum_den"`
	DiscussionSeconds int64  `json:"discussion_seconds"`
	VotingSeconds     int64  `json:"voting_seconds"`
}

func ruleOf(r governance.Rule) Rule {
	return Rule{Threshold: string(r.Threshold), QuorumNum: r.Quorum.Num, QuorumDen: r.Quorum.Den,
		DiscussionSeconds: int64(r.Discussion / time.Second), VotingSeconds: int64(r.Voting / time.Second)}
}

func (r Rule) domain() governance.Rule {
	return governance.Rule{Threshold: governance.Threshold(r.Threshold), Quorum: governance.Fraction{Num: r.QuorumNum, Den: r.QuorumDen},
		Discussion: time.Duration(r.DiscussionSeconds) * time.Second, Voting: time.Duration(r.VotingSeconds) * time.Second}
}

// Ballot is a vote as recorded: the exact signed bytes and signature
// (base64url) with what they say, and when it was cast.
type Ballot struct {
	Voter     identity.DID `json:"voter"`
	Choice    string       `json:"choice"`
	Revision  uint32       `json:"revision"`
	Vote      string       `json:"vote"`
	Signature string       `json:"signature"`
	At        time.Time    `json:"at"`
}

// Tally is a count (governance.Tally).
type Tally struct {
	Eligible int       `json:"eligible"`
	For      int       `json:"for"`
	Against  int       `json:"against"`
	Abstain  int       `json:"abstain"`
	Counted  []Counted `json:"counted"`
}

// Counted is one member who counted, with whose ballot.
type Counted struct {
	Member identity.DID `json:"member"`
	Choice string       `json:"choice"`
	By     identity.DID `json:"by"`
}

func tallyOf(t governance.Tally) Tally {
	out := Tally{Eligible: t.Eligible, For: t.For, Against: t.Against, Abstain: t.Abstain, Counted: []Counted{}}
	for _, c := range t.Counted {
		out.Counted = append(out.Counted, Counted{Member: c.Member, Choice: string(c.Choice), By: c.By})
	}
	return out
}

// Outcome is how a proposal closed and what its effects did.
type Outcome struct {
	Status   string       `json:"status"`
	Result   string       `json:"result"`
	Tally    *Tally       `json:"tally,omitempty"`
	ClosedAt time.Time    `json:"closed_at"`
	ClosedBy identity.DID `json:"closed_by,omitempty"`
	Effects  []Applied    `json:"effects"`
}

// Applied is one effect as the node applied it, or why it skipped it.
type Applied struct {
	Type    string       `json:"type"`
	Member  identity.DID `json:"member,omitempty"`
	Detail  string       `json:"detail,omitempty"`
	Skipped string       `json:"skipped,omitempty"`
}

// Proposal is a proposal's record: what it proposes, the rule and
// electorate fixed when it opened, every ballot, and its outcome.
type Proposal struct {
	ID           string         `json:"id"`
	Coop         string         `json:"coop"`
	Kind         string         `json:"kind"`
	Title        string         `json:"title"`
	Body         string         `json:"body"`
	Proposer     identity.DID   `json:"proposer"`
	Change       Change         `json:"change"`
	Rule         Rule           `json:"rule"`
	OpenedAt     time.Time      `json:"opened_at"`
	VotingStarts time.Time      `json:"voting_starts"`
	VotingEnds   time.Time      `json:"voting_ends"`
	Electorate   []identity.DID `json:"electorate"`
	Status       string         `json:"status"`
	Ballots      []Ballot       `json:"ballots"`
	Outcome      *Outcome       `json:"outcome,omitempty"`
}

func proposalOf(p *governance.Proposal) *Proposal {
	out := &Proposal{ID: p.ID, Coop: p.Coop, Kind: string(p.Kind), Title: p.Title, Body: p.Body, Proposer: p.Proposer,
		Change: changeOf(p.Change), Rule: ruleOf(p.Rule), OpenedAt: p.OpenedAt.UTC(), VotingStarts: p.VotingStarts.UTC(),
		VotingEnds: p.VotingEnds.UTC(), Electorate: slices.Clone(p.Electorate), Status: string(p.Status), Ballots: []Ballot{}}
	if out.Electorate == nil {
		out.Electorate = []identity.DID{}
	}
	for _, b := range p.Ballots {
		out.Ballots = append(out.Ballots, Ballot{Voter: b.Vote.Voter, Choice: string(b.Vote.Choice), Revision: b.Vote.Revision,
			Vote: identity.B64(b.Vote.Payload), Signature: identity.B64(b.Vote.Signature), At: b.At.UTC()})
	}
	return out
}

// domain is the proposal for the rules to move: its ballots re-read by the
// strict decoder (their signatures were checked when they were cast).
func (p *Proposal) domain(cur lookup) (*governance.Proposal, error) {
	ch, err := p.Change.domain(cur)
	if err != nil {
		return nil, fmt.Errorf("proposal %s: %w", p.ID, err)
	}
	out := &governance.Proposal{ID: p.ID, Coop: p.Coop, Kind: governance.Kind(p.Kind), Title: p.Title, Body: p.Body,
		Proposer: p.Proposer, Change: ch, Rule: p.Rule.domain(), OpenedAt: p.OpenedAt, VotingStarts: p.VotingStarts,
		VotingEnds: p.VotingEnds, Electorate: slices.Clone(p.Electorate), Status: governance.Status(p.Status)}
	for _, b := range p.Ballots {
		raw, err1 := identity.DecodeB64(b.Vote)
		sig, err2 := identity.DecodeB64(b.Signature)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("proposal %s: ballot: %w", p.ID, err)
		}
		v, err := governance.ParseVote(raw, sig)
		if err != nil {
			return nil, fmt.Errorf("proposal %s: ballot: %w", p.ID, err)
		}
		out.Ballots = append(out.Ballots, governance.Ballot{Vote: v, At: b.At})
	}
	return out, nil
}
