package governance

import (
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/icn-coop/icn/identity"
)

// Status is where a proposal is in its life:
//
//	discussion ──(voting starts)──▶ voting ──(deadline, or a moderator)──▶ passed | failed
//	     └──────────────┴──(proposer or moderator)──▶ cancelled
type Status string

// The statuses.
const (
	StatusDiscussion Status = "discussion"
	StatusVoting     Status = "voting"
	StatusPassed     Status = "passed"
	StatusFailed     Status = "failed"
	StatusCancelled  Status = "cancelled"
)

// Closed reports whether s is final.
func (s Status) Closed() bool {
	return s == StatusPassed || s == StatusFailed || s == StatusCancelled
}

// Draft is what a proposer submits.
type Draft struct {
	ID       string // chosen by the co-op node (unique in the co-op)
	Coop     string
	Kind     Kind
	Title    string
	Body     string // the text under discussion
	Proposer identity.DID
	Change   Change
}

// Limits on a proposal's text.
const (
	MaxTitleBytes = 200
	MaxBodyBytes  = 16 << 10
)

// Proposal is one proposal's record: what it proposes, the rule and
// electorate fixed when it opened, every vote cast (the audit trail), and
// its outcome once closed. Its methods are the events that move it; each
// takes the event's time and either succeeds or leaves the record as it was.
type Proposal struct {
	ID       string
	Coop     string
	Kind     Kind
	Title    string
	Body     string
	Proposer identity.DID
	Change   Change
	// Rule is the kind's rule when the proposal opened: a later policy
	// change does not alter a running vote.
	Rule Rule
	// OpenedAt + Rule.Discussion = VotingStarts; + Rule.Voting = VotingEnds
	// (the deadline, exclusive).
	OpenedAt, VotingStarts, VotingEnds time.Time
	// Electorate is the voting members when the proposal opened, sorted
	// (for a removal, without the member to be removed). The quorum is a
	// share of it; nobody outside it votes.
	Electorate []identity.DID
	Status     Status
	// Ballots are every vote accepted, in the order cast; a voter's latest
	// revision is the one that counts.
	Ballots []Ballot
	// Outcome is set once the proposal is closed.
	Outcome *Outcome
}

// Ballot is a vote as recorded: the signed vote and when it was cast.
type Ballot struct {
	Vote Vote
	At   time.Time
}

// Open opens a proposal from d at at: the proposer must hold RoleProposer,
// the change must fit the kind (appeals are opened by OpenAppeal), and the
// policy gives the rule.
func Open(d Draft, r Roster, policy Policy, at time.Time) (*Proposal, error) {
	if d.Kind == KindAppeal {
		return nil, errorf(ErrInvalidProposal, "appeals are filed by the removed member (OpenAppeal)")
	}
	if err := requireRole(r, d.Proposer, RoleProposer); err != nil {
		return nil, err
	}
	return open(d, r, policy, at)
}

func open(d Draft, r Roster, policy Policy, at time.Time) (*Proposal, error) {
	if err := d.validate(r); err != nil {
		return nil, err
	}
	rule, ok := policy[d.Kind]
	if !ok {
		return nil, errorf(ErrInvalidPolicy, "no rule for %s proposals", d.Kind)
	}
	if err := rule.validate(); err != nil {
		return nil, err
	}
	p := &Proposal{
		ID: d.ID, Coop: d.Coop, Kind: d.Kind, Title: d.Title, Body: d.Body, Proposer: d.Proposer,
		Change: d.Change, Rule: rule, OpenedAt: at,
		VotingStarts: at.Add(rule.Discussion), VotingEnds: at.Add(rule.Discussion + rule.Voting),
		Electorate: electorate(r, d.Change.Remove), Status: StatusDiscussion,
	}
	if rule.Discussion == 0 {
		p.Status = StatusVoting
	}
	return p, nil
}

// electorate is the sorted, distinct voters, without the member a removal
// would remove (nobody votes on their own removal).
func electorate(r Roster, subject identity.DID) []identity.DID {
	out := slices.Clone(r.Voters())
	slices.Sort(out)
	out = slices.Compact(out)
	if subject != "" {
		out = slices.DeleteFunc(out, func(m identity.DID) bool { return m == subject })
	}
	return out
}

func (d Draft) validate(r Roster) error {
	switch {
	case !identity.ValidID(d.ID, MaxIDLen):
		return errorf(ErrInvalidProposal, "id must be 1-%d characters of letters, digits, '-', '_', '.', ':'", MaxIDLen)
	case !validCoop(d.Coop):
		return errorf(ErrInvalidProposal, "coop must be 1-%d printable characters", MaxCoopLen)
	case !slices.Contains(Kinds, d.Kind):
		return errorf(ErrInvalidProposal, "kind %.20q is not one of %v", d.Kind, Kinds)
	case d.Title == "" || len(d.Title) > MaxTitleBytes || !identity.Printable(d.Title):
		return errorf(ErrInvalidProposal, "title must be 1-%d bytes of printable text", MaxTitleBytes)
	case len(d.Body) > MaxBodyBytes || !text(d.Body):
		return errorf(ErrInvalidProposal, "body must be at most %d bytes of text (no control characters but newline and tab)", MaxBodyBytes)
	}
	return d.Change.validate(d.Kind, r)
}

// text: valid UTF-8, no control characters but newline and tab, no bidi
// controls.
func text(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c != '\n' && c != '\t' && unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) {
			return false
		}
	}
	return true
}

// phase is the proposal's status at at, following the clock: Discussion
// turns into Voting at VotingStarts by itself; closing needs Advance or
// Close, which report the outcome.
func (p *Proposal) phase(at time.Time) Status {
	if p.Status == StatusDiscussion && !at.Before(p.VotingStarts) {
		return StatusVoting
	}
	return p.Status
}

// votingAt returns nil if votes may be cast or voting closed early at at.
func (p *Proposal) votingAt(at time.Time) error {
	switch s := p.phase(at); {
	case s.Closed():
		return errorf(ErrNotVoting, "proposal %s is %s", p.ID, s)
	case s == StatusDiscussion || at.Before(p.VotingStarts):
		return errorf(ErrNotVoting, "proposal %s is in discussion until %s", p.ID, p.VotingStarts.UTC().Format(time.RFC3339))
	case !at.Before(p.VotingEnds):
		return errorf(ErrNotVoting, "voting on %s ended at %s", p.ID, p.VotingEnds.UTC().Format(time.RFC3339))
	}
	return nil
}

// Cast records v at at. The voter must be a member in the electorate, and
// the vote for this proposal in its voting period. A voter may change their
// vote until the proposal closes by casting a higher revision; the latest
// counts, once. Cast reports false, and changes nothing, for a repeat of a
// vote already recorded (the same bytes), so a retried command is harmless.
func (p *Proposal) Cast(v Vote, r Roster, at time.Time) (bool, error) {
	if v.Coop != p.Coop || v.Proposal != p.ID {
		return false, errorf(ErrWrongProposal, "vote for %s/%s cast on %s/%s", v.Coop, v.Proposal, p.Coop, p.ID)
	}
	for _, b := range p.Ballots {
		if b.Vote.Hash == v.Hash {
			return false, nil
		}
	}
	if err := p.votingAt(at); err != nil {
		return false, err
	}
	if _, err := member(r, v.Voter); err != nil {
		return false, err
	}
	if _, ok := slices.BinarySearch(p.Electorate, v.Voter); !ok {
		return false, errorf(ErrNotEligible, "%s was not a voting member when %s opened", v.Voter.Short(), p.ID)
	}
	if last, ok := p.latest(v.Voter); ok && v.Revision <= last.Vote.Revision {
		return false, errorf(ErrAlreadyVoted, "revision %d is recorded for %s; sign revision %d to change the vote",
			last.Vote.Revision, v.Voter.Short(), last.Vote.Revision+1)
	}
	p.Status = StatusVoting
	p.Ballots = append(p.Ballots, Ballot{Vote: v, At: at})
	return true, nil
}

// latest is voter's ballot with the highest revision.
func (p *Proposal) latest(voter identity.DID) (Ballot, bool) {
	var best Ballot
	found := false
	for _, b := range p.Ballots {
		if b.Vote.Voter == voter && (!found || b.Vote.Revision > best.Vote.Revision) {
			best, found = b, true
		}
	}
	return best, found
}

// Advance moves p along the clock to at: discussion turns into voting, and
// a proposal whose deadline has passed closes, tallied with d. It returns
// the outcome if this call closed p, else nil.
//
// The co-op node calls Advance on every proposal whose deadline is at or
// before a command's time before it applies the command, so that the tally
// sees the delegations as they stood at the deadline.
func (p *Proposal) Advance(d *Delegations, at time.Time) *Outcome {
	if p.Status.Closed() {
		return nil
	}
	p.Status = p.phase(at)
	if at.Before(p.VotingEnds) {
		return nil
	}
	return p.close(d, p.VotingEnds, "")
}

// Close closes voting early at at, as moderator by did.
func (p *Proposal) Close(by identity.DID, r Roster, d *Delegations, at time.Time) (*Outcome, error) {
	if p.Status.Closed() {
		return nil, errorf(ErrClosed, "proposal %s is %s", p.ID, p.Status)
	}
	if err := p.votingAt(at); err != nil {
		return nil, err
	}
	if err := requireRole(r, by, RoleModerator); err != nil {
		return nil, err
	}
	return p.close(d, at, by), nil
}

// Cancel withdraws p at at, by its proposer or a moderator, before it
// closes. A cancelled proposal has no effects.
func (p *Proposal) Cancel(by identity.DID, r Roster, at time.Time) (*Outcome, error) {
	if p.Status.Closed() {
		return nil, errorf(ErrClosed, "proposal %s is %s", p.ID, p.Status)
	}
	if !at.Before(p.VotingEnds) {
		return nil, errorf(ErrNotVoting, "voting on %s ended at %s; it closes with its tally", p.ID, p.VotingEnds.UTC().Format(time.RFC3339))
	}
	if err := p.mayCancel(by, r); err != nil {
		return nil, err
	}
	p.Status = StatusCancelled
	p.Outcome = &Outcome{Proposal: p.ID, Status: StatusCancelled, Result: ResultCancelled, ClosedAt: at, ClosedBy: by}
	return p.Outcome, nil
}

// mayCancel: a moderator, or the proposer while a member (an appellant,
// who is not one, may withdraw their appeal).
func (p *Proposal) mayCancel(by identity.DID, r Roster) error {
	if by != p.Proposer {
		return requireRole(r, by, RoleModerator)
	}
	if p.Kind == KindAppeal {
		return nil
	}
	_, err := member(r, by)
	return err
}

func (p *Proposal) close(d *Delegations, at time.Time, by identity.DID) *Outcome {
	t := p.Tally(d)
	res := t.result(p.Rule)
	o := &Outcome{Proposal: p.ID, Status: StatusFailed, Result: res, Tally: t, ClosedAt: at, ClosedBy: by}
	if res == ResultPassed {
		o.Status = StatusPassed
		o.Effects = p.Change.effects(p.Kind, p.ID, at)
	}
	p.Status, p.Outcome = o.Status, o
	return o
}
