package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

// Governance calls (docs/API.md, "Governance").

// Amount is money in a governance change: a decimal string and its currency.
type Amount struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// ProposalDraft is what OpenProposal sends; Change holds the kind's fields
// (docs/API.md shows them).
type ProposalDraft struct {
	ID     string         `json:"id,omitempty"`
	Kind   string         `json:"kind"`
	Title  string         `json:"title"`
	Body   string         `json:"body,omitempty"`
	Change map[string]any `json:"change"`
}

// Proposal is a proposal as the gateway shows it (the fields a wallet
// reads; the full record has the change, rule, electorate and ballots too).
type Proposal struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	Title        string          `json:"title"`
	Body         string          `json:"body"`
	Proposer     identity.DID    `json:"proposer"`
	Status       string          `json:"status"`
	Phase        string          `json:"phase"`
	OpenedAt     time.Time       `json:"opened_at"`
	VotingStarts time.Time       `json:"voting_starts"`
	VotingEnds   time.Time       `json:"voting_ends"`
	Ballots      []Ballot        `json:"ballots"`
	Tally        ProposalTally   `json:"tally"`
	Outcome      *ProposalResult `json:"outcome,omitempty"`
}

// Ballot is one recorded vote.
type Ballot struct {
	Voter    identity.DID `json:"voter"`
	Choice   string       `json:"choice"`
	Revision uint32       `json:"revision"`
	At       time.Time    `json:"at"`
}

// ProposalTally is a proposal's count.
type ProposalTally struct {
	Eligible int `json:"eligible"`
	For      int `json:"for"`
	Against  int `json:"against"`
	Abstain  int `json:"abstain"`
}

// ProposalResult is how a proposal closed.
type ProposalResult struct {
	Status   string    `json:"status"`
	Result   string    `json:"result"`
	ClosedAt time.Time `json:"closed_at"`
	Effects  []struct {
		Type    string       `json:"type"`
		Member  identity.DID `json:"member,omitempty"`
		Detail  string       `json:"detail,omitempty"`
		Skipped string       `json:"skipped,omitempty"`
	} `json:"effects"`
}

// VoteResult is what casting a vote did.
type VoteResult struct {
	Recorded bool     `json:"recorded"`
	Proposal Proposal `json:"proposal"`
}

func govPath(coop string, rest ...string) string {
	p := "/governance/" + seg(coop)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// OpenProposal opens a proposal (role proposer).
func (s *Session) OpenProposal(ctx context.Context, coop string, d ProposalDraft) (*Proposal, error) {
	var out Proposal
	if err := s.do(ctx, "POST", govPath(coop, "proposals"), d, &out); err != nil {
		return nil, fmt.Errorf("open proposal: %w", err)
	}
	return &out, nil
}

// Proposals lists the co-op's proposals, newest first; status filters
// ("" for all, "open" for those not closed).
func (s *Session) Proposals(ctx context.Context, coop, status string) ([]Proposal, error) {
	var out struct {
		Proposals []Proposal `json:"proposals"`
	}
	p := govPath(coop, "proposals")
	if status != "" {
		p += "?status=" + url.QueryEscape(status)
	}
	if err := s.do(ctx, "GET", p, nil, &out); err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	return out.Proposals, nil
}

// Proposal reads proposal id with its tally.
func (s *Session) Proposal(ctx context.Context, coop, id string) (*Proposal, error) {
	var out Proposal
	if err := s.do(ctx, "GET", govPath(coop, "proposals", seg(id)), nil, &out); err != nil {
		return nil, fmt.Errorf("proposal %s: %w", id, err)
	}
	return &out, nil
}

// Vote signs choice ("for", "against", "abstain") on proposal id with key
// (the session's own DID key) and casts it. A zero revision is one above
// the session's latest recorded vote on the proposal.
func (s *Session) Vote(ctx context.Context, coop, id string, key *identity.Key, choice string, revision uint32) (*VoteResult, error) {
	if key == nil || key.DID() != s.DID() {
		return nil, errors.New("vote: the vote is signed by the session's own DID key")
	}
	if revision == 0 {
		p, err := s.Proposal(ctx, coop, id)
		if err != nil {
			return nil, fmt.Errorf("vote: %w", err)
		}
		for _, b := range p.Ballots {
			if b.Voter == s.DID() && b.Revision > revision {
				revision = b.Revision
			}
		}
		revision++
	}
	raw := governance.VoteBody{Coop: coop, Proposal: id, Voter: string(s.DID()), Choice: choice, Revision: revision,
		CreatedAt: time.Now().UTC().Format(time.RFC3339)}.Encode()
	return s.VoteRaw(ctx, coop, id, raw, key.Sign(identity.TagVote, raw))
}

// VoteRaw casts vote bytes exactly as given, with their signature.
func (s *Session) VoteRaw(ctx context.Context, coop, id string, vote, sig []byte) (*VoteResult, error) {
	var out VoteResult
	body := map[string]string{"vote": identity.B64(vote), "signature": identity.B64(sig)}
	if err := s.do(ctx, "POST", govPath(coop, "proposals", seg(id), "votes"), body, &out); err != nil {
		return nil, fmt.Errorf("vote on %s: %w", id, err)
	}
	return &out, nil
}

// CloseProposal closes voting early (role moderator).
func (s *Session) CloseProposal(ctx context.Context, coop, id string) (*Proposal, error) {
	return s.proposalAction(ctx, coop, id, "close")
}

// CancelProposal withdraws a proposal (its proposer or a moderator).
func (s *Session) CancelProposal(ctx context.Context, coop, id string) (*Proposal, error) {
	return s.proposalAction(ctx, coop, id, "cancel")
}

func (s *Session) proposalAction(ctx context.Context, coop, id, action string) (*Proposal, error) {
	var out Proposal
	if err := s.do(ctx, "POST", govPath(coop, "proposals", seg(id), action), struct{}{}, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, id, err)
	}
	return &out, nil
}

// Delegate delegates the session's vote to to; RevokeDelegation takes it back.
func (s *Session) Delegate(ctx context.Context, coop string, to identity.DID) error {
	if err := s.do(ctx, "PUT", govPath(coop, "delegation"), map[string]string{"to": string(to)}, nil); err != nil {
		return fmt.Errorf("delegate to %s: %w", to.Short(), err)
	}
	return nil
}

// RevokeDelegation revokes the session's delegation.
func (s *Session) RevokeDelegation(ctx context.Context, coop string) error {
	if err := s.do(ctx, "DELETE", govPath(coop, "delegation"), nil, nil); err != nil {
		return fmt.Errorf("revoke delegation: %w", err)
	}
	return nil
}

// Appeal appeals the session's removal (within 30 days of it).
func (s *Session) Appeal(ctx context.Context, coop, title, body string) (*Proposal, error) {
	var out Proposal
	if err := s.do(ctx, "POST", govPath(coop, "appeals"), map[string]string{"title": title, "body": body}, &out); err != nil {
		return nil, fmt.Errorf("appeal: %w", err)
	}
	return &out, nil
}
