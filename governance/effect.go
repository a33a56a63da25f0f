package governance

import (
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Effect is one change a passed proposal makes. The co-op node applies a
// proposal's effects, in order, in the transaction that records its
// close; the domain decides them and applies nothing. The concrete types
// below are all there are.
type Effect interface{ effect() }

// SetDefaultCreditLimit sets the credit limit new members get in Limit's
// currency.
type SetDefaultCreditLimit struct{ Limit money.Amount }

// SetCreditLimit sets Member's credit limit in Limit's currency.
type SetCreditLimit struct {
	Member identity.DID
	Limit  money.Amount
}

// GrantRole adds Role to Member's credential.
type GrantRole struct {
	Member identity.DID
	Role   string
}

// RevokeRole removes Role from Member's credential.
type RevokeRole struct {
	Member identity.DID
	Role   string
}

// SetDues replaces the co-op's dues schedule.
type SetDues struct{ Schedule Schedule }

// RevokeCredential revokes Member's membership credential: its tokens stop
// working.
type RevokeCredential struct{ Member identity.DID }

// ZeroCredit sets Member's credit limit to zero in every currency.
type ZeroCredit struct{ Member identity.DID }

// FlagBalance marks Member's outstanding balance for the treasurers (a
// removed member's debt is the co-op's to settle).
type FlagBalance struct{ Member identity.DID }

// SuspendTrust suspends Member's trust standing (the vouches it gave and
// received) while removed.
type SuspendTrust struct{ Member identity.DID }

// DropDelegations removes every delegation from or to Member
// (Delegations.Drop).
type DropDelegations struct{ Member identity.DID }

// RecordRemoval stores the removal, so that the member may appeal. The
// co-op node fills Removal.Roles and Removal.CreditLimits with what it
// took away when applying the effects before it, for an appeal to restore.
type RecordRemoval struct{ Removal Removal }

// RestoreMembership issues Member a credential with Roles again.
type RestoreMembership struct {
	Member identity.DID
	Roles  []string
}

// RestoreCredit sets Member's credit limits back to Limits (one per
// currency).
type RestoreCredit struct {
	Member identity.DID
	Limits []money.Amount
}

// RestoreTrust lifts SuspendTrust.
type RestoreTrust struct{ Member identity.DID }

// ClearBalanceFlag lifts FlagBalance.
type ClearBalanceFlag struct{ Member identity.DID }

// ResolveRemoval marks the removal of Member at RemovedAt as reversed by
// the appeal.
type ResolveRemoval struct {
	Member    identity.DID
	RemovedAt time.Time
}

func (SetDefaultCreditLimit) effect() {}
func (SetCreditLimit) effect()        {}
func (GrantRole) effect()             {}
func (RevokeRole) effect()            {}
func (SetDues) effect()               {}
func (RevokeCredential) effect()      {}
func (ZeroCredit) effect()            {}
func (FlagBalance) effect()           {}
func (SuspendTrust) effect()          {}
func (DropDelegations) effect()       {}
func (RecordRemoval) effect()         {}
func (RestoreMembership) effect()     {}
func (RestoreCredit) effect()         {}
func (RestoreTrust) effect()          {}
func (ClearBalanceFlag) effect()      {}
func (ResolveRemoval) effect()        {}
