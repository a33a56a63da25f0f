package gateway

import (
	"errors"
	"net/http"

	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// The governance endpoints (docs/API.md, "Governance"). Who may do what is
// the rules' to decide, from the membership records (docs/governance.md,
// "Roles"): a route only needs a member's token, or, for an appeal, any
// token, since the appellant is no longer a member.

// govStatus is the HTTP status of a governance code.
var govStatus = map[string]int{
	"wrong_signer": http.StatusForbidden, "bad_signature": http.StatusUnauthorized,
	"not_member": http.StatusForbidden, "not_eligible": http.StatusForbidden, "forbidden": http.StatusForbidden,
	"not_voting": http.StatusConflict, "proposal_closed": http.StatusConflict, "already_voted": http.StatusConflict,
	"appeal_window_closed": http.StatusConflict, "appeal_filed": http.StatusConflict, "proposal_exists": http.StatusConflict,
	"proposal_not_found": http.StatusNotFound, "no_delegation": http.StatusNotFound, "no_removal": http.StatusNotFound,
}

// govError maps an error of the governance rules or of coopnode/govern to
// its wire form, or nil for any other error.
func govError(err error) *apiError {
	code := govern.Code(err)
	if code == "" {
		return nil
	}
	status, ok := govStatus[code]
	if !ok {
		status = http.StatusBadRequest // invalid_*, wrong_proposal, self_delegation, delegation_cycle, …
	}
	return errf(status, code, "%s", err.Error())
}

var errNoGovernance = errf(http.StatusNotFound, "not_found", "this node runs no governance")

func (g *Gateway) gov() (*govern.Store, error) {
	if g.cfg.Governance == nil {
		return nil, errNoGovernance
	}
	return g.cfg.Governance, nil
}

type proposalReq struct {
	ID     string        `json:"id"`
	Kind   string        `json:"kind"`
	Title  string        `json:"title"`
	Body   string        `json:"body"`
	Change govern.Change `json:"change"`
}

func (g *Gateway) postProposal(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	var req proposalReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	p, err := gs.Open(r.Context(), govern.Draft{ID: req.ID, Kind: governance.Kind(req.Kind), Title: req.Title, Body: req.Body,
		Proposer: c.DID, Change: req.Change})
	if err != nil {
		return err
	}
	return g.writeProposal(w, http.StatusCreated, p.ID)
}

func (g *Gateway) writeProposal(w http.ResponseWriter, status int, id string) error {
	v, err := g.cfg.Governance.Proposal(id)
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

func (g *Gateway) getProposals(w http.ResponseWriter, r *http.Request, _ *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	ps, err := gs.Proposals(r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"proposals": ps})
	return nil
}

func (g *Gateway) getProposal(w http.ResponseWriter, r *http.Request, _ *caller) error {
	if _, err := g.gov(); err != nil {
		return err
	}
	return g.writeProposal(w, http.StatusOK, r.PathValue("id"))
}

type voteReq struct {
	Vote      string `json:"vote"`
	Signature string `json:"signature"`
}

type voteResp struct {
	Recorded bool        `json:"recorded"`
	Proposal govern.View `json:"proposal"`
}

func (g *Gateway) postVote(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	var req voteReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	raw, err := b64Field("vote", req.Vote)
	if err != nil {
		return err
	}
	sig, err := b64Field("signature", req.Signature)
	if err != nil {
		return err
	}
	body, err := governance.DecodeVote(raw)
	if err != nil {
		return err
	}
	if id := r.PathValue("id"); body.Proposal != id {
		return errf(http.StatusBadRequest, "wrong_proposal", "the vote is for proposal %.128q, posted to %.128q", body.Proposal, id)
	}
	res, err := gs.Cast(r.Context(), raw, sig, c.DID)
	if err != nil {
		return err
	}
	v, err := gs.Proposal(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, voteResp{Recorded: res.Recorded, Proposal: v})
	return nil
}

func (g *Gateway) postClose(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	p, err := gs.Close(r.Context(), r.PathValue("id"), c.DID)
	if err != nil {
		return err
	}
	return g.writeProposal(w, http.StatusOK, p.ID)
}

func (g *Gateway) postCancel(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	p, err := gs.Cancel(r.Context(), r.PathValue("id"), c.DID)
	if err != nil {
		return err
	}
	return g.writeProposal(w, http.StatusOK, p.ID)
}

type delegation struct {
	From identity.DID `json:"from"`
	To   identity.DID `json:"to"`
}

func (g *Gateway) getDelegations(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	ds, err := gs.Delegations()
	if err != nil {
		return err
	}
	out := make([]delegation, len(ds))
	for i, d := range ds {
		out[i] = delegation(d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"delegations": out})
	return nil
}

func (g *Gateway) putDelegation(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	var req struct {
		To string `json:"to"`
	}
	if err := g.decode(r, &req); err != nil {
		return err
	}
	to, _, err := identity.ParseDID(req.To)
	if err != nil {
		return err
	}
	if err := gs.Delegate(r.Context(), c.DID, to); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, delegation{From: c.DID, To: to})
	return nil
}

func (g *Gateway) deleteDelegation(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	if err := gs.RevokeDelegation(r.Context(), c.DID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]identity.DID{"from": c.DID})
	return nil
}

type appealReq struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

func (g *Gateway) postAppeal(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	var req appealReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	p, err := gs.FileAppeal(r.Context(), govern.AppealDraft{ID: req.ID, Title: req.Title, Body: req.Body, Appellant: c.DID})
	if err != nil {
		return err
	}
	return g.writeProposal(w, http.StatusCreated, p.ID)
}

func (g *Gateway) getDues(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	gs, err := g.gov()
	if err != nil {
		return err
	}
	d, err := gs.Dues()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

type creditLimitReq struct {
	Limit    string `json:"limit"`
	Currency string `json:"currency"`
}

type creditLimitResp struct {
	DID         identity.DID `json:"did"`
	CreditLimit string       `json:"credit_limit"`
	Currency    string       `json:"currency"`
}

// putCreditLimit sets a member's own credit limit, by a treasurer (the
// admin holds every role). A proposal of kind economic does the same by vote.
func (g *Gateway) putCreditLimit(w http.ResponseWriter, r *http.Request, _ *caller) error {
	did, _, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return err
	}
	var req creditLimitReq
	if err := g.decode(r, &req); err != nil {
		return err
	}
	if req.Currency == "" {
		req.Currency = money.Hours.Code
	}
	cur, err := g.cfg.Ledger.Currencies().Lookup(req.Currency)
	if err != nil {
		return err
	}
	limit, err := money.Parse(req.Limit, cur)
	if err != nil {
		return err
	}
	if limit.Sign() < 0 {
		return errf(http.StatusBadRequest, "invalid_amount", "a credit limit is 0 or more")
	}
	if _, err := g.cfg.Members.Member(did); err != nil {
		return err
	}
	if err := g.cfg.Ledger.SetCreditLimit(r.Context(), ledger.Account(did), limit); err != nil {
		if errors.Is(err, ledger.ErrInvalid) {
			return errf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
		}
		return err
	}
	writeJSON(w, http.StatusOK, creditLimitResp{DID: did, CreditLimit: limit.String(), Currency: cur.Code})
	return nil
}
