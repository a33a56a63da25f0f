package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/icn-coop/icn/identity"
)

// CreateInvite makes an invite code for coop (role moderator).
func (s *Session) CreateInvite(ctx context.Context, coop string) (string, error) {
	inv, err := s.Invite(ctx, coop)
	if err != nil {
		return "", err
	}
	return inv.Code, nil
}

// Invite makes an invite for coop (role moderator): its code and expiry.
func (s *Session) Invite(ctx context.Context, coop string) (*Invite, error) {
	var out Invite
	if err := s.do(ctx, "POST", "/membership/"+seg(coop)+"/invites", struct{}{}, &out); err != nil {
		return nil, fmt.Errorf("create invite: %w", err)
	}
	if out.Code == "" {
		return nil, errors.New("create invite: gateway returned no code")
	}
	return &out, nil
}

// Apply submits a membership application to coop, signed by key over the
// exact application JSON bytes sent (membership-application tag). An empty
// app.DID is filled with the key's DID. The session may hold no roles yet.
func (s *Session) Apply(ctx context.Context, coop string, key *identity.Key, app Application) (*ApplicationResult, error) {
	if key == nil {
		return nil, errors.New("apply: no key")
	}
	if app.DID == "" {
		app.DID = key.DID()
	}
	b, err := json.Marshal(app)
	if err != nil {
		return nil, fmt.Errorf("apply: encode application: %w", err)
	}
	return s.ApplyRaw(ctx, coop, b, key.Sign(identity.TagMembershipApplication, b))
}

// ApplyRaw submits already-signed application bytes as they are.
func (s *Session) ApplyRaw(ctx context.Context, coop string, appJSON, signature []byte) (*ApplicationResult, error) {
	req := ApplicationRequest{Application: identity.B64(appJSON), Signature: identity.B64(signature)}
	var res ApplicationResult
	if err := s.do(ctx, "POST", "/membership/"+seg(coop)+"/applications", req, &res); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return &res, nil
}

// Approve approves application appID (role moderator) and returns the issued credential.
func (s *Session) Approve(ctx context.Context, coop, appID string) (*Approval, error) {
	var a Approval
	p := "/membership/" + seg(coop) + "/applications/" + seg(appID) + "/approve"
	if err := s.do(ctx, "POST", p, struct{}{}, &a); err != nil {
		return nil, fmt.Errorf("approve %s: %w", appID, err)
	}
	return &a, nil
}

// Member reads did's membership in coop.
func (s *Session) Member(ctx context.Context, coop string, did identity.DID) (*Member, error) {
	var m Member
	if err := s.do(ctx, "GET", "/membership/"+seg(coop)+"/members/"+seg(string(did)), nil, &m); err != nil {
		return nil, fmt.Errorf("member %s: %w", did.Short(), err)
	}
	return &m, nil
}

// RevokeMember revokes did's membership and credential (role moderator).
func (s *Session) RevokeMember(ctx context.Context, coop string, did identity.DID) error {
	if err := s.do(ctx, "DELETE", "/membership/"+seg(coop)+"/members/"+seg(string(did)), nil, nil); err != nil {
		return fmt.Errorf("revoke %s: %w", did.Short(), err)
	}
	return nil
}

// Directory reads one page of coop's member directory (any member may): the
// members in good standing, ordered by DID, at most limit of them (0 lets the
// gateway choose), after the cursor after ("" for the first page). Pass the
// returned Next as after to read the following page.
func (s *Session) Directory(ctx context.Context, coop string, limit int, after string) (*Directory, error) {
	p := "/membership/" + seg(coop) + "/members"
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var d Directory
	if err := s.do(ctx, "GET", p, nil, &d); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	if d.Members == nil {
		d.Members = []DirectoryEntry{}
	}
	return &d, nil
}

// Devices lists the session's DID's devices, revoked ones included.
func (s *Session) Devices(ctx context.Context) ([]Device, error) {
	var out struct {
		Devices []Device `json:"devices"`
	}
	if err := s.do(ctx, "GET", "/devices/"+seg(string(s.did)), nil, &out); err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return out.Devices, nil
}

// RoleChange is the answer to a role grant or revocation: the member's
// roles after it, and whether it changed anything.
type RoleChange struct {
	DID     identity.DID `json:"did"`
	Role    string       `json:"role"`
	Roles   []string     `json:"roles"`
	Changed bool         `json:"changed"`
}

// SetRole grants (grant true) or revokes role for did (role moderator).
// Granting a role held, or revoking one not held, changes nothing
// (Changed false); the member role is neither granted nor revoked this way.
func (s *Session) SetRole(ctx context.Context, coop string, did identity.DID, role string, grant bool) (*RoleChange, error) {
	method, verb := "DELETE", "revoke"
	if grant {
		method, verb = "PUT", "grant"
	}
	var rc RoleChange
	p := "/membership/" + seg(coop) + "/members/" + seg(string(did)) + "/roles/" + seg(role)
	if err := s.do(ctx, method, p, nil, &rc); err != nil {
		return nil, fmt.Errorf("%s %s for %s: %w", verb, role, did.Short(), err)
	}
	return &rc, nil
}
