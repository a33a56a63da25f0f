package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
)

type inviteResp struct {
	Code      string `json:"code"`
	ExpiresAt string `json:"expires_at"`
}

func (g *Gateway) postInvite(w http.ResponseWriter, r *http.Request, c *caller) error {
	inv, err := g.cfg.Members.CreateInvite(r.Context(), c.DID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inviteResp{Code: inv.Code, ExpiresAt: rfc3339(inv.ExpiresAt)})
	return nil
}

// signedReq is the body of every route that carries a signed JSON document.
type signedReq struct {
	Application string `json:"application,omitempty"`
	Request     string `json:"request,omitempty"`
	Signature   string `json:"signature"`
}

func (g *Gateway) postApplication(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := pathCoopMismatch(g, r); err != nil {
		return err
	}
	var req signedReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	app, err := b64Field("application", req.Application)
	if err != nil {
		return err
	}
	sig, err := b64Field("signature", req.Signature)
	if err != nil {
		return err
	}
	who, err := membership.ApplicantOf(app)
	if err != nil {
		return err
	}
	if who != c.DID {
		return errf(http.StatusForbidden, "forbidden", "an application must be for the logged-in DID")
	}
	a, err := g.cfg.Members.Apply(r.Context(), app, sig)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": a.ID, "status": a.Status})
	return nil
}

// credentialJSON shows a credential's claims beside its signed form; only the
// signed form (payload, signer, signature) is what verifiers check.
type credentialJSON struct {
	identity.Credential
	Proof identity.Signed `json:"proof"`
}

func credentialOf(m membership.Member) *credentialJSON {
	if len(m.Credential.Payload) == 0 {
		return nil
	}
	var c identity.Credential
	if json.Unmarshal(m.Credential.Payload, &c) != nil {
		return nil
	}
	return &credentialJSON{Credential: c, Proof: m.Credential}
}

func (g *Gateway) postApprove(w http.ResponseWriter, r *http.Request, c *caller) error {
	m, err := g.cfg.Members.Approve(r.Context(), r.PathValue("id"), c.DID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": credentialOf(m)})
	return nil
}

type memberResp struct {
	DID        identity.DID    `json:"did"`
	Name       string          `json:"name,omitempty"`
	Roles      []string        `json:"roles"`
	Status     string          `json:"status"`
	JoinedAt   string          `json:"joined_at,omitempty"`
	Credential *credentialJSON `json:"credential"`
}

func (g *Gateway) getMember(w http.ResponseWriter, r *http.Request, _ *caller) error {
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	m, err := g.cfg.Members.Member(did)
	if err != nil {
		return err
	}
	resp := memberResp{DID: m.DID, Name: m.Name, Roles: m.Roles, Status: m.Status, Credential: credentialOf(m)}
	if resp.Roles == nil {
		resp.Roles = []string{}
	}
	if !m.JoinedAt.IsZero() {
		resp.JoinedAt = rfc3339(m.JoinedAt)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// Directory paging bounds.
const (
	directoryDefault = 100
	directoryMax     = 500
)

type directoryEntry struct {
	DID  identity.DID `json:"did"`
	Name string       `json:"name"`
}

type directoryResp struct {
	Members []directoryEntry `json:"members"`
	Next    string           `json:"next"`
}

// getDirectory lists the co-op's members in good standing (those a payment
// can reach), ordered by DID, a page at a time: ?limit (1-500, default 100)
// and ?after (the previous page's next). It shows a DID and the name given
// in the application, nothing else: members' e-mail addresses stay with the
// moderators.
func (g *Gateway) getDirectory(w http.ResponseWriter, r *http.Request, _ *caller) error {
	q := r.URL.Query()
	limit := directoryDefault
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > directoryMax {
			return errf(http.StatusBadRequest, "invalid_request", "limit must be a whole number from 1 to %d", directoryMax)
		}
		limit = n
	}
	after := q.Get("after")
	if after != "" {
		if _, _, err := identity.ParseDID(after); err != nil {
			return errf(http.StatusBadRequest, "invalid_cursor", "after must be a cursor from a previous page's next")
		}
	}
	now := g.cfg.Clock()
	resp := directoryResp{Members: []directoryEntry{}}
	for _, m := range g.cfg.Members.Members() { // ordered by DID
		if after != "" && string(m.DID) <= after {
			continue
		}
		if _, err := g.cfg.Members.Authorize(m.DID, now); err != nil {
			continue // revoked, expired or invalid: not a payee
		}
		if len(resp.Members) == limit {
			resp.Next = string(resp.Members[limit-1].DID)
			break
		}
		resp.Members = append(resp.Members, directoryEntry{DID: m.DID, Name: m.Name})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (g *Gateway) deleteMember(w http.ResponseWriter, r *http.Request, c *caller) error {
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	if err := g.cfg.Members.Revoke(r.Context(), did, c.DID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"did": string(did), "status": "revoked"})
	return nil
}

// signedBody reads {"request": b64url, "signature": b64url}.
func (g *Gateway) signedBody(r *http.Request) (request, sig []byte, err error) {
	var req signedReq
	if err := g.decode(r, &req); err != nil {
		return nil, nil, err
	}
	if request, err = b64Field("request", req.Request); err != nil {
		return nil, nil, err
	}
	if sig, err = b64Field("signature", req.Signature); err != nil {
		return nil, nil, err
	}
	return request, sig, nil
}

type deviceJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	PublicKey string `json:"public_key"`
	Status    string `json:"status"`
	AddedAt   string `json:"added_at,omitempty"`
	RetiresAt string `json:"retires_at,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

func deviceOf(d membership.Device) deviceJSON {
	out := deviceJSON{ID: d.ID, Name: d.Name, PublicKey: identity.B64(d.PublicKey), Status: d.Status}
	if !d.AddedAt.IsZero() {
		out.AddedAt = rfc3339(d.AddedAt)
	}
	if !d.RetiresAt.IsZero() {
		out.RetiresAt = rfc3339(d.RetiresAt)
	}
	if !d.RevokedAt.IsZero() {
		out.RevokedAt = rfc3339(d.RevokedAt)
	}
	return out
}

// getDevices lists the caller's devices, revoked ones included, so that a
// wallet can show them and revoke one.
func (g *Gateway) getDevices(w http.ResponseWriter, r *http.Request, c *caller) error {
	ds, err := g.cfg.Members.Devices(c.DID)
	if err != nil {
		return err
	}
	out := make([]deviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceOf(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
	return nil
}

func (g *Gateway) postDevice(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, sig, err := g.signedBody(r)
	if err != nil {
		return err
	}
	d, err := g.cfg.Members.AddDevice(r.Context(), c.DID, req, sig)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"device": deviceOf(d)})
	return nil
}

func (g *Gateway) deleteDevice(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, sig, err := g.signedBody(r)
	if err != nil {
		return err
	}
	dev := r.PathValue("device")
	if err := g.cfg.Members.RevokeDevice(r.Context(), c.DID, dev, req, sig); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": dev, "status": "revoked"})
	return nil
}

func (g *Gateway) postRotate(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, sig, err := g.signedBody(r)
	if err != nil {
		return err
	}
	d, err := g.cfg.Members.Rotate(r.Context(), c.DID, req, sig)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"device": deviceOf(d)})
	return nil
}

func (g *Gateway) postEmergencyRevoke(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, sig, err := g.signedBody(r)
	if err != nil {
		return err
	}
	keep, err := membership.KeptDeviceOf(req)
	if err != nil {
		return err
	}
	if keep != c.Device {
		return errf(http.StatusForbidden, "forbidden", "keep_device must be the device this session was opened with")
	}
	if err := g.cfg.Members.EmergencyRevoke(r.Context(), c.DID, req, sig); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"did": string(c.DID), "status": "revoked", "kept_device": c.Device, "at": rfc3339(g.cfg.Clock())})
	return nil
}

type roleResp struct {
	DID     identity.DID `json:"did"`
	Role    string       `json:"role"`
	Roles   []string     `json:"roles"`
	Changed bool         `json:"changed"`
}

// putRole grants {role} to {did} (a moderator's call); deleteRole revokes
// it. A grant of a role held, or a revocation of one not held, is 200 with
// changed false.
func (g *Gateway) putRole(w http.ResponseWriter, r *http.Request, c *caller) error {
	return g.setRole(w, r, c, true)
}

func (g *Gateway) deleteRole(w http.ResponseWriter, r *http.Request, c *caller) error {
	return g.setRole(w, r, c, false)
}

func (g *Gateway) setRole(w http.ResponseWriter, r *http.Request, c *caller, grant bool) error {
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	role := r.PathValue("role")
	m, changed, err := g.cfg.Members.SetRole(r.Context(), did, role, grant, c.DID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, roleResp{DID: m.DID, Role: role, Roles: m.Roles, Changed: changed})
	return nil
}
