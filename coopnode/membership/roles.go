package membership

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// EventRolesChanged reports a grant or revocation of a role, by a moderator
// (SetRole) or by a governance decision (ChangeRoleTx): in the member's
// feed and the co-op's.
const EventRolesChanged = "RolesChanged"

// RoleChange is one grant or revocation of a role.
type RoleChange struct {
	DID   identity.DID
	Role  string
	Grant bool
	// By is the moderator's DID, or "governance:<proposal id>" for a
	// governance decision.
	By identity.DID
	// CredentialID is the id of the credential a change issues: chosen by
	// the command's proposer, or derived from the command, so every node
	// issues the same one.
	CredentialID string
}

// rolesChanged is the payload of a RolesChanged event.
type rolesChanged struct {
	DID          identity.DID `json:"did"`
	Role         string       `json:"role"`
	Grant        bool         `json:"grant"`
	Roles        []string     `json:"roles"`
	By           identity.DID `json:"by"`
	CredentialID string       `json:"credential_id"`
}

// CheckRole says whether role may be granted or revoked by a moderator or
// a governance decision: ErrMemberRole for RoleMember (a member joins by
// application and leaves by removal), ErrUnknownRole for a role the
// co-op does not know.
func CheckRole(role string) error {
	switch {
	case role == RoleMember:
		return fmt.Errorf("%w: %q is held by every member: join by application, leave by removal", ErrMemberRole, role)
	case !slices.Contains(allRoles, role):
		return fmt.Errorf("%w: %.40q (known: proposer, moderator, steward, treasurer)", ErrUnknownRole, role)
	}
	return nil
}

// SetRole grants (grant true) or revokes role for did on the authority of
// by, who must hold an active credential with the moderator role when the
// command applies (ErrForbidden). It reports the member's record after the
// command and whether it changed anything: granting a role held, or
// revoking one not held, writes nothing. Refusals: ErrMemberRole and
// ErrUnknownRole (CheckRole), ErrNoSuchMember (did does not stand as a
// member), ErrForbidden (the co-op's admin keeps every role), and
// ErrLastModerator (revoking the co-op's last moderator). A change issues
// did a new credential with the same expiry and appends RolesChanged.
func (s *Store) SetRole(ctx context.Context, did identity.DID, role string, grant bool, by identity.DID) (Member, bool, error) {
	if err := CheckRole(role); err != nil {
		return Member{}, false, err
	}
	credID, err := randomID()
	if err != nil {
		return Member{}, false, err
	}
	res, err := s.submit(ctx, s.opts.Clock(), &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_SetRole{SetRole: &icnv1.SetRole{
		Did: string(did), Role: role, Grant: grant, By: string(by), CredentialId: credID,
	}}})
	if err != nil {
		verb := "revoke"
		if grant {
			verb = "grant"
		}
		return Member{}, false, fmt.Errorf("%s %s for %s: %w", verb, role, did.Short(), err)
	}
	r := res.(roleResult)
	return r.member, r.changed, nil
}

type roleResult struct {
	member  Member
	changed bool
}

func (s *Store) applySetRole(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetSetRole()
	if err := s.requireModerator(tx, identity.DID(c.By), tx.Now()); err != nil {
		return nil, err
	}
	m, changed, err := s.ChangeRoleTx(tx, RoleChange{DID: identity.DID(c.Did), Role: c.Role, Grant: c.Grant,
		By: identity.DID(c.By), CredentialID: c.CredentialId})
	if err != nil {
		return nil, err
	}
	return roleResult{member: m, changed: changed}, nil
}

// ChangeRoleTx applies ch in tx: the one place a role is granted or
// revoked, for a moderator's SetRole and a governance decision alike (the
// caller checks the authority). It refuses as SetRole says; a change
// issues ch.DID a credential with id ch.CredentialID and the old one's
// expiry, revokes the old one, and appends RolesChanged. It reports the
// member's record and whether anything changed.
func (s *Store) ChangeRoleTx(tx *ledger.Tx, ch RoleChange) (Member, bool, error) {
	if err := CheckRole(ch.Role); err != nil {
		return Member{}, false, err
	}
	if ch.CredentialID == "" {
		return Member{}, false, fmt.Errorf("%w: a role change needs a credential id", ErrBadRequest)
	}
	old, err := getMember(tx, ch.DID)
	if err != nil {
		return Member{}, false, err
	}
	if old == nil || !stands(tx, old) {
		return Member{}, false, fmt.Errorf("%s: %w", ch.DID.Short(), ErrNoSuchMember)
	}
	if slices.Contains(old.Roles, ch.Role) == ch.Grant {
		return recMember(old), false, nil
	}
	roles := slices.DeleteFunc(slices.Clone(old.Roles), func(r string) bool { return r == ch.Role })
	if ch.Grant {
		roles = append(roles, ch.Role)
	} else {
		if string(tx.Bucket(bktMeta).Get(keyAdmin)) == string(ch.DID) {
			return Member{}, false, fmt.Errorf("%w: the co-op's admin holds every role (it is named in the node's config)", ErrForbidden)
		}
		if ch.Role == RoleModerator {
			others, err := s.moderatorsBut(tx, ch.DID)
			if err != nil {
				return Member{}, false, err
			}
			if others == 0 {
				return Member{}, false, fmt.Errorf("%w: %s is the only moderator", ErrLastModerator, ch.DID.Short())
			}
		}
	}
	if roles, err = normRoles(roles); err != nil {
		return Member{}, false, err
	}
	now := tx.Now()
	sc, c, err := s.issueUntil(ch.CredentialID, ch.DID, roles, now, old.CredentialExpiresAt)
	if err != nil {
		return Member{}, false, err
	}
	m := &memberRec{DID: old.DID, Name: old.Name, ApprovedBy: old.ApprovedBy, InvitedBy: old.InvitedBy}
	revoked, err := s.activate(tx, old, m, sc, c, now)
	if err != nil {
		return Member{}, false, err
	}
	s.commitAfter(tx, commit{member: m, revoked: revoked})
	if err := tx.AppendEvent(ledger.EventSpec{
		Type: EventRolesChanged, Members: []identity.DID{m.DID},
		Payload: rolesChanged{DID: m.DID, Role: ch.Role, Grant: ch.Grant, Roles: m.Roles, By: ch.By, CredentialID: m.CredentialID},
	}); err != nil {
		return Member{}, false, err
	}
	return recMember(m), true, nil
}

// moderatorsBut counts, in tx, the members other than did who stand and
// hold the moderator role.
func (s *Store) moderatorsBut(tx *ledger.Tx, did identity.DID) (int, error) {
	n := 0
	err := tx.Bucket(bktMembers).ForEach(func(k, v []byte) error {
		if string(k) == string(did) {
			return nil
		}
		var m memberRec
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("member record %.60s is malformed", k)
		}
		if stands(tx, &m) && slices.Contains(m.Roles, RoleModerator) {
			n++
		}
		return nil
	})
	return n, err
}

// issueUntil signs credential id for did with roles, valid from now until
// expires.
func (s *Store) issueUntil(id string, did identity.DID, roles []string, now, expires time.Time) (identity.Signed, identity.Credential, error) {
	c := identity.Credential{
		ID: id, Subject: did, CoopID: s.opts.CoopID, Roles: roles,
		IssuedAt: now.UTC(), ExpiresAt: expires.UTC(),
	}
	sc, err := identity.IssueCredential(s.opts.CoopKey, c)
	if err != nil {
		return identity.Signed{}, identity.Credential{}, err
	}
	return sc, c, nil
}
