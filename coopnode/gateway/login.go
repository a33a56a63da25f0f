package gateway

import (
	"net/http"
	"time"

	"github.com/icn-coop/icn/identity"
)

type challengeReq struct {
	DID string `json:"did"`
}

type challengeResp struct {
	Nonce     string `json:"nonce"`
	ExpiresAt string `json:"expires_at"`
}

func (g *Gateway) postChallenge(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req challengeReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	did, _, err := identity.ParseDID(req.DID)
	if err != nil {
		return err
	}
	nonce, exp, err := g.challenges.create(did)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, challengeResp{Nonce: identity.B64(nonce), ExpiresAt: rfc3339(exp)})
	return nil
}

type verifyReq struct {
	DID       string `json:"did"`
	Nonce     string `json:"nonce"`
	Signature string `json:"signature"`
	CoopID    string `json:"coop_id"`
}

type tokenResp struct {
	Token        string   `json:"token"`
	ExpiresIn    int      `json:"expires_in"`
	RefreshToken string   `json:"refresh_token"`
	Roles        []string `json:"roles"`
}

func (g *Gateway) postVerify(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req verifyReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	did, _, err := identity.ParseDID(req.DID)
	if err != nil {
		return err
	}
	nonce, err := b64Field("nonce", req.Nonce)
	if err != nil {
		return err
	}
	sig, err := b64Field("signature", req.Signature)
	if err != nil {
		return err
	}
	if req.CoopID != g.cfg.CoopID {
		return errf(http.StatusBadRequest, "wrong_coop", "this node serves co-op %q; sign the challenge for it", g.cfg.CoopID)
	}
	if err := g.challenges.take(nonce, did); err != nil {
		return err
	}
	// The epoch first: a revocation committed after this read raises it, so
	// the tokens below are refused; one committed before it is in it.
	who := &caller{DID: did, Session: newSID(), Gen: g.cfg.Members.SessionEpoch(did)} // a login opens a session family
	payload := identity.AuthChallengePayload(req.CoopID, nonce)
	for _, d := range g.cfg.Members.LoginKeys(did, g.cfg.Clock()) {
		if identity.Verify(d.PublicKey, identity.TagAuthChallenge, payload, sig) == nil {
			who.Device, who.DeviceSeq = d.ID, d.Seq
			break
		}
	}
	if who.Device == "" {
		return errf(http.StatusUnauthorized, "invalid_signature", "the signature does not verify with any active key of %s", did)
	}
	if err := g.inRecovery(did); err != nil {
		return err
	}
	tr, err := g.issuePair(who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tr)
	return nil
}

type refreshReq struct {
	RefreshToken string `json:"refresh_token"`
}

// postRefresh exchanges a refresh token, once, for a new pair in the same
// session family. A second exchange of the same token revokes the family
// (sessions.go).
func (g *Gateway) postRefresh(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req refreshReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	c, err := g.tokens.verify(req.RefreshToken, typRefresh)
	if err != nil {
		return err
	}
	if c.ID == "" || c.Sid == "" {
		return errf(http.StatusUnauthorized, "invalid_token", "the refresh token has no token or session id (issued by an older node); log in again")
	}
	who, err := g.sessionStands(c)
	if err != nil {
		return err
	}
	// Sign the new pair first, so that the old token is consumed only when
	// the answer is ready to go. It keeps the old one's family, device and
	// epoch: a revocation since the check above makes it void too.
	tr, err := g.issuePair(who)
	if err != nil {
		return err
	}
	if err := g.consumeRefresh(r.Context(), c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tr)
	return nil
}

// issuePair issues an access and a refresh token for session s.
func (g *Gateway) issuePair(s *caller) (tokenResp, error) {
	access, err := g.tokens.issue(s, typAccess, g.cfg.TokenTTL)
	if err != nil {
		return tokenResp{}, err
	}
	refresh, err := g.tokens.issue(s, typRefresh, g.cfg.RefreshTTL)
	if err != nil {
		return tokenResp{}, err
	}
	roles := []string{}
	if m, err := g.cfg.Members.Authorize(s.DID, g.cfg.Clock()); err == nil {
		roles = append(roles, m.Roles...)
	}
	return tokenResp{Token: access, ExpiresIn: int(g.cfg.TokenTTL / time.Second), RefreshToken: refresh, Roles: roles}, nil
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
