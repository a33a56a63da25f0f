package governance

import (
	"slices"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// AppealWindow is how long after removal the member may appeal.
const AppealWindow = 30 * day

// Removal is the record of a member's removal, which an appeal reverses.
// The domain fills Member, Proposal and RemovedAt (RecordRemoval); the
// co-op node fills Roles and CreditLimits with what it took away.
type Removal struct {
	Member    identity.DID
	Proposal  string // the removal proposal
	RemovedAt time.Time
	Roles     []string
	// CreditLimits are the member's limits before removal, one per currency.
	CreditLimits []money.Amount
	// Appeal is the id of the appeal proposal, once filed.
	Appeal string
}

// AppealUntil is the end (exclusive) of the appeal window.
func (r Removal) AppealUntil() time.Time { return r.RemovedAt.Add(AppealWindow) }

// AppealDraft is what a removed member submits.
type AppealDraft struct {
	ID, Coop    string
	Appellant   identity.DID
	Title, Body string
}

// OpenAppeal opens an appeal of removal r at at, by the removed member,
// within the appeal window, once per removal. The appeal is a new proposal
// of KindAppeal decided by the members (the appellant, no longer one, does
// not vote); if it passes, its effects restore membership, trust and
// credit. OpenAppeal records the appeal's id in r.
func OpenAppeal(r *Removal, a AppealDraft, roster Roster, policy Policy, at time.Time) (*Proposal, error) {
	switch {
	case a.Appellant != r.Member:
		return nil, errorf(ErrNotAuthorised, "only %s may appeal its removal", r.Member.Short())
	case r.Appeal != "":
		return nil, errorf(ErrAppealFiled, "removal of %s was appealed by %s", r.Member.Short(), r.Appeal)
	case at.Before(r.RemovedAt):
		return nil, errorf(ErrInvalidProposal, "appeal at %s precedes the removal", at.UTC().Format(time.RFC3339))
	case !at.Before(r.AppealUntil()):
		return nil, errorf(ErrAppealWindow, "removal of %s could be appealed until %s", r.Member.Short(), r.AppealUntil().UTC().Format(time.RFC3339))
	}
	if _, ok := roster.Roles(r.Member); ok {
		return nil, errorf(ErrInvalidProposal, "%s is a member again", r.Member.Short())
	}
	restore := *r
	restore.Roles = slices.Clone(r.Roles)
	restore.CreditLimits = slices.Clone(r.CreditLimits)
	restore.Appeal = a.ID
	p, err := open(Draft{ID: a.ID, Coop: a.Coop, Kind: KindAppeal, Title: a.Title, Body: a.Body,
		Proposer: a.Appellant, Change: Change{Restore: &restore}}, roster, policy, at)
	if err != nil {
		return nil, err
	}
	r.Appeal = a.ID
	return p, nil
}
