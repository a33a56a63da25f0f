package governance

import "errors"

// Sentinel errors; test with errors.Is. Every error this package returns
// wraps one of them, with the detail a caller shows the member.
var (
	// ErrInvalidProposal: a draft is malformed (id, title, kind, a change
	// that does not fit its kind or names a non-member).
	ErrInvalidProposal = errors.New("governance: invalid proposal")
	// ErrInvalidVote: a vote's bytes are not a well-formed vote.
	ErrInvalidVote = errors.New("governance: invalid vote")
	// ErrWrongSigner: a vote is signed by another key than its voter's.
	ErrWrongSigner = errors.New("governance: vote not signed by its voter")
	// ErrBadSignature: the vote's signature does not verify.
	ErrBadSignature = errors.New("governance: vote signature does not verify")
	// ErrWrongProposal: a vote names another proposal or co-op.
	ErrWrongProposal = errors.New("governance: vote is for another proposal")
	// ErrNotVoting: the proposal is not in its voting period (still in
	// discussion, past its deadline, or closed).
	ErrNotVoting = errors.New("governance: proposal is not open for voting")
	// ErrClosed: the proposal is already passed, failed or cancelled.
	ErrClosed = errors.New("governance: proposal is closed")
	// ErrNotMember: the actor is not a member of the co-op.
	ErrNotMember = errors.New("governance: not a member")
	// ErrNotEligible: a member who is not in the proposal's electorate
	// (joined after it opened, or is the subject of a removal) voted.
	ErrNotEligible = errors.New("governance: not eligible to vote on this proposal")
	// ErrNotAuthorised: the actor's roles do not permit the action.
	ErrNotAuthorised = errors.New("governance: not authorised")
	// ErrAlreadyVoted: the voter has a vote of this revision or a later one
	// recorded; a changed vote needs a higher revision.
	ErrAlreadyVoted = errors.New("governance: vote revision already recorded")
	// ErrSelfDelegation: a member delegated to themself.
	ErrSelfDelegation = errors.New("governance: cannot delegate to oneself")
	// ErrDelegationCycle: the delegation would close a cycle.
	ErrDelegationCycle = errors.New("governance: delegation would form a cycle")
	// ErrNoDelegation: a revocation found no delegation to revoke.
	ErrNoDelegation = errors.New("governance: no delegation to revoke")
	// ErrDuplicateDelegation: a stored list of delegations holds two from
	// one member.
	ErrDuplicateDelegation = errors.New("governance: two delegations from one member")
	// ErrAppealWindow: an appeal came after the 30 days following removal.
	ErrAppealWindow = errors.New("governance: appeal window has closed")
	// ErrAppealFiled: the removal has been appealed already (one appeal
	// per removal).
	ErrAppealFiled = errors.New("governance: removal already appealed")
	// ErrInvalidPolicy: a rule has no usable threshold, quorum or period.
	ErrInvalidPolicy = errors.New("governance: invalid policy")
	// ErrInvalidSchedule: a dues schedule is unusable.
	ErrInvalidSchedule = errors.New("governance: invalid dues schedule")
)

var codes = []struct {
	err  error
	code string
}{
	{ErrInvalidProposal, "invalid_proposal"},
	{ErrInvalidVote, "invalid_vote"},
	{ErrWrongSigner, "wrong_signer"},
	{ErrBadSignature, "bad_signature"},
	{ErrWrongProposal, "wrong_proposal"},
	{ErrNotVoting, "not_voting"},
	{ErrClosed, "proposal_closed"},
	{ErrNotMember, "not_member"},
	{ErrNotEligible, "not_eligible"},
	{ErrNotAuthorised, "forbidden"},
	{ErrAlreadyVoted, "already_voted"},
	{ErrSelfDelegation, "self_delegation"},
	{ErrDelegationCycle, "delegation_cycle"},
	{ErrNoDelegation, "no_delegation"},
	{ErrDuplicateDelegation, "duplicate_delegation"},
	{ErrAppealWindow, "appeal_window_closed"},
	{ErrAppealFiled, "appeal_filed"},
	{ErrInvalidPolicy, "invalid_policy"},
	{ErrInvalidSchedule, "invalid_schedule"},
}

// Code returns the wire code (snake_case, for the API's error body) of an
// error from this package, or "" for any other error.
func Code(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}
