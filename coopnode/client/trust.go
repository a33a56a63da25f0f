package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

// Member trust and recovery calls (docs/API.md, "Member trust and recovery").

// VouchRecord is a recorded vouch.
type VouchRecord struct {
	Voucher      identity.DID   `json:"voucher"`
	Vouchee      identity.DID   `json:"vouchee"`
	At           string         `json:"at"`
	Vouch        string         `json:"vouch"`
	Signature    string         `json:"signature"`
	MigratedFrom []identity.DID `json:"migrated_from,omitempty"`
}

// VouchResult is the answer to a vouch.
type VouchResult struct {
	Recorded bool        `json:"recorded"`
	Vouch    VouchRecord `json:"vouch"`
}

// TrustVouch is one vouch in a member's standing.
type TrustVouch struct {
	Voucher      identity.DID   `json:"voucher"`
	At           string         `json:"at"`
	Counts       bool           `json:"counts"`
	MigratedFrom []identity.DID `json:"migrated_from,omitempty"`
}

// TrustLimit is a member's credit limit in one currency, set and effective.
type TrustLimit struct {
	Currency  string `json:"currency"`
	Set       string `json:"set"`
	Effective string `json:"effective"`
}

// RecoveryMode is a DID in recovery mode (or recovered).
type RecoveryMode struct {
	DID      identity.DID `json:"did"`
	Status   string       `json:"status"`
	By       identity.DID `json:"by,omitempty"`
	At       string       `json:"at"`
	Recovery string       `json:"recovery,omitempty"`
	NewDID   identity.DID `json:"new_did,omitempty"`
}

// Trust is a member's standing, vouches and effective limits.
type Trust struct {
	DID             identity.DID   `json:"did"`
	PolicyEnabled   bool           `json:"policy_enabled"`
	StandingPercent int            `json:"standing_percent"`
	Sponsor         identity.DID   `json:"sponsor"`
	Vouches         []TrustVouch   `json:"vouches"`
	Vouched         []identity.DID `json:"vouched"`
	Suspended       bool           `json:"suspended"`
	InRecovery      bool           `json:"in_recovery"`
	Recovery        *RecoveryMode  `json:"recovery"`
	Limits          []TrustLimit   `json:"limits"`
}

// RecoverySignature is one steward's signature on a recovery.
type RecoverySignature struct {
	Steward   identity.DID `json:"steward"`
	At        string       `json:"at"`
	Request   string       `json:"request"`
	Signature string       `json:"signature"`
}

// Recovery is a recovery of an old DID to a new one.
type Recovery struct {
	ID          string              `json:"id"`
	Old         identity.DID        `json:"old"`
	New         identity.DID        `json:"new"`
	Status      string              `json:"status"`
	Signatures  []RecoverySignature `json:"signatures"`
	Stewards    int                 `json:"stewards"`
	Quorum      int                 `json:"quorum"`
	OpenedAt    string              `json:"opened_at"`
	CompletedAt string              `json:"completed_at,omitempty"`
	Payments    []string            `json:"payments"`
}

func memberPath(coop string, rest ...string) string {
	p := "/membership/" + seg(coop)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

func (s *Session) ownKey(what string, key *identity.Key) error {
	if key == nil || key.DID() != s.DID() {
		return fmt.Errorf("%s: signed by the session's own DID key", what)
	}
	return nil
}

// Vouch signs, with key (the session's own DID key), a vouch for vouchee
// in coop (tag icn/v1/vouch) and records it.
func (s *Session) Vouch(ctx context.Context, coop string, key *identity.Key, vouchee identity.DID) (*VouchResult, error) {
	if err := s.ownKey("vouch", key); err != nil {
		return nil, err
	}
	raw := governance.VouchBody{Coop: coop, Voucher: string(key.DID()), Vouchee: string(vouchee), CreatedAt: now()}.Encode()
	return s.VouchRaw(ctx, coop, raw, key.Sign(identity.TagVouch, raw))
}

// VouchRaw records vouch bytes exactly as given, with their signature.
func (s *Session) VouchRaw(ctx context.Context, coop string, vouch, sig []byte) (*VouchResult, error) {
	var out VouchResult
	body := map[string]string{"vouch": identity.B64(vouch), "signature": identity.B64(sig)}
	if err := s.do(ctx, "POST", memberPath(coop, "vouches"), body, &out); err != nil {
		return nil, fmt.Errorf("vouch: %w", err)
	}
	return &out, nil
}

// Trust reads did's standing in coop.
func (s *Session) Trust(ctx context.Context, coop string, did identity.DID) (*Trust, error) {
	var out Trust
	if err := s.do(ctx, "GET", memberPath(coop, "trust", seg(string(did))), nil, &out); err != nil {
		return nil, fmt.Errorf("trust of %s: %w", did.Short(), err)
	}
	return &out, nil
}

// VoucherRevoke signs, with key (the session's own DID key, a voucher of
// member), an emergency revoke of member (tag icn/v1/voucher-revoke) and
// sends it: member's DID goes into recovery mode.
func (s *Session) VoucherRevoke(ctx context.Context, coop string, key *identity.Key, member identity.DID) (*RecoveryMode, error) {
	if err := s.ownKey("emergency revoke", key); err != nil {
		return nil, err
	}
	raw := governance.VoucherRevokeBody{Coop: coop, Voucher: string(key.DID()), Member: string(member), CreatedAt: now()}.Encode()
	var out RecoveryMode
	body := map[string]string{"request": identity.B64(raw), "signature": identity.B64(key.Sign(identity.TagVoucherRevoke, raw))}
	if err := s.do(ctx, "POST", memberPath(coop, "emergency-revoke"), body, &out); err != nil {
		return nil, fmt.Errorf("emergency revoke of %s: %w", member.Short(), err)
	}
	return &out, nil
}

// SignRecovery returns a steward's signed recovery of old to newDID under
// id (tag icn/v1/recovery): the request and signature bytes, which anyone
// may send with SendRecovery.
func SignRecovery(coop, id string, steward *identity.Key, old, newDID identity.DID) (request, sig []byte, err error) {
	if steward == nil {
		return nil, nil, errors.New("sign recovery: no key")
	}
	raw := governance.RecoveryBody{Coop: coop, Recovery: id, Old: string(old), New: string(newDID), Steward: string(steward.DID()), CreatedAt: now()}.Encode()
	return raw, steward.Sign(identity.TagRecovery, raw), nil
}

// SendRecovery sends one steward's signed recovery (any session may).
func (s *Session) SendRecovery(ctx context.Context, coop string, request, sig []byte) (*Recovery, error) {
	var out Recovery
	body := map[string]string{"request": identity.B64(request), "signature": identity.B64(sig)}
	if err := s.do(ctx, "POST", memberPath(coop, "recoveries"), body, &out); err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	return &out, nil
}

// Recoveries lists the recoveries whose old or new DID is did.
func (s *Session) Recoveries(ctx context.Context, coop string, did identity.DID) ([]Recovery, error) {
	var out struct {
		Recoveries []Recovery `json:"recoveries"`
	}
	if err := s.do(ctx, "GET", memberPath(coop, "recoveries", seg(string(did))), nil, &out); err != nil {
		return nil, fmt.Errorf("recoveries of %s: %w", did.Short(), err)
	}
	return out.Recoveries, nil
}
