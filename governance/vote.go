package governance

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Choice is a vote's choice.
type Choice string

// The choices.
const (
	For     Choice = "for"
	Against Choice = "against"
	Abstain Choice = "abstain"
)

// VoteBody is a vote exactly as a member's wallet signs it (tag
// icn/v1/vote; docs/governance.md fixes the bytes). The signed bytes travel
// unchanged; nobody re-serialises them.
type VoteBody struct {
	Coop     string `json:"coop"`
	Proposal string `json:"proposal"`
	Voter    string `json:"voter"`
	Choice   string `json:"choice"`
	// Revision numbers a voter's votes on one proposal from 1; a changed
	// vote carries a higher one, so a replayed older vote never undoes it.
	Revision  uint32 `json:"revision"`
	CreatedAt string `json:"created_at"`
}

var voteFields = []string{"coop", "proposal", "voter", "choice", "revision", "created_at"}

// Limits on a vote.
const (
	MaxVoteBytes = 1 << 10
	MaxIDLen     = 128
	MaxCoopLen   = 64
)

// Vote is a checked, signed vote: its values parsed, its bytes and
// signature kept for the audit trail.
type Vote struct {
	Coop     string
	Proposal string
	Voter    identity.DID
	Choice   Choice
	Revision uint32
	Created  time.Time
	// Payload and Signature are the exact signed bytes and the signature.
	Payload, Signature []byte
	// Hash is the SHA-256 of Payload.
	Hash [32]byte
}

// DecodeVote decodes vote bytes strictly (identity.DecodeJSON: one object,
// exactly the vote's fields, each once, in their exact case, UTF-8, no
// null, nothing after it; revision a plain non-negative integer). It checks
// no values and no signature.
func DecodeVote(raw []byte) (VoteBody, error) {
	if len(raw) > MaxVoteBytes {
		return VoteBody{}, errorf(ErrInvalidVote, "%d bytes, at most %d", len(raw), MaxVoteBytes)
	}
	var b VoteBody
	if err := identity.DecodeJSON(raw, &b, voteFields...); err != nil {
		return VoteBody{}, errorf(ErrInvalidVote, "%w", err)
	}
	return b, nil
}

// CheckVote decodes raw, checks its values, that signer is its voter, and
// sig over raw under identity.TagVote. Whether the vote may be cast (period,
// electorate, revision) is Proposal.Cast's to decide.
func CheckVote(raw, sig []byte, signer identity.DID) (Vote, error) {
	v, err := ParseVote(raw, sig)
	if err != nil {
		return Vote{}, err
	}
	if signer != v.Voter {
		return Vote{}, errorf(ErrWrongSigner, "signed by %s, voter is %s", signer.Short(), v.Voter.Short())
	}
	if err := identity.VerifyDID(signer, identity.TagVote, raw, sig); err != nil {
		return Vote{}, errorf(ErrBadSignature, "%w", err)
	}
	return v, nil
}

// ParseVote decodes raw and checks its values as CheckVote does, but not
// the signature sig it keeps with them: for a state machine applying a
// vote that CheckVote passed before it was proposed, or reading one back.
func ParseVote(raw, sig []byte) (Vote, error) {
	b, err := DecodeVote(raw)
	if err != nil {
		return Vote{}, err
	}
	v, err := b.check()
	if err != nil {
		return Vote{}, err
	}
	v.Payload = bytes.Clone(raw)
	v.Signature = bytes.Clone(sig)
	v.Hash = sha256.Sum256(raw)
	return v, nil
}

func (b VoteBody) check() (Vote, error) {
	v := Vote{Coop: b.Coop, Proposal: b.Proposal, Choice: Choice(b.Choice), Revision: b.Revision}
	if !validCoop(b.Coop) {
		return Vote{}, errorf(ErrInvalidVote, "coop must be 1-%d printable characters", MaxCoopLen)
	}
	if !identity.ValidID(b.Proposal, MaxIDLen) {
		return Vote{}, errorf(ErrInvalidVote, "proposal must be 1-%d characters of letters, digits, '-', '_', '.', ':'", MaxIDLen)
	}
	did, _, err := identity.ParseDID(b.Voter)
	if err != nil {
		return Vote{}, errorf(ErrInvalidVote, "voter: %w", err)
	}
	v.Voter = did
	if v.Choice != For && v.Choice != Against && v.Choice != Abstain {
		return Vote{}, errorf(ErrInvalidVote, "choice %.20q is not for, against or abstain", b.Choice)
	}
	if b.Revision == 0 {
		return Vote{}, errorf(ErrInvalidVote, "revision starts at 1")
	}
	if v.Created, err = time.Parse(time.RFC3339, b.CreatedAt); err != nil {
		return Vote{}, errorf(ErrInvalidVote, "created_at must be an RFC 3339 time")
	}
	return v, nil
}

// Encode returns the canonical bytes of b: compact JSON, fields in the
// order of VoteBody, no HTML escaping. Any bytes DecodeVote accepts may be
// signed; icn's own tools sign these.
func (b VoteBody) Encode() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		panic(err) // a struct of strings and an integer always encodes
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// SignVote encodes b canonically, signs it with k and checks the result as
// a receiver would.
func SignVote(k *identity.Key, b VoteBody) (Vote, error) {
	raw := b.Encode()
	return CheckVote(raw, k.Sign(identity.TagVote, raw), k.DID())
}

func validCoop(s string) bool { return s != "" && len(s) <= MaxCoopLen && identity.Printable(s) }
