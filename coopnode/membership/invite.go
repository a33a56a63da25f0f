package membership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Invite is a single-use code that lets one DID apply.
type Invite struct {
	Code      string
	ExpiresAt time.Time
	CreatedBy identity.DID
}

type inviteRec struct {
	Code      string       `json:"code"`
	CreatedBy identity.DID `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
	ExpiresAt time.Time    `json:"expires_at"`
	UsedBy    identity.DID `json:"used_by,omitempty"`
	UsedAt    time.Time    `json:"used_at,omitzero"`
	AppID     string       `json:"app_id,omitempty"`
}

// Application statuses.
const (
	AppPending  = "pending"
	AppApproved = "approved"
)

// Application is a DID's request to join, made with an invite.
type Application struct {
	ID          string
	DID         identity.DID
	Name, Email string
	Status      string // "pending" | "approved"
	SubmittedAt time.Time
}

type appRec struct {
	ID          string       `json:"id"`
	DID         identity.DID `json:"did"`
	Name        string       `json:"name"`
	Email       string       `json:"email"`
	InviteCode  string       `json:"invite_code"`
	Status      string       `json:"status"`
	SubmittedAt time.Time    `json:"submitted_at"`
	Raw         []byte       `json:"raw"`       // the signed application bytes
	Signature   []byte       `json:"signature"` // over (TagMembershipApplication, Raw)
	ApprovedBy  identity.DID `json:"approved_by,omitempty"`
	ApprovedAt  time.Time    `json:"approved_at,omitzero"`
}

func (a *appRec) public() Application {
	return Application{ID: a.ID, DID: a.DID, Name: a.Name, Email: a.Email, Status: a.Status, SubmittedAt: a.SubmittedAt}
}

// CreateInvite makes a single-use invite code (16 random bytes, base64url),
// valid for Options.InviteTTL. by must be an active moderator (ErrForbidden).
func (s *Store) CreateInvite(ctx context.Context, by identity.DID) (Invite, error) {
	code, err := randomID()
	if err != nil {
		return Invite{}, fmt.Errorf("create invite: %w", err)
	}
	now := s.opts.Clock().UTC()
	expires := now.Add(s.opts.InviteTTL)
	_, err = s.submit(ctx, now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_CreateInvite{CreateInvite: &icnv1.CreateInvite{
		Code: code, By: string(by), ExpiresAtUnixNano: expires.UnixNano(),
	}}})
	if err != nil {
		return Invite{}, fmt.Errorf("create invite: %w", err)
	}
	return Invite{Code: code, ExpiresAt: expires, CreatedBy: by}, nil
}

func (s *Store) applyCreateInvite(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c, now := cmd.GetCreateInvite(), tx.Now().UTC()
	by := identity.DID(c.By)
	rec := inviteRec{Code: c.Code, CreatedBy: by, CreatedAt: now, ExpiresAt: time.Unix(0, c.ExpiresAtUnixNano).UTC()}
	if err := s.requireModerator(tx, by, now); err != nil {
		return nil, err
	}
	b := tx.Bucket(bktInvites)
	if b.Get([]byte(c.Code)) != nil {
		return nil, fmt.Errorf("%w: invite code collision", ErrConflict)
	}
	return nil, b.PutJSON([]byte(c.Code), &rec)
}

// applicationJSON is the signed application (API.md "Membership").
type applicationJSON struct {
	DID        string `json:"did"`
	InviteCode string `json:"invite_code"`
	Name       string `json:"name"`
	Email      string `json:"email"`
}

// Apply records a membership application: application is the JSON
// {"did","invite_code","name","email"} exactly as received and signature its
// signature (TagMembershipApplication) by the key of "did". The invite must
// exist, be unused and unexpired; it is consumed with the application. A DID
// that is already an active member gets ErrAlreadyMember; a DID with a
// pending application gets that application back if application is the same
// bytes, else ErrConflict. Nothing is written unless the application is
// well formed and its signature verifies.
func (s *Store) Apply(ctx context.Context, application, signature []byte) (Application, error) {
	var aj applicationJSON
	if err := decodeStrict(application, &aj, "did", "invite_code", "name", "email"); err != nil {
		return Application{}, fmt.Errorf("apply: %w", err)
	}
	did, pub, err := parseDIDField("did", aj.DID)
	if err != nil {
		return Application{}, fmt.Errorf("apply: %w", err)
	}
	if err := checkName("name", aj.Name); err != nil {
		return Application{}, fmt.Errorf("apply: %w", err)
	}
	if err := checkEmail(aj.Email); err != nil {
		return Application{}, fmt.Errorf("apply: %w", err)
	}
	if aj.InviteCode == "" || len(aj.InviteCode) > MaxInviteCode {
		return Application{}, fmt.Errorf("apply: %w", ErrBadInvite)
	}
	if err := identity.Verify(pub, identity.TagMembershipApplication, application, signature); err != nil {
		return Application{}, fmt.Errorf("apply: %w", err)
	}
	id, err := randomID()
	if err != nil {
		return Application{}, fmt.Errorf("apply: %w", err)
	}
	res, err := s.submit(ctx, s.opts.Clock(), &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_SubmitApplication{SubmitApplication: &icnv1.SubmitApplication{
		Id: id, Did: string(did), Name: aj.Name, Email: aj.Email, InviteCode: aj.InviteCode, Raw: application, Signature: signature,
	}}})
	if err != nil {
		return Application{}, fmt.Errorf("apply %s: %w", did.Short(), err)
	}
	return res.(*appRec).public(), nil
}

func (s *Store) applySubmitApplication(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c, now := cmd.GetSubmitApplication(), tx.Now().UTC()
	did, id := identity.DID(c.Did), c.Id
	m, err := getMember(tx, did)
	if err != nil {
		return nil, err
	}
	if s.authorizedTx(tx, m, now) == nil {
		return nil, ErrAlreadyMember
	}
	if pid := tx.Bucket(bktPending).Get([]byte(did)); pid != nil {
		var prev appRec
		if ok, err := tx.Bucket(bktApps).GetJSON(pid, &prev); err != nil || !ok {
			return nil, fmt.Errorf("pending application %s: missing or malformed: %v", pid, err)
		}
		if bytes.Equal(prev.Raw, c.Raw) {
			return &prev, nil
		}
		return nil, fmt.Errorf("%w: %s already has pending application %s", ErrConflict, did.Short(), prev.ID)
	}
	var inv inviteRec
	if ok, err := tx.Bucket(bktInvites).GetJSON([]byte(c.InviteCode), &inv); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: unknown code", ErrBadInvite)
	}
	if inv.UsedBy != "" {
		return nil, fmt.Errorf("%w: already used", ErrBadInvite)
	}
	if !now.Before(inv.ExpiresAt) {
		return nil, fmt.Errorf("%w: expired %s", ErrBadInvite, inv.ExpiresAt.Format(time.RFC3339))
	}
	if tx.Bucket(bktApps).Get([]byte(id)) != nil {
		return nil, fmt.Errorf("%w: application id collision", ErrConflict)
	}
	inv.UsedBy, inv.UsedAt, inv.AppID = did, now, id
	if err := tx.Bucket(bktInvites).PutJSON([]byte(inv.Code), &inv); err != nil {
		return nil, err
	}
	a := &appRec{
		ID: id, DID: did, Name: c.Name, Email: c.Email, InviteCode: c.InviteCode,
		Status: AppPending, SubmittedAt: now,
		Raw: bytes.Clone(c.Raw), Signature: bytes.Clone(c.Signature),
	}
	if err := tx.Bucket(bktApps).PutJSON([]byte(id), a); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bktPending).Put([]byte(did), []byte(id)); err != nil {
		return nil, err
	}
	return a, nil
}

// Application returns application id, or ErrNotFound.
func (s *Store) Application(id string) (Application, error) {
	var a appRec
	err := s.l.State().View(func(tx *store.View) error {
		ok, err := tx.Bucket(bktApps).GetJSON([]byte(id), &a)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Application{}, fmt.Errorf("application %.40q: %w", id, err)
	}
	return a.public(), nil
}

// Applications returns the applications with status ("" for all), oldest first.
func (s *Store) Applications(status string) ([]Application, error) {
	var out []Application
	err := s.l.State().View(func(tx *store.View) error {
		return tx.Bucket(bktApps).ForEach(func(k, v []byte) error {
			var a appRec
			if _, err := tx.Bucket(bktApps).GetJSON(k, &a); err != nil {
				return err
			}
			if status == "" || a.Status == status {
				out = append(out, a.public())
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].SubmittedAt.Before(out[j].SubmittedAt) })
	return out, err
}

// Approve approves pending application appID: it issues the applicant a
// credential (roles [member], valid for Options.CredentialTTL) and appends a
// MemberJoined event in the same transaction. by must be an active moderator
// (ErrForbidden). An application that is not pending gives ErrNotPending, an
// unknown one ErrNotFound.
func (s *Store) Approve(ctx context.Context, appID string, by identity.DID) (Member, error) {
	a, err := s.Application(appID)
	if err != nil {
		return Member{}, fmt.Errorf("approve: %w", err)
	}
	if a.Status != AppPending {
		return Member{}, fmt.Errorf("approve %s: %w", appID, ErrNotPending)
	}
	now := s.opts.Clock().UTC()
	sc, _, err := s.issue(a.DID, []string{RoleMember}, now)
	if err != nil {
		return Member{}, fmt.Errorf("approve %s: %w", appID, err)
	}
	res, err := s.submit(ctx, now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_ApproveApplication{ApproveApplication: &icnv1.ApproveApplication{
		AppId: appID, Did: string(a.DID), By: string(by), Credential: signedToProto(sc),
	}}})
	if err != nil {
		return Member{}, fmt.Errorf("approve %s: %w", appID, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.toMember(res.(*memberRec)), nil
}

func (s *Store) applyApprove(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c, now := cmd.GetApproveApplication(), tx.Now().UTC()
	appID, by := c.AppId, identity.DID(c.By)
	sc, cred, err := credentialOf(c.Credential)
	if err != nil {
		return nil, err
	}
	if err := s.requireModerator(tx, by, now); err != nil {
		return nil, err
	}
	var rec appRec
	if ok, err := tx.Bucket(bktApps).GetJSON([]byte(appID), &rec); err != nil {
		return nil, err
	} else if !ok {
		return nil, ErrNotFound
	}
	if rec.Status != AppPending {
		return nil, ErrNotPending
	}
	if rec.DID != identity.DID(c.Did) {
		return nil, errors.New("application changed under approval")
	}
	old, err := getMember(tx, rec.DID)
	if err != nil {
		return nil, err
	}
	if s.authorizedTx(tx, old, now) == nil {
		return nil, ErrAlreadyMember
	}
	var inv inviteRec
	if _, err := tx.Bucket(bktInvites).GetJSON([]byte(rec.InviteCode), &inv); err != nil {
		return nil, err
	}
	m := &memberRec{DID: rec.DID, Name: rec.Name, ApprovedBy: by, InvitedBy: inv.CreatedBy}
	revoked, err := s.activate(tx, old, m, sc, cred, now)
	if err != nil {
		return nil, err
	}
	rec.Status, rec.ApprovedBy, rec.ApprovedAt = AppApproved, by, now
	if err := tx.Bucket(bktApps).PutJSON([]byte(appID), &rec); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bktPending).Delete([]byte(rec.DID)); err != nil {
		return nil, err
	}
	s.commitAfter(tx, commit{member: m, revoked: revoked})
	return m, nil
}
