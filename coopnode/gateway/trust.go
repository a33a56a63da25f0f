package gateway

import (
	"net/http"

	"github.com/icn-coop/icn/coopnode/vouch"
	"github.com/icn-coop/icn/identity"
)

// The member trust and recovery endpoints (docs/API.md, "Member trust and
// recovery"; docs/governance.md, "Member trust and recovery"). Every
// signed document is verified (strict decoder, values, signature under its
// own tag, co-op, time) before a command is proposed.

var errNoTrust = errf(http.StatusNotFound, "not_found", "this node keeps no member trust")

func (g *Gateway) trust() (*vouch.Store, error) {
	if g.cfg.Vouch == nil {
		return nil, errNoTrust
	}
	return g.cfg.Vouch, nil
}

// vouchError maps an error of coopnode/vouch to its wire form, or nil.
func vouchError(err error) *apiError {
	if status, code := vouch.Code(err); code != "" {
		return errf(status, code, "%s", err.Error())
	}
	return nil
}

type vouchReq struct {
	Vouch     string `json:"vouch"`
	Signature string `json:"signature"`
}

type vouchJSON struct {
	Voucher      identity.DID   `json:"voucher"`
	Vouchee      identity.DID   `json:"vouchee"`
	At           string         `json:"at"`
	Vouch        string         `json:"vouch"`
	Signature    string         `json:"signature"`
	MigratedFrom []identity.DID `json:"migrated_from,omitempty"`
}

func (g *Gateway) postVouch(w http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := g.trust()
	if err != nil {
		return err
	}
	var req vouchReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	raw, err := b64Field("vouch", req.Vouch)
	if err != nil {
		return err
	}
	sig, err := b64Field("signature", req.Signature)
	if err != nil {
		return err
	}
	d, err := ts.CheckVouch(raw, sig)
	if err != nil {
		return err
	}
	if d.Author != c.DID {
		return errf(http.StatusForbidden, "wrong_signer", "the voucher must be the logged-in DID (%s)", c.DID)
	}
	res, err := ts.RecordVouch(r.Context(), raw, sig)
	if err != nil {
		return err
	}
	v := res.Vouch
	status := http.StatusOK
	if res.Recorded {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"recorded": res.Recorded, "vouch": vouchJSON{
		Voucher: v.Voucher, Vouchee: v.Vouchee, At: rfc3339(v.At), Vouch: identity.B64(v.Payload),
		Signature: identity.B64(v.Signature), MigratedFrom: v.MigratedFrom,
	}})
	return nil
}

type modeJSON struct {
	DID      identity.DID `json:"did"`
	Status   string       `json:"status"`
	By       identity.DID `json:"by,omitempty"`
	At       string       `json:"at"`
	Recovery string       `json:"recovery,omitempty"`
	NewDID   identity.DID `json:"new_did,omitempty"`
}

func modeOf(m *vouch.Mode) *modeJSON {
	if m == nil {
		return nil
	}
	return &modeJSON{DID: m.DID, Status: m.Status, By: m.By, At: rfc3339(m.At), Recovery: m.Recovery, NewDID: m.NewDID}
}

type trustVouchJSON struct {
	Voucher      identity.DID   `json:"voucher"`
	At           string         `json:"at"`
	Counts       bool           `json:"counts"`
	MigratedFrom []identity.DID `json:"migrated_from,omitempty"`
}

type limitJSON struct {
	Currency  string `json:"currency"`
	Set       string `json:"set"`
	Effective string `json:"effective"`
}

type trustJSON struct {
	DID             identity.DID     `json:"did"`
	PolicyEnabled   bool             `json:"policy_enabled"`
	StandingPercent int              `json:"standing_percent"`
	Sponsor         identity.DID     `json:"sponsor"`
	Vouches         []trustVouchJSON `json:"vouches"`
	Vouched         []identity.DID   `json:"vouched"`
	Suspended       bool             `json:"suspended"`
	InRecovery      bool             `json:"in_recovery"`
	Recovery        *modeJSON        `json:"recovery"`
	Limits          []limitJSON      `json:"limits"`
}

func (g *Gateway) getTrust(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ts, err := g.trust()
	if err != nil {
		return err
	}
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	t, err := ts.Trust(did)
	if err != nil {
		return err
	}
	out := trustJSON{DID: t.DID, PolicyEnabled: t.Enabled, StandingPercent: t.Percent, Sponsor: t.Sponsor,
		Vouches: []trustVouchJSON{}, Vouched: t.Vouched, Suspended: t.Suspended, InRecovery: t.Mode != nil,
		Recovery: modeOf(t.Mode), Limits: []limitJSON{}}
	if out.Vouched == nil {
		out.Vouched = []identity.DID{}
	}
	for _, v := range t.Vouches {
		out.Vouches = append(out.Vouches, trustVouchJSON{Voucher: v.Voucher, At: rfc3339(v.At), Counts: v.Counts, MigratedFrom: v.MigratedFrom})
	}
	for _, l := range t.Limits {
		out.Limits = append(out.Limits, limitJSON{Currency: l.Currency, Set: l.Set.String(), Effective: l.Effective.String()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (g *Gateway) postVoucherRevoke(w http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := g.trust()
	if err != nil {
		return err
	}
	raw, sig, err := g.signedBody(r)
	if err != nil {
		return err
	}
	d, err := ts.CheckVoucherRevoke(raw, sig)
	if err != nil {
		return err
	}
	if d.Author != c.DID {
		return errf(http.StatusForbidden, "wrong_signer", "the voucher must be the logged-in DID (%s)", c.DID)
	}
	m, err := ts.VoucherRevoke(r.Context(), raw, sig)
	if err != nil {
		return err
	}
	// The member's sessions ended in the command; the refresh families of
	// this node's sessions go with the epoch (stillStands).
	writeJSON(w, http.StatusOK, modeOf(&m))
	return nil
}

type recoverySigJSON struct {
	Steward   identity.DID `json:"steward"`
	At        string       `json:"at"`
	Request   string       `json:"request"`
	Signature string       `json:"signature"`
}

type recoveryJSON struct {
	ID          string            `json:"id"`
	Old         identity.DID      `json:"old"`
	New         identity.DID      `json:"new"`
	Status      string            `json:"status"`
	Signatures  []recoverySigJSON `json:"signatures"`
	Stewards    int               `json:"stewards"`
	Quorum      int               `json:"quorum"`
	OpenedAt    string            `json:"opened_at"`
	CompletedAt string            `json:"completed_at,omitempty"`
	Payments    []string          `json:"payments"`
}

func recoveryOf(rc vouch.Recovery) recoveryJSON {
	out := recoveryJSON{ID: rc.ID, Old: rc.Old, New: rc.New, Status: rc.Status, Signatures: []recoverySigJSON{},
		Stewards: rc.Stewards, Quorum: rc.Quorum, OpenedAt: rfc3339(rc.OpenedAt), Payments: rc.Payments}
	if out.Payments == nil {
		out.Payments = []string{}
	}
	if !rc.CompletedAt.IsZero() {
		out.CompletedAt = rfc3339(rc.CompletedAt)
	}
	for _, s := range rc.Signatures {
		out.Signatures = append(out.Signatures, recoverySigJSON{Steward: s.Steward, At: rfc3339(s.At),
			Request: identity.B64(s.Payload), Signature: identity.B64(s.Signature)})
	}
	return out
}

// postRecovery records one steward's signature. Any token may send it (the
// signature is the authority): a steward, or the member recovering from
// its new DID, which has no membership yet, with the signatures it
// gathered.
func (g *Gateway) postRecovery(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ts, err := g.trust()
	if err != nil {
		return err
	}
	raw, sig, err := g.signedBody(r)
	if err != nil {
		return err
	}
	rc, err := ts.SignRecovery(r.Context(), raw, sig)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recoveryOf(rc))
	return nil
}

// getRecoveries lists the recoveries of a DID, old or new: for the DID
// itself (the new one has no membership yet) and for any member.
func (g *Gateway) getRecoveries(w http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := g.trust()
	if err != nil {
		return err
	}
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	if did != c.DID {
		if _, err := g.cfg.Members.Authorize(c.DID, g.cfg.Clock()); err != nil {
			return err
		}
	}
	rs, err := ts.Recoveries(did)
	if err != nil {
		return err
	}
	out := make([]recoveryJSON, 0, len(rs))
	for _, rc := range rs {
		out = append(out, recoveryOf(rc))
	}
	writeJSON(w, http.StatusOK, map[string]any{"recoveries": out})
	return nil
}

// inRecovery refuses a login of a DID in recovery mode: 403 in_recovery.
func (g *Gateway) inRecovery(did identity.DID) error {
	if g.cfg.Vouch == nil {
		return nil
	}
	in, err := g.cfg.Vouch.InRecovery(did)
	if err != nil {
		return err
	}
	if in {
		return errf(http.StatusForbidden, vouch.ReasonInRecovery, "%s is in recovery mode: a voucher reported its keys lost; the member recovers to a new DID with the stewards' signatures", did)
	}
	return nil
}
