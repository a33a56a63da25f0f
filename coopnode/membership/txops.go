package membership

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/store"
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
		CredentialID: m.CredentialID, CredentialExpiresAt: m.CredentialExpiresAt, JoinedAt: m.JoinedAt, Sponsor: m.InvitedBy}
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
	m := &memberRec{DID: did, Name: old.Name, ApprovedBy: old.ApprovedBy, InvitedBy: old.InvitedBy}
	revoked, err := s.activate(tx, old, m, sc, c, tx.Now())
	if err != nil {
		return err
	}
	s.commitAfter(tx, commit{member: m, revoked: revoked})
	return nil
}

// The reads below take a read-only view of the state (store.View), for
// code that judges a member outside a command (a balance read) as well as
// inside one (a ledger gate, given the command's view): now is the
// command's time, or the clock's for a read.

// StandingView is did's record if its credential stands at now (active,
// not revoked, not expired), and false otherwise.
func StandingView(v *store.View, did identity.DID, now time.Time) (Member, bool, error) {
	var m memberRec
	ok, err := v.Bucket(bktMembers).GetJSON([]byte(did), &m)
	if err != nil || !ok {
		return Member{}, false, err
	}
	if m.Status != StatusActive || v.Bucket(bktRevoked).Get([]byte(m.CredentialID)) != nil || !now.Before(m.CredentialExpiresAt) {
		return recMember(&m), false, nil
	}
	return recMember(&m), true, nil
}

// AdminView is the co-op's admin as the state records it ("" before Bootstrap).
func AdminView(v *store.View) identity.DID {
	return identity.DID(v.Bucket(bktMeta).Get(keyAdmin))
}

// EndSessionsTx raises did's session epoch (SessionEpoch) in tx, so that
// every session token of did stops working once tx commits, as an
// emergency revoke does, without touching its devices (a voucher's
// emergency revoke: the member's keys may be in a thief's hands, and the
// member recovers to a new DID).
func (s *Store) EndSessionsTx(tx *ledger.Tx, did identity.DID) error {
	kr, err := loadKeyring(tx, did)
	if err != nil {
		return err
	}
	kr.Epoch++
	kr.Rev++
	kr.SessionsValidAfter = tx.Now().UTC()
	if err := tx.Bucket(bktKeyrings).PutJSON([]byte(did), kr); err != nil {
		return err
	}
	s.commitAfter(tx, commit{keyring: kr, did: did})
	return nil
}

// RecoverTx moves old's membership to newDID in tx (a recovery the
// stewards signed): newDID becomes an active member with old's name,
// roles, sponsor and join time, under a credential with id credID (which
// the caller derives from its command, so every node issues the same one;
// MemberJoined), and old is revoked on by's authority (MemberRevoked; its
// sessions end). old must be an active member and not the co-op's admin
// (ErrForbidden: the admin is named in the node's config), and newDID must
// have no membership record, active or not (ErrConflict).
func (s *Store) RecoverTx(tx *ledger.Tx, old, newDID identity.DID, credID string, by identity.DID) error {
	o, err := getMember(tx, old)
	if err != nil {
		return err
	}
	switch {
	case o == nil:
		return fmt.Errorf("%s: %w", old.Short(), ErrNotMember)
	case o.Status != StatusActive:
		return fmt.Errorf("%w: %s was revoked", ErrRevoked, old.Short())
	case string(tx.Bucket(bktMeta).Get(keyAdmin)) == string(old):
		return fmt.Errorf("%w: the co-op's admin is named in the node's config; change it there", ErrForbidden)
	}
	n, err := getMember(tx, newDID)
	if err != nil {
		return err
	}
	if n != nil {
		return fmt.Errorf("%w: %s already has a membership record", ErrConflict, newDID.Short())
	}
	sc, c, err := s.issueID(credID, newDID, o.Roles, tx.Now())
	if err != nil {
		return err
	}
	m := &memberRec{DID: newDID, Name: o.Name, ApprovedBy: o.ApprovedBy, InvitedBy: o.InvitedBy}
	revoked, err := s.activate(tx, nil, m, sc, c, tx.Now())
	if err != nil {
		return err
	}
	m.JoinedAt = o.JoinedAt
	if err := tx.Bucket(bktMembers).PutJSON([]byte(newDID), m); err != nil {
		return err
	}
	s.commitAfter(tx, commit{member: m, revoked: revoked})
	return s.revokeTx(tx, old, by)
}
