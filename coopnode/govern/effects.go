package govern

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Flag marks a removed member's outstanding balance for the treasurers.
type Flag struct {
	Member   identity.DID `json:"member"`
	Proposal string       `json:"proposal"`
	At       time.Time    `json:"at"`
	Balances []Amount     `json:"balances"`
}

// Suspension records a removed member's trust standing as suspended. The
// node keeps no member trust beyond the gateway's configured classes; the
// record is what an appeal lifts, and what those classes can read later.
type Suspension struct {
	Member   identity.DID `json:"member"`
	Proposal string       `json:"proposal"`
	At       time.Time    `json:"at"`
}

// removal is what applying a removal's effects took away so far, for its
// RecordRemoval.
type removal struct {
	skip   string // why the rest of the removal does nothing
	roles  []string
	limits []money.Amount
}

// applyEffects applies a passed proposal's effects in order and reports
// each. An effect naming someone who is no longer a member (or, for a
// restoration, who is one again) is skipped with its reason, as
// docs/governance.md asks: the rules check names only when a proposal opens.
func (tx *gtx) applyEffects(p *governance.Proposal, effects []governance.Effect) ([]Applied, error) {
	out := []Applied{}
	var rm removal
	for i, e := range effects {
		a, err := tx.applyEffect(p, i, e, &rm)
		if err != nil {
			return nil, fmt.Errorf("effect %d (%T) of %s: %w", i, e, p.ID, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (tx *gtx) active(did identity.DID) (membership.Member, bool, error) {
	m, ok, err := tx.s.m.MemberTx(tx.Tx, did)
	if err != nil || !ok || m.Status != membership.StatusActive {
		return membership.Member{}, false, err
	}
	return m, true, nil
}

// credentialID is the id of the credential effect i of proposal issues to
// did: a function of the command, so every node issues the same.
func credentialID(proposal string, i int, did identity.DID) string {
	h := sha256.Sum256(fmt.Appendf(nil, "icn/v1/governance-credential\n%s\n%d\n%s", proposal, i, did))
	return identity.B64(h[:16])
}

func (tx *gtx) applyEffect(p *governance.Proposal, i int, e governance.Effect, rm *removal) (Applied, error) {
	const notMember = "not a member any more"
	switch e := e.(type) {
	case governance.SetDefaultCreditLimit:
		return tx.setDefaultLimit(e.Limit)
	case governance.SetCreditLimit:
		a := Applied{Type: "set_credit_limit", Member: e.Member, Detail: e.Limit.String() + " " + e.Limit.Currency().Code}
		if _, ok, err := tx.active(e.Member); err != nil || !ok {
			a.Skipped = notMember
			return a, err
		}
		return a, tx.SetCreditLimit(ledger.Account(e.Member), e.Limit)
	case governance.GrantRole:
		return tx.changeRole(p.ID, i, e.Member, e.Role, true)
	case governance.RevokeRole:
		return tx.changeRole(p.ID, i, e.Member, e.Role, false)
	case governance.SetDues:
		s := scheduleOf(e.Schedule)
		when := fmt.Sprintf("on day %d", s.Day)
		if s.Cron != "" {
			when = fmt.Sprintf("at cron %q", s.Cron)
		}
		return Applied{Type: "set_dues", Detail: fmt.Sprintf("%s %s %s to %s", s.Amount.Value, s.Amount.Currency, when, s.Treasury)},
			tx.Bucket(bktMeta).PutJSON(keyDues, s)
	case governance.RevokeCredential:
		a := Applied{Type: "revoke_credential", Member: e.Member}
		m, ok, err := tx.active(e.Member)
		if err != nil {
			return a, err
		}
		if !ok {
			rm.skip = notMember
			a.Skipped = rm.skip
			return a, nil
		}
		if err := tx.s.m.RevokeTx(tx.Tx, e.Member, identity.DID("governance:"+p.ID)); err != nil {
			if !errors.Is(err, membership.ErrForbidden) {
				return a, err
			}
			rm.skip = "the co-op's admin is named in the node's config and cannot be removed"
			a.Skipped = rm.skip
			return a, nil
		}
		rm.roles = slices.Clone(m.Roles)
		return a, nil
	case governance.ZeroCredit:
		a := Applied{Type: "zero_credit", Member: e.Member, Skipped: rm.skip}
		if rm.skip != "" {
			return a, nil
		}
		for _, c := range tx.Currencies() {
			limit, _ := tx.CreditLimit(ledger.Account(e.Member), c)
			rm.limits = append(rm.limits, limit)
			if err := tx.SetCreditLimit(ledger.Account(e.Member), money.Zero(c)); err != nil {
				return a, err
			}
		}
		return a, nil
	case governance.FlagBalance:
		a := Applied{Type: "flag_balance", Member: e.Member, Skipped: rm.skip}
		if rm.skip != "" {
			return a, nil
		}
		f := Flag{Member: e.Member, Proposal: p.ID, At: tx.Now().UTC(), Balances: []Amount{}}
		var owed []string
		for _, c := range tx.Currencies() {
			b, err := tx.Balance(ledger.Account(e.Member), c)
			if err != nil {
				return a, err
			}
			f.Balances = append(f.Balances, amountOf(b.Balance))
			owed = append(owed, b.Balance.String()+" "+c.Code)
		}
		a.Detail = strings.Join(owed, ", ")
		return a, tx.Bucket(bktFlags).PutJSON([]byte(e.Member), f)
	case governance.SuspendTrust:
		a := Applied{Type: "suspend_trust", Member: e.Member, Skipped: rm.skip}
		if rm.skip != "" {
			return a, nil
		}
		return a, tx.Bucket(bktSuspended).PutJSON([]byte(e.Member), Suspension{Member: e.Member, Proposal: p.ID, At: tx.Now().UTC()})
	case governance.DropDelegations:
		a := Applied{Type: "drop_delegations", Member: e.Member, Skipped: rm.skip}
		if rm.skip != "" {
			return a, nil
		}
		d, err := tx.delegations()
		if err != nil {
			return a, err
		}
		d.Drop(e.Member)
		return a, tx.putDelegations(d)
	case governance.RecordRemoval:
		a := Applied{Type: "record_removal", Member: e.Removal.Member, Skipped: rm.skip}
		if rm.skip != "" {
			return a, nil
		}
		r := e.Removal
		r.Roles, r.CreditLimits = rm.roles, rm.limits
		rec := removalOf(r)
		if err := tx.Bucket(bktRemovals).PutJSON([]byte(r.Member), rec); err != nil {
			return a, err
		}
		return a, tx.AppendEvent(ledger.EventSpec{Type: EventMemberRemoved, AllMembers: true, Members: []identity.DID{r.Member},
			Payload: memberRemoved{DID: r.Member, Proposal: p.ID, AppealUntil: rec.AppealUntil}})
	case governance.RestoreMembership:
		a := Applied{Type: "restore_membership", Member: e.Member, Detail: strings.Join(e.Roles, ",")}
		m, ok, err := tx.s.m.MemberTx(tx.Tx, e.Member)
		if err != nil {
			return a, err
		}
		if !ok || m.Status == membership.StatusActive {
			a.Skipped = "a member again, or no record"
			return a, nil
		}
		return a, tx.s.m.SetRolesTx(tx.Tx, e.Member, e.Roles, credentialID(p.ID, i, e.Member))
	case governance.RestoreCredit:
		a := Applied{Type: "restore_credit", Member: e.Member}
		var parts []string
		for _, l := range e.Limits {
			if err := tx.SetCreditLimit(ledger.Account(e.Member), l); err != nil {
				return a, err
			}
			parts = append(parts, l.String()+" "+l.Currency().Code)
		}
		a.Detail = strings.Join(parts, ", ")
		return a, nil
	case governance.RestoreTrust:
		return Applied{Type: "restore_trust", Member: e.Member}, tx.Bucket(bktSuspended).Delete([]byte(e.Member))
	case governance.ClearBalanceFlag:
		return Applied{Type: "clear_balance_flag", Member: e.Member}, tx.Bucket(bktFlags).Delete([]byte(e.Member))
	case governance.ResolveRemoval:
		a := Applied{Type: "resolve_removal", Member: e.Member}
		var r Removal
		ok, err := tx.Bucket(bktRemovals).GetJSON([]byte(e.Member), &r)
		if err != nil || !ok || !r.RemovedAt.Equal(e.RemovedAt) {
			a.Skipped = "no such removal"
			return a, err
		}
		r.ResolvedBy = p.ID
		return a, tx.Bucket(bktRemovals).PutJSON([]byte(e.Member), r)
	}
	return Applied{}, fmt.Errorf("unknown effect %T", e)
}

// setDefaultLimit sets the limit new members get. Members without a limit
// of their own followed the default; they keep the limit they had, so the
// change is for new members only, as the proposal says.
func (tx *gtx) setDefaultLimit(limit money.Amount) (Applied, error) {
	a := Applied{Type: "set_default_credit_limit", Detail: limit.String() + " " + limit.Currency().Code}
	ms, err := tx.s.m.ActiveTx(tx.Tx)
	if err != nil {
		return a, err
	}
	kept := 0
	for _, m := range ms {
		acct := ledger.Account(m.DID)
		if cur, own := tx.CreditLimit(acct, limit.Currency()); !own {
			if err := tx.SetCreditLimit(acct, cur); err != nil {
				return a, err
			}
			kept++
		}
	}
	a.Detail += fmt.Sprintf("; %d current members keep their limit", kept)
	return a, tx.SetDefaultCreditLimit(limit)
}

func (tx *gtx) changeRole(proposal string, i int, did identity.DID, role string, grant bool) (Applied, error) {
	a := Applied{Type: "revoke_role", Member: did, Detail: role}
	if grant {
		a.Type = "grant_role"
	}
	_, changed, err := tx.s.m.ChangeRoleTx(tx.Tx, membership.RoleChange{DID: did, Role: role, Grant: grant,
		By: identity.DID("governance:" + proposal), CredentialID: credentialID(proposal, i, did)})
	switch {
	case errors.Is(err, membership.ErrNoSuchMember):
		a.Skipped = "not a member any more"
	case errors.Is(err, membership.ErrForbidden):
		a.Skipped = "the co-op's admin holds every role"
	case errors.Is(err, membership.ErrLastModerator):
		a.Skipped = "the co-op's last moderator keeps the role"
	case err != nil:
		return a, err
	case !changed:
		a.Skipped = "unchanged"
	}
	return a, nil
}

// SuspendedView reports whether member's trust standing is suspended (a
// passed removal, until a passed appeal lifts it), as the state v holds it.
// A state without governance's buckets suspends nobody.
func SuspendedView(v *store.View, member identity.DID) bool {
	b := v.Bucket(bktSuspended)
	return b != nil && b.Get([]byte(member)) != nil
}
