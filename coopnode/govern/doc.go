// Package govern is the co-op node's side of governance: it keeps
// proposals (ballots included), delegations, removals, appeals and the dues
// schedule in the node's state, and applies the pure rules of package
// governance to them in commands of the node's state machine.
//
// Every write is a CoopCommand (OpenProposal, CastVote, Delegate,
// RevokeDelegation, CloseProposal, CancelProposal, FileAppeal,
// CollectDues, AdvanceProposals) applied by coopnode/store. Each handler
// first closes, with the command's time, every proposal whose deadline has
// passed, and applies a passed proposal's effects (credit limits, roles,
// removal, restoration, dues) in the same transaction, through the typed
// in-transaction operations of coopnode/ledger and coopnode/membership.
// Feed events (ProposalOpened, VoteCast, ProposalClosed, MemberRemoved,
// AppealFiled) are written in that transaction too. Signatures are checked
// before a command is built; handlers re-read votes with the strict decoder
// only (governance.ParseVote). Nothing reads a clock inside a handler.
package govern
