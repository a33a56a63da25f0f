package membership

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// EventCredentialRenewed reports a member's credential re-issued before it
// expired (RenewCredentials): in the member's feed and the co-op's.
const EventCredentialRenewed = "CredentialRenewed"

// maxRenewalsPerCommand bounds one RenewCredentials command (each renewal
// is a credential of a few hundred bytes and a signature in the handler);
// RenewDue sends as many commands as it takes.
const maxRenewalsPerCommand = 256

// Renewal is one member's renewed credential.
type Renewal struct {
	DID          identity.DID `json:"did"`
	CredentialID string       `json:"credential_id"`
	ExpiresAt    time.Time    `json:"expires_at"`
}

// credentialRenewed is the payload of a CredentialRenewed event.
type credentialRenewed struct {
	DID          identity.DID `json:"did"`
	CredentialID string       `json:"credential_id"`
	Previous     string       `json:"previous"`
	ExpiresAt    time.Time    `json:"expires_at"`
}

// DueForRenewal lists, ordered by DID, the members whose credential stands
// at now (active, unrevoked, unexpired, verified) and expires within
// before of now. It reads only memory.
func (s *Store) DueForRenewal(now time.Time, before time.Duration) []Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Member
	horizon := now.Add(before)
	for _, m := range s.members {
		if m.Status != StatusActive || s.revoked[m.CredentialID] || m.invalid || !now.Before(m.CredentialExpiresAt) {
			continue
		}
		if !m.CredentialExpiresAt.After(horizon) {
			out = append(out, s.toMember(m))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DID < out[j].DID })
	return out
}

// RenewDue renews, at the store's clock, every credential DueForRenewal
// lists under Options.RenewBefore: each is re-issued with the same roles,
// valid for Options.CredentialTTL from now, under a new id (the old one is
// revoked), and a CredentialRenewed event goes to the member's feed. It
// submits nothing when nothing is due, and returns what it renewed. A
// member who is removed or whose credential changes before the command
// applies is left alone, so a repeated or concurrent run renews each
// credential once.
func (s *Store) RenewDue(ctx context.Context) ([]Renewal, error) {
	now := s.opts.Clock()
	due := s.DueForRenewal(now, s.opts.RenewBefore)
	var out []Renewal
	for len(due) > 0 {
		n := min(len(due), maxRenewalsPerCommand)
		cmd := &icnv1.RenewCredentials{ExpiresAtUnixNano: now.Add(s.opts.CredentialTTL).UnixNano()}
		for _, m := range due[:n] {
			id, err := randomID()
			if err != nil {
				return out, err
			}
			cmd.Renewals = append(cmd.Renewals, &icnv1.CredentialRenewal{Did: string(m.DID), CredentialId: m.CredentialID, NewCredentialId: id})
		}
		due = due[n:]
		res, err := s.submit(ctx, now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_RenewCredentials{RenewCredentials: cmd}})
		if err != nil {
			return out, fmt.Errorf("renew credentials: %w", err)
		}
		out = append(out, res.([]Renewal)...)
	}
	return out, nil
}

func (s *Store) applyRenew(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c, now := cmd.GetRenewCredentials(), tx.Now()
	expires := time.Unix(0, c.ExpiresAtUnixNano).UTC()
	if !expires.After(now) {
		return nil, fmt.Errorf("%w: renewed credentials must expire after the command's time", ErrBadRequest)
	}
	out := []Renewal{}
	for _, r := range c.Renewals {
		did := identity.DID(r.Did)
		old, err := getMember(tx, did)
		if err != nil {
			return nil, err
		}
		// Renew only the credential the proposer saw, if it still stands
		// and the renewal extends it: a repeat finds it replaced.
		if old == nil || old.CredentialID != r.CredentialId || r.NewCredentialId == "" ||
			s.authorizedTx(tx, old, now) != nil || !expires.After(old.CredentialExpiresAt) {
			continue
		}
		sc, cred, err := s.issueUntil(r.NewCredentialId, did, old.Roles, now, expires)
		if err != nil {
			return nil, err
		}
		m := &memberRec{DID: old.DID, Name: old.Name, ApprovedBy: old.ApprovedBy, InvitedBy: old.InvitedBy}
		revoked, err := s.activate(tx, old, m, sc, cred, now)
		if err != nil {
			return nil, err
		}
		s.commitAfter(tx, commit{member: m, revoked: revoked})
		if err := tx.AppendEvent(ledger.EventSpec{
			Type: EventCredentialRenewed, Members: []identity.DID{did},
			Payload: credentialRenewed{DID: did, CredentialID: m.CredentialID, Previous: old.CredentialID, ExpiresAt: expires},
		}); err != nil {
			return nil, err
		}
		out = append(out, Renewal{DID: did, CredentialID: m.CredentialID, ExpiresAt: expires})
	}
	return out, nil
}

// RunRenewals calls RenewDue every interval (and once at once) until ctx
// ends. On a replicated co-op only the leader runs it; a repeat from
// another node renews nothing twice.
func (s *Store) RunRenewals(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rs, err := s.RenewDue(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("credential renewal", "err", err)
		}
		if len(rs) > 0 {
			log.Info("credentials renewed", "count", len(rs), "expires_at", rs[0].ExpiresAt)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
