package governance

import (
	"fmt"
	"slices"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Change is what a proposal does if it passes. Which fields may be set
// depends on the proposal's kind:
//
//	economic    DefaultCreditLimit and/or CreditLimits
//	membership  Roles
//	removal     Remove
//	appeal      Restore (set by OpenAppeal)
//	dues        Dues
type Change struct {
	DefaultCreditLimit *money.Amount
	CreditLimits       []CreditLimit
	Roles              []RoleChange
	Remove             identity.DID
	Restore            *Removal
	Dues               *Schedule
}

// CreditLimit is one member's new credit limit in Limit's currency.
type CreditLimit struct {
	Member identity.DID
	Limit  money.Amount
}

// RoleChange grants (Grant) or revokes Role for Member.
type RoleChange struct {
	Member identity.DID
	Role   string
	Grant  bool
}

// MaxChanges bounds the items of one change.
const MaxChanges = 256

func (c Change) validate(k Kind, r Roster) error {
	economic := c.DefaultCreditLimit != nil || len(c.CreditLimits) > 0
	set := map[Kind]bool{
		KindEconomic: economic, KindMembership: len(c.Roles) > 0, KindRemoval: c.Remove != "",
		KindAppeal: c.Restore != nil, KindDues: c.Dues != nil,
	}
	for _, other := range Kinds {
		if other != k && set[other] {
			return errorf(ErrInvalidProposal, "a %s proposal carries a %s change", k, other)
		}
	}
	if !set[k] {
		return errorf(ErrInvalidProposal, "a %s proposal changes nothing", k)
	}
	if len(c.CreditLimits) > MaxChanges || len(c.Roles) > MaxChanges {
		return errorf(ErrInvalidProposal, "more than %d changes in one proposal", MaxChanges)
	}
	switch k {
	case KindEconomic:
		return c.validateCredit(r)
	case KindMembership:
		return c.validateRoles(r)
	case KindRemoval:
		if _, err := member(r, c.Remove); err != nil {
			return errorf(ErrInvalidProposal, "removal: %w", err)
		}
	case KindDues:
		if err := c.Dues.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidProposal, err)
		}
	case KindAppeal:
		for _, role := range c.Restore.Roles {
			if role != RoleMember && !slices.Contains(grantable, role) {
				return errorf(ErrInvalidProposal, "appeal restores unknown role %.20q", role)
			}
		}
	}
	return nil
}

func (c Change) validateCredit(r Roster) error {
	if c.DefaultCreditLimit != nil {
		if err := validLimit(*c.DefaultCreditLimit); err != nil {
			return err
		}
	}
	type key struct {
		m   identity.DID
		cur string
	}
	seen := map[key]bool{}
	for _, l := range c.CreditLimits {
		if _, err := member(r, l.Member); err != nil {
			return errorf(ErrInvalidProposal, "credit limit: %w", err)
		}
		if err := validLimit(l.Limit); err != nil {
			return err
		}
		k := key{l.Member, l.Limit.Currency().Code}
		if seen[k] {
			return errorf(ErrInvalidProposal, "two %s limits for %s", k.cur, l.Member.Short())
		}
		seen[k] = true
	}
	return nil
}

func validLimit(a money.Amount) error {
	if err := a.Currency().Validate(); err != nil {
		return errorf(ErrInvalidProposal, "credit limit: %w", err)
	}
	if a.Sign() < 0 {
		return errorf(ErrInvalidProposal, "credit limit %s is negative", a)
	}
	return nil
}

func (c Change) validateRoles(r Roster) error {
	seen := map[RoleChange]bool{}
	for _, rc := range c.Roles {
		if !slices.Contains(grantable, rc.Role) {
			return errorf(ErrInvalidProposal, "role %.20q is not one of %v", rc.Role, grantable)
		}
		if _, err := member(r, rc.Member); err != nil {
			return errorf(ErrInvalidProposal, "role change: %w", err)
		}
		k := RoleChange{Member: rc.Member, Role: rc.Role}
		if seen[k] {
			return errorf(ErrInvalidProposal, "%s changes twice for %s", rc.Role, rc.Member.Short())
		}
		seen[k] = true
	}
	return nil
}

// effects are what a passed proposal of kind k with change c, closed at
// closed, makes happen.
func (c Change) effects(k Kind, proposal string, closed time.Time) []Effect {
	var out []Effect
	switch k {
	case KindEconomic:
		if c.DefaultCreditLimit != nil {
			out = append(out, SetDefaultCreditLimit{*c.DefaultCreditLimit})
		}
		for _, l := range c.CreditLimits {
			out = append(out, SetCreditLimit(l))
		}
	case KindMembership:
		for _, rc := range c.Roles {
			if rc.Grant {
				out = append(out, GrantRole{rc.Member, rc.Role})
			} else {
				out = append(out, RevokeRole{rc.Member, rc.Role})
			}
		}
	case KindRemoval:
		m := c.Remove
		out = append(out, RevokeCredential{m}, ZeroCredit{m}, FlagBalance{m}, SuspendTrust{m}, DropDelegations{m},
			RecordRemoval{Removal{Member: m, Proposal: proposal, RemovedAt: closed}})
	case KindAppeal:
		r := c.Restore
		out = append(out, RestoreMembership{r.Member, slices.Clone(r.Roles)},
			RestoreCredit{r.Member, slices.Clone(r.CreditLimits)}, RestoreTrust{r.Member},
			ClearBalanceFlag{r.Member}, ResolveRemoval{r.Member, r.RemovedAt})
	case KindDues:
		sch := *c.Dues
		if sch.From.Before(closed) {
			sch.From = closed
		}
		out = append(out, SetDues{sch})
	}
	return out
}
