package membership

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
)

// The operations below run inside another package's command (governance
// effects): they read and change membership in that command's transaction,
// and update the cache once it commits, as this package's own handlers do.

// ActiveTx lists, ordered by DID, the members whose credential stands at
// tx's time: active, not revoked, not expired. (The credential's signature
// was checked when it was issued; re-verifying every member on every
// command would cost a signature check each.)
func (s *Store) ActiveTx(tx *ledger.Tx) ([]Member, error) {
	var out []Member
	err := tx.Bucket(bktMembers).ForEach(func(k, v []byte) error {
		var m memberRec
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("member record %.60s is malformed", k)
		}
		if stands(tx, &m) {
			out = append(out, recMember(&m))
		}
		return nil
	})
	return out, err
}

// StandingTx is did's record if its credential stands at tx's time (as
// ActiveTx lists them), and false otherwise.
func (s *Store) StandingTx(tx *ledger.Tx, did identity.DID) (Member, bool, error) {
	m, err := getMember(tx, did)
	if err != nil || m == nil || !stands(tx, m) {
		return Member{}, false, err
	}
	return recMember(m), true, nil
}

func stands(tx *ledger.Tx, m *memberRec) bool {
	return m.Status == StatusActive && tx.Bucket(bktRevoked).Get([]byte(m.CredentialID)) == nil && tx.Now().Before(m.CredentialExpiresAt)
}

// MemberTx is did's record in tx, active or not, and false if it has none.
func (s *Store) MemberTx(tx *ledger.Tx, did identity.DID) (Member, bool, error) {
	m, err := getMember(tx, did)
	if err != nil || m == nil {
		return Member{}, false, err
	}
	return recMember(m), true, nil
}

func recMember(m *memberRec) Member {
	return Member{DID: m.DID, Name: m.Name, Roles: slices.Clone(m.Roles), Status: m.Status,
		CredentialID: m.CredentialID, CredentialExpiresAt: m.CredentialExpiresAt, JoinedAt: m.JoinedAt}
}

// RevokeTx revokes did in tx on by's authority (a governance decision: no
// moderator is checked), as Revoke does; the co-op's admin cannot be
// revoked (ErrForbidden).
func (s *Store) RevokeTx(tx *ledger.Tx, did, by identity.DID) error {
	return s.revokeTx(tx, did, by)
}

// SetRolesTx issues did (a member, active or revoked) a credential with
// roles (RoleMember is always included) and id credID, which the caller
// derives from its command so every node issues the same one. A revoked
// member becomes active again (MemberJoined). The admin keeps every role
// (ErrForbidden).
func (s *Store) SetRolesTx(tx *ledger.Tx, did identity.DID, roles []string, credID string) error {
	roles, err := normRoles(roles)
	if err != nil {
		return err
	}
	old, err := getMember(tx, did)
	if err != nil {
		return err
	}
	if old == nil {
		return fmt.Errorf("%s: %w", did.Short(), ErrNotMember)
	}
	if string(tx.Bucket(bktMeta).Get(keyAdmin)) == string(did) && !slices.Equal(roles, allRoles) {
		return fmt.Errorf("%w: the co-op's admin holds every role", ErrForbidden)
	}
	sc, c, err := s.issueID(credID, did, roles, tx.Now())
	if err != nil {
		return err
	}
	m := &memberRec{DID: did, Name: old.Name, ApprovedBy: old.ApprovedBy}
	revoked, err := s.activate(tx, old, m, sc, c, tx.Now())
	if err != nil {
		return err
	}
	s.commitAfter(tx, commit{member: m, revoked: revoked})
	return nil
}
