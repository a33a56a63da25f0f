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
	// ErrWrongSigner: a vote (or a vouch, voucher revoke or recovery
	// signature) is signed by another key than its author's.
	ErrWrongSigner = errors.New("governance: not signed by its author")
	// ErrBadSignature: the signature of a vote, vouch, voucher revoke or
	// recovery does not verify under its tag.
	ErrBadSignature = errors.New("governance: signature does not verify")
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
	// ErrInvalidVouch: a vouch's bytes or fields break the rules
	// (docs/governance.md, "Trust-gated credit").
	ErrInvalidVouch = errors.New("governance: invalid vouch")
	// ErrSelfVouch: a member vouched for themself.
	ErrSelfVouch = errors.New("governance: cannot vouch for oneself")
	// ErrInvalidVoucherRevoke: a voucher's emergency revoke is malformed.
	ErrInvalidVoucherRevoke = errors.New("governance: invalid voucher revoke")
	// ErrInvalidRecovery: a steward's recovery signature is malformed.
	ErrInvalidRecovery = errors.New("governance: invalid recovery")
	// ErrInvalidCreditPolicy: a credit policy's percentages are unusable.
	ErrInvalidCreditPolicy = errors.New("governance: invalid credit policy")
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
	{ErrInvalidVouch, "invalid_vouch"},
	{ErrSelfVouch, "self_vouch"},
	{ErrInvalidVoucherRevoke, "invalid_voucher_revoke"},
	{ErrInvalidRecovery, "invalid_recovery"},
	{ErrInvalidCreditPolicy, "invalid_credit_policy"},
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
