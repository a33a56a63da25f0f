package govern

import (
	"time"

	"github.com/icn-coop/icn/identity"
)

// Event types this package appends to the feeds (docs/API.md, "Events").
// ProposalOpened, ProposalClosed, MemberRemoved and AppealFiled are
// co-op-wide notices, in every member's feed; VoteCast is in the voter's.
const (
	EventProposalOpened = "ProposalOpened"
	EventVoteCast       = "VoteCast"
	EventProposalClosed = "ProposalClosed"
	EventMemberRemoved  = "MemberRemoved"
	EventAppealFiled    = "AppealFiled"
)

type proposalOpened struct {
	ID           string       `json:"id"`
	Kind         string       `json:"kind"`
	Title        string       `json:"title"`
	Proposer     identity.DID `json:"proposer"`
	VotingStarts time.Time    `json:"voting_starts"`
	VotingEnds   time.Time    `json:"voting_ends"`
}

type voteCast struct {
	Proposal string       `json:"proposal"`
	Voter    identity.DID `json:"voter"`
	Choice   string       `json:"choice"`
	Revision uint32       `json:"revision"`
}

type proposalClosed struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Result   string    `json:"result"`
	Eligible int       `json:"eligible"`
	For      int       `json:"for"`
	Against  int       `json:"against"`
	Abstain  int       `json:"abstain"`
	Effects  []Applied `json:"effects"`
}

type memberRemoved struct {
	DID         identity.DID `json:"did"`
	Proposal    string       `json:"proposal"`
	AppealUntil time.Time    `json:"appeal_until"`
}

type appealFiled struct {
	Appeal    string       `json:"appeal"`
	Appellant identity.DID `json:"appellant"`
	Removal   string       `json:"removal"`
	Title     string       `json:"title"`
}
