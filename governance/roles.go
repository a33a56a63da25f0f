package governance

import (
	"slices"

	"github.com/icn-coop/icn/identity"
)

// The roles governance knows (the seed's). A member with RoleMember votes;
// RoleProposer opens proposals; RoleModerator closes voting early and
// cancels proposals. Stewards and treasurers hold no governance power here
// (recovery and settlement use them), but proposals may grant and revoke them.
const (
	RoleMember    = "member"
	RoleProposer  = "proposer"
	RoleModerator = "moderator"
	RoleSteward   = "steward"
	RoleTreasurer = "treasurer"
)

// grantable are the roles a membership proposal may grant or revoke.
// RoleMember is not among them: joining is an application, leaving a
// removal.
var grantable = []string{RoleProposer, RoleModerator, RoleSteward, RoleTreasurer}

// Roster is the co-op's current membership as the co-op node holds it.
type Roster interface {
	// Roles returns did's roles, and false if did is not a member.
	Roles(did identity.DID) ([]string, bool)
	// Voters lists the members holding RoleMember, in any order.
	Voters() []identity.DID
}

// Members is a Roster held in memory: member DID → roles.
type Members map[identity.DID][]string

// Roles implements Roster.
func (m Members) Roles(did identity.DID) ([]string, bool) {
	r, ok := m[did]
	return r, ok
}

// Voters implements Roster.
func (m Members) Voters() []identity.DID {
	var out []identity.DID
	for did, roles := range m {
		if slices.Contains(roles, RoleMember) {
			out = append(out, did)
		}
	}
	slices.Sort(out)
	return out
}

// member returns did's roles, or ErrNotMember.
func member(r Roster, did identity.DID) ([]string, error) {
	roles, ok := r.Roles(did)
	if !ok {
		return nil, errorf(ErrNotMember, "%s is not a member of the co-op", did.Short())
	}
	return roles, nil
}

// requireRole returns nil if did is a member holding role.
func requireRole(r Roster, did identity.DID, role string) error {
	roles, err := member(r, did)
	if err != nil {
		return err
	}
	if !slices.Contains(roles, role) {
		return errorf(ErrNotAuthorised, "%s lacks the %s role", did.Short(), role)
	}
	return nil
}
