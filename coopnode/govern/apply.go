package govern

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Draft is what a proposer submits (ID may be empty: the node picks one).
type Draft struct {
	ID       string
	Kind     governance.Kind
	Title    string
	Body     string
	Proposer identity.DID
	Change   Change
}

// Open opens a proposal.
func (s *Store) Open(ctx context.Context, d Draft) (*Proposal, error) {
	if d.ID == "" {
		d.ID = newID("prop", s.opts.Clock())
	}
	if d.Change.Restore != nil {
		return nil, fmt.Errorf("open %s: %w: appeals are filed with FileAppeal", d.ID, governance.ErrInvalidProposal)
	}
	change, err := json.Marshal(d.Change)
	if err != nil {
		return nil, err
	}
	return s.proposalResult(s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_OpenProposal{OpenProposal: &icnv1.OpenProposal{
		Id: d.ID, Kind: string(d.Kind), Title: d.Title, Body: d.Body, Proposer: string(d.Proposer), ChangeJson: change,
	}}}))
}

func (s *Store) proposalResult(v any, err error) (*Proposal, error) {
	if err != nil {
		return nil, err
	}
	return v.(*Proposal), nil
}

func (s *Store) applyOpen(tx *gtx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetOpenProposal()
	if tx.Bucket(bktProposals).Get([]byte(c.Id)) != nil {
		return nil, fmt.Errorf("%w: %.128s", ErrExists, c.Id)
	}
	var ch Change
	if err := json.Unmarshal(c.ChangeJson, &ch); err != nil {
		return nil, fmt.Errorf("%w: change: %w", governance.ErrInvalidProposal, err)
	}
	if ch.Restore != nil {
		return nil, fmt.Errorf("%w: appeals are filed with FileAppeal", governance.ErrInvalidProposal)
	}
	change, err := ch.domain(tx.Currency)
	if err != nil {
		return nil, err
	}
	r, err := tx.roster()
	if err != nil {
		return nil, err
	}
	p, err := governance.Open(governance.Draft{ID: c.Id, Coop: s.opts.CoopID, Kind: governance.Kind(c.Kind), Title: c.Title,
		Body: c.Body, Proposer: identity.DID(c.Proposer), Change: change}, r, s.opts.Policy, tx.Now())
	if err := rosterErr(r, err); err != nil {
		return nil, err
	}
	rec := proposalOf(p)
	if err := tx.save(rec); err != nil {
		return nil, err
	}
	return rec, tx.opened(rec)
}

// CastResult is what casting a vote did.
type CastResult struct {
	// Recorded is false for a repeat of a vote already recorded (the same
	// bytes): nothing changed.
	Recorded bool      `json:"recorded"`
	Proposal *Proposal `json:"-"`
}

// Cast checks a signed vote (bytes, signature, signer: the caller's DID)
// and, if it verifies, records it.
func (s *Store) Cast(ctx context.Context, raw, sig []byte, signer identity.DID) (CastResult, error) {
	if _, err := governance.CheckVote(raw, sig, signer); err != nil {
		return CastResult{}, err
	}
	v, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_CastVote{CastVote: &icnv1.CastVote{Vote: raw, Signature: sig}}})
	if err != nil {
		return CastResult{}, err
	}
	return v.(CastResult), nil
}

func (s *Store) applyCast(tx *gtx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetCastVote()
	v, err := governance.ParseVote(c.Vote, c.Signature)
	if err != nil {
		return nil, err
	}
	rec, p, err := tx.load(v.Proposal)
	if err != nil {
		return nil, err
	}
	r, err := tx.roster()
	if err != nil {
		return nil, err
	}
	recorded, err := p.Cast(v, r, tx.Now())
	if err = rosterErr(r, err); err != nil || !recorded {
		return CastResult{Recorded: false, Proposal: rec}, err
	}
	next := proposalOf(p)
	next.Change = rec.Change
	if err := tx.save(next); err != nil {
		return nil, err
	}
	return CastResult{Recorded: true, Proposal: next}, tx.AppendEvent(ledger.EventSpec{Type: EventVoteCast,
		Members: []identity.DID{v.Voter}, Payload: voteCast{Proposal: p.ID, Voter: v.Voter, Choice: string(v.Choice), Revision: v.Revision}})
}

// load reads proposal id as record and as the rules' value.
func (tx *gtx) load(id string) (*Proposal, *governance.Proposal, error) {
	rec, err := tx.proposal(id)
	if err != nil {
		return nil, nil, err
	}
	p, err := rec.domain(tx.Currency)
	if err != nil {
		return nil, nil, err
	}
	return rec, p, nil
}

// Delegate makes or replaces from's delegation to to.
func (s *Store) Delegate(ctx context.Context, from, to identity.DID) error {
	_, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_Delegate{Delegate: &icnv1.Delegate{From: string(from), To: string(to)}}})
	return err
}

func (s *Store) applyDelegate(tx *gtx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetDelegate()
	d, err := tx.delegations()
	if err != nil {
		return nil, err
	}
	r, err := tx.roster()
	if err != nil {
		return nil, err
	}
	if err := rosterErr(r, d.Delegate(identity.DID(c.From), identity.DID(c.To), r)); err != nil {
		return nil, err
	}
	return nil, tx.putDelegations(d)
}

// RevokeDelegation removes from's delegation.
func (s *Store) RevokeDelegation(ctx context.Context, from identity.DID) error {
	_, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_RevokeDelegation{RevokeDelegation: &icnv1.RevokeDelegation{From: string(from)}}})
	return err
}

func (s *Store) applyRevokeDelegation(tx *gtx, cmd *icnv1.CoopCommand) (any, error) {
	d, err := tx.delegations()
	if err != nil {
		return nil, err
	}
	if err := d.Revoke(identity.DID(cmd.GetRevokeDelegation().From)); err != nil {
		return nil, err
	}
	return nil, tx.putDelegations(d)
}

// Close closes voting on proposal id early, as moderator by.
func (s *Store) Close(ctx context.Context, id string, by identity.DID) (*Proposal, error) {
	return s.proposalResult(s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_CloseProposal{CloseProposal: &icnv1.CloseProposal{Id: id, By: string(by)}}}))
}

func (s *Store) applyClose(tx *gtx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetCloseProposal()
	return tx.decide(c.Id, func(p *governance.Proposal, r *roster, d *governance.Delegations) (*governance.Outcome, error) {
		return p.Close(identity.DID(c.By), r, d, tx.Now())
	})
}

// decide closes proposal id with the outcome that decide gives it, with the
// roster and delegations as they stand.
func (tx *gtx) decide(id string, decide func(*governance.Proposal, *roster, *governance.Delegations) (*governance.Outcome, error)) (any, error) {
	rec, p, err := tx.load(id)
	if err != nil {
		return nil, err
	}
	r, err := tx.roster()
	if err != nil {
		return nil, err
	}
	d, err := tx.delegations()
	if err != nil {
		return nil, err
	}
	o, err := decide(p, r, d)
	if err := rosterErr(r, err); err != nil {
		return nil, err
	}
	return tx.closed(rec, p, o)
}

// Cancel withdraws proposal id, by its proposer or a moderator.
func (s *Store) Cancel(ctx context.Context, id string, by identity.DID) (*Proposal, error) {
	return s.proposalResult(s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_CancelProposal{CancelProposal: &icnv1.CancelProposal{Id: id, By: string(by)}}}))
}

func (s *Store) applyCancel(tx *gtx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetCancelProposal()
	return tx.decide(c.Id, func(p *governance.Proposal, r *roster, _ *governance.Delegations) (*governance.Outcome, error) {
		return p.Cancel(identity.DID(c.By), r, tx.Now())
	})
}

// AppealDraft is what a removed member submits (ID may be empty).
type AppealDraft struct {
	ID, Title, Body string
	Appellant       identity.DID
}

// FileAppeal opens the appeal of the appellant's latest removal.
func (s *Store) FileAppeal(ctx context.Context, a AppealDraft) (*Proposal, error) {
	if a.ID == "" {
		a.ID = newID("appeal", s.opts.Clock())
	}
	return s.proposalResult(s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_FileAppeal{FileAppeal: &icnv1.FileAppeal{
		Id: a.ID, Appellant: string(a.Appellant), Title: a.Title, Body: a.Body,
	}}}))
}

func (s *Store) applyAppeal(tx *gtx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetFileAppeal()
	if tx.Bucket(bktProposals).Get([]byte(c.Id)) != nil {
		return nil, fmt.Errorf("%w: %.128s", ErrExists, c.Id)
	}
	appellant := identity.DID(c.Appellant)
	var stored Removal
	ok, err := tx.Bucket(bktRemovals).GetJSON([]byte(appellant), &stored)
	if err != nil {
		return nil, err
	}
	if !ok || stored.ResolvedBy != "" {
		return nil, fmt.Errorf("%w: %s has no standing removal", ErrNoRemoval, appellant.Short())
	}
	removal, err := stored.domain(tx.Currency)
	if err != nil {
		return nil, err
	}
	r, err := tx.roster()
	if err != nil {
		return nil, err
	}
	p, err := governance.OpenAppeal(&removal, governance.AppealDraft{ID: c.Id, Coop: s.opts.CoopID, Appellant: appellant,
		Title: c.Title, Body: c.Body}, r, s.opts.Policy, tx.Now())
	if err := rosterErr(r, err); err != nil {
		return nil, err
	}
	stored.Appeal = removal.Appeal
	if err := tx.Bucket(bktRemovals).PutJSON([]byte(appellant), stored); err != nil {
		return nil, err
	}
	rec := proposalOf(p)
	if err := tx.save(rec); err != nil {
		return nil, err
	}
	if err := tx.opened(rec); err != nil {
		return nil, err
	}
	return rec, tx.AppendEvent(ledger.EventSpec{Type: EventAppealFiled, AllMembers: true, Members: []identity.DID{appellant},
		Payload: appealFiled{Appeal: rec.ID, Appellant: appellant, Removal: stored.Proposal, Title: rec.Title}})
}

// Advance closes the proposals whose deadline has passed (every command
// of this package does so first; the scheduler sends this one at deadlines).
func (s *Store) Advance(ctx context.Context) error {
	_, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_AdvanceProposals{AdvanceProposals: &icnv1.AdvanceProposals{}}})
	return err
}

// advance closes every proposal whose deadline is at or before the
// command's time, in deadline order, applying the outcomes.
func (tx *gtx) advance() error {
	now := tx.Now()
	end := deadlineKey(now, "")
	var due []string
	c := tx.Bucket(bktDeadlines).Cursor()
	for k, _ := c.First(); k != nil && string(k[:8]) <= string(end); k, _ = c.Next() {
		due = append(due, string(k[8:]))
	}
	for _, id := range due {
		rec, p, err := tx.load(id)
		if err != nil {
			return fmt.Errorf("advance %s: %w", id, err)
		}
		d, err := tx.delegations()
		if err != nil {
			return err
		}
		o := p.Advance(d, now)
		if o == nil {
			continue
		}
		if _, err := tx.closed(rec, p, o); err != nil {
			return fmt.Errorf("advance %s: %w", id, err)
		}
	}
	return nil
}

// closed records p's outcome o, applying its effects, and tells the members.
func (tx *gtx) closed(rec *Proposal, p *governance.Proposal, o *governance.Outcome) (*Proposal, error) {
	applied, err := tx.applyEffects(p, o.Effects)
	if err != nil {
		return nil, err
	}
	next := proposalOf(p)
	next.Change = rec.Change
	next.Outcome = &Outcome{Status: string(o.Status), Result: string(o.Result), ClosedAt: o.ClosedAt.UTC(), ClosedBy: o.ClosedBy, Effects: applied}
	if o.Status != governance.StatusCancelled {
		t := tallyOf(o.Tally)
		next.Outcome.Tally = &t
	}
	if err := tx.save(next); err != nil {
		return nil, err
	}
	ev := proposalClosed{ID: next.ID, Kind: next.Kind, Status: next.Outcome.Status, Result: next.Outcome.Result, Effects: applied}
	if t := next.Outcome.Tally; t != nil {
		ev.Eligible, ev.For, ev.Against, ev.Abstain = t.Eligible, t.For, t.Against, t.Abstain
	}
	return next, tx.AppendEvent(ledger.EventSpec{Type: EventProposalClosed, AllMembers: true, Payload: ev})
}

func (tx *gtx) opened(rec *Proposal) error {
	return tx.AppendEvent(ledger.EventSpec{Type: EventProposalOpened, AllMembers: true, Payload: proposalOpened{
		ID: rec.ID, Kind: rec.Kind, Title: rec.Title, Proposer: rec.Proposer, VotingStarts: rec.VotingStarts, VotingEnds: rec.VotingEnds}})
}
