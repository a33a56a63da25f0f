package membership

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Bucket names; all top-level buckets of the ledger file.
var (
	bktMeta     = []byte("membership.meta")     // keyAdmin → admin DID
	bktMembers  = []byte("membership.members")  // DID → memberRec JSON
	bktInvites  = []byte("membership.invites")  // code → inviteRec JSON
	bktApps     = []byte("membership.apps")     // application id → appRec JSON
	bktPending  = []byte("membership.pending")  // DID → id of its pending application
	bktRevoked  = []byte("membership.revoked")  // credential id → revokedRec JSON
	bktKeyrings = []byte("membership.keyrings") // DID → keyringRec JSON (absent: only the implicit primary)

	keyAdmin = []byte("admin")
)

// Buckets lists the bbolt buckets this package keeps; pass them in ledger.Options.Buckets.
var Buckets = [][]byte{bktMeta, bktMembers, bktInvites, bktApps, bktPending, bktRevoked, bktKeyrings}

// Roles a credential may grant.
const (
	RoleMember    = "member"
	RoleModerator = "moderator"
	RoleTreasurer = "treasurer"
	// RoleProposer opens governance proposals; RoleSteward is the seed's
	// steward (docs/governance.md, "Roles"). Both came with governance and
	// follow the older roles in a credential.
	RoleProposer = "proposer"
	RoleSteward  = "steward"
)

// allRoles is also the canonical order of roles in a credential.
var allRoles = []string{RoleMember, RoleModerator, RoleTreasurer, RoleProposer, RoleSteward}

// Member statuses.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
)

// Event types this package appends to the ledger feeds.
const (
	EventMemberJoined  = "MemberJoined"
	EventMemberRevoked = "MemberRevoked"
	EventDeviceAdded   = "DeviceAdded"
	EventDeviceRevoked = "DeviceRevoked"
	EventKeyRotated    = "KeyRotated"
	EventKeysRevoked   = "KeysRevoked"
)

// Options configure a Store.
type Options struct {
	CoopID  string
	CoopKey *identity.Key // issues and verifies the co-op's membership credentials
	Clock   func() time.Time
	// CredentialTTL is how long an issued credential is valid (default 365 days).
	CredentialTTL time.Duration
	// RenewBefore: RenewDue renews a credential that expires within it
	// (default 30 days; less than CredentialTTL).
	RenewBefore time.Duration
	// InviteTTL is how long an invite code is valid (default 7 days).
	InviteTTL time.Duration
	// MaxGrace bounds a key rotation's grace period (default 7 days).
	MaxGrace time.Duration
}

// Store is a co-op's membership, kept in the ledger's file.
type Store struct {
	l    *ledger.Store
	opts Options

	mu       sync.RWMutex
	admin    identity.DID
	members  map[identity.DID]*memberRec
	revoked  map[string]bool
	keyrings map[identity.DID]*keyringRec
}

// Member is a DID's membership of the co-op.
type Member struct {
	DID                 identity.DID
	Name                string
	Roles               []string
	Status              string // "active" | "revoked"
	Credential          identity.Signed
	CredentialID        string
	CredentialExpiresAt time.Time
	JoinedAt            time.Time
	// SessionsValidAfter: session tokens issued before it are void (set by
	// EmergencyRevoke); zero if never set.
	SessionsValidAfter time.Time
	// Sponsor is the moderator whose invite the member joined with (""
	// for a member added without one: the admin, a seeded member, or one
	// approved before sponsors were recorded). A recovery keeps it.
	Sponsor identity.DID
}

// HasRole reports whether m holds role (whatever its status).
func (m Member) HasRole(role string) bool { return slices.Contains(m.Roles, role) }

type memberRec struct {
	Rev                 uint64          `json:"rev"`
	DID                 identity.DID    `json:"did"`
	Name                string          `json:"name"`
	Roles               []string        `json:"roles"`
	Status              string          `json:"status"`
	Credential          identity.Signed `json:"credential"`
	CredentialID        string          `json:"credential_id"`
	CredentialExpiresAt time.Time       `json:"credential_expires_at"`
	JoinedAt            time.Time       `json:"joined_at"`
	RevokedAt           time.Time       `json:"revoked_at,omitzero"`
	RevokedBy           identity.DID    `json:"revoked_by,omitempty"`
	ApprovedBy          identity.DID    `json:"approved_by,omitempty"`
	// InvitedBy is the creator of the invite the member joined with: its
	// sponsor (Member.Sponsor).
	InvitedBy identity.DID `json:"invited_by,omitempty"`

	invalid bool // the credential did not verify at load
}

type revokedRec struct {
	DID identity.DID `json:"did"`
	At  time.Time    `json:"at"`
}

// New loads the membership kept in l and returns a Store for it. Every stored
// credential is re-verified against opts.CoopKey; a member whose credential
// does not verify is kept but refused by Authorize (ErrCredentialInvalid).
func New(l *ledger.Store, opts Options) (*Store, error) {
	if l == nil {
		return nil, errors.New("membership: nil ledger")
	}
	if opts.CoopID == "" || opts.CoopKey == nil {
		return nil, errors.New("membership: CoopID and CoopKey are required")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.CredentialTTL <= 0 {
		opts.CredentialTTL = 365 * 24 * time.Hour
	}
	if opts.RenewBefore <= 0 {
		opts.RenewBefore = 30 * 24 * time.Hour
	}
	if opts.RenewBefore >= opts.CredentialTTL {
		return nil, fmt.Errorf("membership: RenewBefore %s must be shorter than CredentialTTL %s", opts.RenewBefore, opts.CredentialTTL)
	}
	if opts.InviteTTL <= 0 {
		opts.InviteTTL = 7 * 24 * time.Hour
	}
	if opts.MaxGrace <= 0 {
		opts.MaxGrace = 7 * 24 * time.Hour
	}
	s := &Store{
		l: l, opts: opts,
		members:  map[identity.DID]*memberRec{},
		revoked:  map[string]bool{},
		keyrings: map[identity.DID]*keyringRec{},
	}
	if err := l.State().View(s.load); err != nil {
		return nil, fmt.Errorf("load membership: %w", err)
	}
	st := l.State()
	st.OnRestore(s.load)
	s.handle((*icnv1.CoopCommand_SetMember)(nil), s.applySetMember)
	s.handle((*icnv1.CoopCommand_RevokeMember)(nil), s.applyRevoke)
	s.handle((*icnv1.CoopCommand_CreateInvite)(nil), s.applyCreateInvite)
	s.handle((*icnv1.CoopCommand_SubmitApplication)(nil), s.applySubmitApplication)
	s.handle((*icnv1.CoopCommand_ApproveApplication)(nil), s.applyApprove)
	s.handle((*icnv1.CoopCommand_AddDevice)(nil), s.applyAddDevice)
	s.handle((*icnv1.CoopCommand_RevokeDevice)(nil), s.applyRevokeDevice)
	s.handle((*icnv1.CoopCommand_RotateKey)(nil), s.applyRotate)
	s.handle((*icnv1.CoopCommand_EmergencyRevoke)(nil), s.applyEmergencyRevoke)
	s.handle((*icnv1.CoopCommand_SetRole)(nil), s.applySetRole)
	s.handle((*icnv1.CoopCommand_RenewCredentials)(nil), s.applyRenew)
	return s, nil
}

// handle registers h for the commands of kind, with the ledger's view of
// their transaction (for feed events).
func (s *Store) handle(kind any, h func(*ledger.Tx, *icnv1.CoopCommand) (any, error)) {
	s.l.State().Handle(kind, func(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) { return h(s.l.Tx(stx), cmd) })
}

// submit has cmd applied, stamped with the store's clock reading now.
func (s *Store) submit(ctx context.Context, now time.Time, cmd *icnv1.CoopCommand) (any, error) {
	cmd.AtUnixNano = now.UnixNano()
	return s.l.State().Submit(ctx, cmd)
}

// load fills the cache from the state (at New, and after a restore).
func (s *Store) load(tx *store.View) error {
	if err := tx.Require("membership", Buckets); err != nil {
		return err
	}
	members := map[identity.DID]*memberRec{}
	revoked := map[string]bool{}
	keyrings := map[identity.DID]*keyringRec{}
	admin := identity.DID(tx.Bucket(bktMeta).Get(keyAdmin))
	if err := tx.Bucket(bktMembers).ForEach(func(k, v []byte) error {
		var m memberRec
		if err := json.Unmarshal(v, &m); err != nil || string(m.DID) != string(k) {
			return fmt.Errorf("member record %.60s is malformed", k)
		}
		m.invalid = s.checkCredential(&m) != nil
		members[m.DID] = &m
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bktRevoked).ForEach(func(k, _ []byte) error {
		revoked[string(k)] = true
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bktKeyrings).ForEach(func(k, v []byte) error {
		kr, err := decodeKeyring(v)
		if err != nil {
			return fmt.Errorf("keyring %.60s: %w", k, err)
		}
		keyrings[identity.DID(k)] = kr
		return nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admin, s.members, s.revoked, s.keyrings = admin, members, revoked, keyrings
	return nil
}

// checkCredential verifies m's stored credential: signed by the co-op key, for
// this co-op, and saying what the record says. Expiry is checked by Authorize.
func (s *Store) checkCredential(m *memberRec) error {
	sc := m.Credential
	if sc.Signer != s.opts.CoopKey.DID() {
		return identity.ErrCredentialIssuer
	}
	if err := sc.Verify(identity.TagCredential); err != nil {
		return err
	}
	var c identity.Credential
	if err := json.Unmarshal(sc.Payload, &c); err != nil {
		return identity.ErrCredentialInvalid
	}
	if c.Type != identity.CredentialType || c.Issuer != s.opts.CoopKey.DID() || c.CoopID != s.opts.CoopID ||
		c.Subject != m.DID || c.ID != m.CredentialID || !slices.Equal(c.Roles, m.Roles) || !c.ExpiresAt.Equal(m.CredentialExpiresAt) {
		return identity.ErrCredentialInvalid
	}
	return nil
}

// toMember copies a record out of the cache; callers may keep and modify it.
// s.mu must be held.
func (s *Store) toMember(m *memberRec) Member {
	out := Member{
		DID: m.DID, Name: m.Name, Roles: slices.Clone(m.Roles), Status: m.Status,
		Credential: identity.Signed{
			Payload:   bytes.Clone(m.Credential.Payload),
			Signer:    m.Credential.Signer,
			Signature: bytes.Clone(m.Credential.Signature),
		},
		CredentialID: m.CredentialID, CredentialExpiresAt: m.CredentialExpiresAt, JoinedAt: m.JoinedAt,
		Sponsor: m.InvitedBy,
	}
	if kr := s.keyrings[m.DID]; kr != nil {
		out.SessionsValidAfter = kr.SessionsValidAfter
	}
	return out
}

// Member returns did's membership record, active or revoked, or ErrNotMember.
// It reads only memory.
func (s *Store) Member(did identity.DID) (Member, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.members[did]
	if m == nil {
		return Member{}, fmt.Errorf("%s: %w", did.Short(), ErrNotMember)
	}
	return s.toMember(m), nil
}

// Members returns every member record (active and revoked), ordered by DID.
func (s *Store) Members() []Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, s.toMember(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DID < out[j].DID })
	return out
}

// Admin returns the DID last given to Bootstrap ("" before that).
func (s *Store) Admin() identity.DID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.admin
}

// CredentialRevoked reports whether credential id is in the revoked set
// (revoked members' credentials and credentials superseded by a re-issue).
func (s *Store) CredentialRevoked(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.revoked[id]
}

// Authorize returns did's membership if it holds an active, unexpired,
// unrevoked credential of this co-op at now, else ErrNotMember, ErrRevoked,
// ErrCredentialExpired or ErrCredentialInvalid. It reads only memory: the
// credential's signature was verified when it was issued or loaded.
func (s *Store) Authorize(did identity.DID, now time.Time) (Member, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.members[did]
	switch {
	case m == nil:
		return Member{}, fmt.Errorf("authorize %s: %w", did.Short(), ErrNotMember)
	case m.Status != StatusActive || s.revoked[m.CredentialID]:
		return Member{}, fmt.Errorf("authorize %s: %w", did.Short(), ErrRevoked)
	case m.invalid:
		return Member{}, fmt.Errorf("authorize %s: %w", did.Short(), ErrCredentialInvalid)
	case !now.Before(m.CredentialExpiresAt):
		return Member{}, fmt.Errorf("authorize %s: expired %s: %w", did.Short(), m.CredentialExpiresAt.Format(time.RFC3339), ErrCredentialExpired)
	}
	return s.toMember(m), nil
}

// commit is what a successful write changes in the cache.
type commit struct {
	member  *memberRec
	revoked []string
	keyring *keyringRec
	did     identity.DID // keyring's DID
	admin   identity.DID
}

// apply updates the cache after a write committed. Records carry a revision
// that rises with every write, so concurrent writers whose callers return in
// another order than they committed never leave an older record in place.
func (s *Store) apply(c commit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.member != nil {
		if old := s.members[c.member.DID]; old == nil || old.Rev < c.member.Rev {
			s.members[c.member.DID] = c.member
		}
	}
	for _, id := range c.revoked {
		s.revoked[id] = true
	}
	if c.keyring != nil {
		if old := s.keyrings[c.did]; old == nil || old.Rev < c.keyring.Rev {
			s.keyrings[c.did] = c.keyring
		}
	}
	if c.admin != "" {
		s.admin = c.admin
	}
}

func getMember(tx *ledger.Tx, did identity.DID) (*memberRec, error) {
	var m memberRec
	ok, err := tx.Bucket(bktMembers).GetJSON([]byte(did), &m)
	if err != nil || !ok {
		return nil, err
	}
	return &m, nil
}

// authorizedTx is Authorize for a record read inside a transaction: nil if m
// is an active member with an unexpired, unrevoked credential that verifies.
func (s *Store) authorizedTx(tx *ledger.Tx, m *memberRec, now time.Time) error {
	switch {
	case m == nil:
		return ErrNotMember
	case m.Status != StatusActive || tx.Bucket(bktRevoked).Get([]byte(m.CredentialID)) != nil:
		return ErrRevoked
	case !now.Before(m.CredentialExpiresAt):
		return ErrCredentialExpired
	case s.checkCredential(m) != nil:
		return ErrCredentialInvalid
	}
	return nil
}

// requireModerator checks, inside a transaction, that by holds an active,
// unexpired, unrevoked credential with role moderator.
func (s *Store) requireModerator(tx *ledger.Tx, by identity.DID, now time.Time) error {
	m, err := getMember(tx, by)
	if err != nil {
		return err
	}
	if err := s.authorizedTx(tx, m, now); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrForbidden, by.Short(), err)
	}
	if !slices.Contains(m.Roles, RoleModerator) {
		return fmt.Errorf("%w: %s is not a moderator", ErrForbidden, by.Short())
	}
	return nil
}

// normRoles checks roles and returns them deduplicated, in canonical order,
// always including RoleMember.
func normRoles(roles []string) ([]string, error) {
	for _, r := range roles {
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("%w: unknown role %.40q", ErrBadRequest, r)
		}
	}
	out := []string{RoleMember}
	for _, r := range allRoles[1:] {
		if slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// issue signs a new credential for did with roles, valid from now.
func (s *Store) issue(did identity.DID, roles []string, now time.Time) (identity.Signed, identity.Credential, error) {
	id, err := randomID()
	if err != nil {
		return identity.Signed{}, identity.Credential{}, err
	}
	return s.issueID(id, did, roles, now)
}

// issueID signs credential id for did with roles, valid from now. Ed25519
// signatures are deterministic, so a handler that issues with an id taken
// from its command writes the same credential on every node.
func (s *Store) issueID(id string, did identity.DID, roles []string, now time.Time) (identity.Signed, identity.Credential, error) {
	c := identity.Credential{
		ID: id, Subject: did, CoopID: s.opts.CoopID, Roles: roles,
		IssuedAt: now.UTC(), ExpiresAt: now.Add(s.opts.CredentialTTL).UTC(),
	}
	sc, err := identity.IssueCredential(s.opts.CoopKey, c)
	if err != nil {
		return identity.Signed{}, identity.Credential{}, err
	}
	return sc, c, nil
}

// memberJoined is the payload of a MemberJoined event.
type memberJoined struct {
	DID   identity.DID `json:"did"`
	Name  string       `json:"name"`
	Roles []string     `json:"roles"`
}

// activate writes m (active, with credential sc/c) in tx, revoking any
// credential it replaces, and appends MemberJoined if m was not active
// before. It returns the credential ids it revoked.
func (s *Store) activate(tx *ledger.Tx, old *memberRec, m *memberRec, sc identity.Signed, c identity.Credential, now time.Time) ([]string, error) {
	m.Status = StatusActive
	m.Credential, m.CredentialID, m.CredentialExpiresAt = sc, c.ID, c.ExpiresAt
	m.RevokedAt, m.RevokedBy = time.Time{}, ""
	m.Roles = c.Roles
	var revoked []string
	if old != nil {
		m.Rev = old.Rev + 1
		if old.CredentialID != "" && tx.Bucket(bktRevoked).Get([]byte(old.CredentialID)) == nil {
			if err := tx.Bucket(bktRevoked).PutJSON([]byte(old.CredentialID), revokedRec{DID: old.DID, At: now}); err != nil {
				return nil, err
			}
			revoked = append(revoked, old.CredentialID)
		}
	} else {
		m.Rev = 1
	}
	if old == nil || old.Status != StatusActive {
		m.JoinedAt = now.UTC()
	} else {
		m.JoinedAt = old.JoinedAt
	}
	if err := tx.Bucket(bktMembers).PutJSON([]byte(m.DID), m); err != nil {
		return nil, err
	}
	if old == nil || old.Status != StatusActive {
		if err := tx.AppendEvent(ledger.EventSpec{
			Type: EventMemberJoined, Members: []identity.DID{m.DID},
			Payload: memberJoined{DID: m.DID, Name: m.Name, Roles: m.Roles},
		}); err != nil {
			return nil, err
		}
	}
	return revoked, nil
}

// Bootstrap makes admin (the config's admin DID) an active member with roles
// member, moderator and treasurer, and records it as the co-op's admin. It is
// idempotent: if admin already holds such an unexpired credential, nothing is
// written; otherwise a new credential is issued (the old one revoked).
func (s *Store) Bootstrap(ctx context.Context, admin identity.DID, name string) (Member, error) {
	if _, _, err := identity.ParseDID(string(admin)); err != nil {
		return Member{}, fmt.Errorf("bootstrap: %w: %w", ErrBadRequest, err)
	}
	if err := checkName("name", name); err != nil {
		return Member{}, fmt.Errorf("bootstrap: %w", err)
	}
	return s.setMember(ctx, "bootstrap", admin, name, allRoles, true)
}

// AddMember makes did an active member with roles (RoleMember is always
// included) without an invite: for seeding a development co-op. A repeat with
// the same roles writes nothing; other roles re-issue the credential.
func (s *Store) AddMember(ctx context.Context, did identity.DID, name string, roles []string) (Member, error) {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return Member{}, fmt.Errorf("add member: %w: %w", ErrBadRequest, err)
	}
	if err := checkName("name", name); err != nil {
		return Member{}, fmt.Errorf("add member: %w", err)
	}
	return s.setMember(ctx, "add member", did, name, roles, false)
}

func (s *Store) setMember(ctx context.Context, what string, did identity.DID, name string, roles []string, admin bool) (Member, error) {
	roles, err := normRoles(roles)
	if err != nil {
		return Member{}, fmt.Errorf("%s: %w", what, err)
	}
	now := s.opts.Clock()
	sc, _, err := s.issue(did, roles, now)
	if err != nil {
		return Member{}, fmt.Errorf("%s: %w", what, err)
	}
	res, err := s.submit(ctx, now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_SetMember{SetMember: &icnv1.SetMember{
		Did: string(did), Name: name, Admin: admin, Credential: signedToProto(sc),
	}}})
	if err != nil {
		return Member{}, fmt.Errorf("%s %s: %w", what, did.Short(), err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.toMember(res.(*memberRec)), nil
}

func signedToProto(sc identity.Signed) *icnv1.SignedCredential {
	return &icnv1.SignedCredential{Payload: sc.Payload, Signer: string(sc.Signer), Signature: sc.Signature}
}

// credentialOf is the credential a command carries, as issued.
func credentialOf(p *icnv1.SignedCredential) (identity.Signed, identity.Credential, error) {
	sc := identity.Signed{Payload: p.GetPayload(), Signer: identity.DID(p.GetSigner()), Signature: p.GetSignature()}
	var c identity.Credential
	if err := json.Unmarshal(sc.Payload, &c); err != nil {
		return identity.Signed{}, identity.Credential{}, fmt.Errorf("%w: credential: %w", ErrBadRequest, err)
	}
	return sc, c, nil
}

func (s *Store) applySetMember(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetSetMember()
	sc, cred, err := credentialOf(c.Credential)
	if err != nil {
		return nil, err
	}
	did, name, admin, roles, now := identity.DID(c.Did), c.Name, c.Admin, cred.Roles, tx.Now()
	var cm commit
	if admin && !bytes.Equal(tx.Bucket(bktMeta).Get(keyAdmin), []byte(did)) {
		if err := tx.Bucket(bktMeta).Put(keyAdmin, []byte(did)); err != nil {
			return nil, err
		}
		cm.admin = did
	}
	old, err := getMember(tx, did)
	if err != nil {
		return nil, err
	}
	if !admin && string(tx.Bucket(bktMeta).Get(keyAdmin)) == string(did) && !slices.Equal(roles, allRoles) {
		return nil, fmt.Errorf("%w: the co-op's admin holds every role", ErrForbidden)
	}
	if old != nil && slices.Equal(old.Roles, roles) && s.authorizedTx(tx, old, now) == nil {
		cm.member = old // unchanged
		s.commitAfter(tx, cm)
		return old, nil
	}
	m := &memberRec{DID: did, Name: name}
	if old != nil {
		m.ApprovedBy, m.InvitedBy = old.ApprovedBy, old.InvitedBy
	}
	if cm.revoked, err = s.activate(tx, old, m, sc, cred, now); err != nil {
		return nil, err
	}
	cm.member = m
	s.commitAfter(tx, cm)
	return m, nil
}

// commitAfter updates the cache with cm once tx has committed.
func (s *Store) commitAfter(tx *ledger.Tx, cm commit) { tx.AfterCommit(func() { s.apply(cm) }) }

// memberRevoked is the payload of a MemberRevoked event.
type memberRevoked struct {
	DID          identity.DID `json:"did"`
	CredentialID string       `json:"credential_id"`
}

// Revoke revokes did's membership: status revoked, its credential id added to
// the revoked set, and a MemberRevoked event to the member's and the co-op's
// feed. It also raises did's session epoch (SessionEpoch) in the same
// transaction, so every session token issued before the revocation stays
// void for good, also if did is admitted again later. by must be an active
// moderator (ErrForbidden). The co-op's admin cannot be revoked
// (ErrForbidden): it is named by the node's config, so it is changed there.
// Revoking a revoked member again is a no-op.
func (s *Store) Revoke(ctx context.Context, did identity.DID, by identity.DID) error {
	_, err := s.submit(ctx, s.opts.Clock(), &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_RevokeMember{RevokeMember: &icnv1.RevokeMember{
		Did: string(did), By: string(by),
	}}})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", did.Short(), err)
	}
	return nil
}

func (s *Store) applyRevoke(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	did, by, now := identity.DID(cmd.GetRevokeMember().Did), identity.DID(cmd.GetRevokeMember().By), tx.Now()
	if err := s.requireModerator(tx, by, now); err != nil {
		return nil, err
	}
	return nil, s.revokeTx(tx, did, by)
}

// revokeTx revokes did in tx on by's authority (a moderator, or a
// governance decision): see Revoke.
func (s *Store) revokeTx(tx *ledger.Tx, did, by identity.DID) error {
	now := tx.Now()
	if string(tx.Bucket(bktMeta).Get(keyAdmin)) == string(did) {
		if did == by {
			return fmt.Errorf("%w: the admin cannot revoke themself", ErrForbidden)
		}
		return fmt.Errorf("%w: the co-op's admin is named in the node's config and cannot be revoked here", ErrForbidden)
	}
	old, err := getMember(tx, did)
	if err != nil {
		return err
	}
	if old == nil {
		return ErrNotMember
	}
	if old.Status == StatusRevoked {
		return nil
	}
	m := *old
	m.Rev++
	m.Status, m.RevokedAt, m.RevokedBy = StatusRevoked, now.UTC(), by
	if err := tx.Bucket(bktMembers).PutJSON([]byte(did), &m); err != nil {
		return err
	}
	if err := tx.Bucket(bktRevoked).PutJSON([]byte(m.CredentialID), revokedRec{DID: did, At: now.UTC()}); err != nil {
		return err
	}
	kr, err := loadKeyring(tx, did)
	if err != nil {
		return err
	}
	kr.Epoch++
	kr.Rev++
	if err := tx.Bucket(bktKeyrings).PutJSON([]byte(did), kr); err != nil {
		return err
	}
	s.commitAfter(tx, commit{member: &m, revoked: []string{m.CredentialID}, keyring: kr, did: did})
	return tx.AppendEvent(ledger.EventSpec{
		Type: EventMemberRevoked, Members: []identity.DID{did},
		Payload: memberRevoked{DID: did, CredentialID: m.CredentialID},
	})
}
