package govern

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Buckets of the node's state this package keeps; list them among the
// ledger's Options.Buckets.
var (
	bktProposals = []byte("gov.proposals") // id → Proposal JSON
	bktDeadlines = []byte("gov.deadlines") // voting end (Unix ns, big-endian) ‖ id → nothing: the proposals not closed
	bktMeta      = []byte("gov.meta")      // keyDelegations, keyDues, keyDuesLast
	bktRemovals  = []byte("gov.removals")  // member DID → its latest Removal JSON
	bktFlags     = []byte("gov.flags")     // member DID → Flag JSON (a removed member's balance, for the treasurers)
	bktSuspended = []byte("gov.suspended") // member DID → Suspension JSON
	bktDuesRuns  = []byte("gov.dues")      // period YYYY-MM → DuesRun JSON

	keyDelegations = []byte("delegations")
	keyDues        = []byte("dues")
	keyDuesLast    = []byte("dues_last")
)

// Buckets lists this package's buckets.
var Buckets = [][]byte{bktProposals, bktDeadlines, bktMeta, bktRemovals, bktFlags, bktSuspended, bktDuesRuns}

// Errors of the node's side (the rules' own are governance's sentinels).
var (
	ErrNotFound  = errors.New("governance: no such proposal")
	ErrExists    = errors.New("governance: proposal id already used")
	ErrNoRemoval = errors.New("governance: no removal to appeal")
)

// Code maps an error to its wire code: governance.Code's, or this
// package's; "" for any other error.
func Code(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return "proposal_not_found"
	case errors.Is(err, ErrExists):
		return "proposal_exists"
	case errors.Is(err, ErrNoRemoval):
		return "no_removal"
	}
	return governance.Code(err)
}

// Options configure a Store.
type Options struct {
	CoopID string
	// Policy is the rule per kind (governance.DefaultPolicy if nil).
	Policy governance.Policy
	// Key is the co-op node's key: it signs each dues payment as the
	// co-op's order (nil: dues payments carry no signed intent).
	Key *identity.Key
	// Clock stamps the commands this store builds (their only time).
	Clock  func() time.Time
	Logger *slog.Logger
}

// Store is the co-op's governance, kept in the node's state.
type Store struct {
	l    *ledger.Store
	m    *membership.Store
	opts Options
}

// New returns the governance kept in l's state (opened with Buckets among
// its buckets) and registers its command handlers there.
func New(l *ledger.Store, m *membership.Store, opts Options) (*Store, error) {
	if l == nil || m == nil || opts.CoopID == "" {
		return nil, errors.New("govern: ledger, membership and CoopID are required")
	}
	if opts.Policy == nil {
		opts.Policy = governance.DefaultPolicy()
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("govern: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{l: l, m: m, opts: opts}
	err := l.State().View(func(v *store.View) error { return v.Require("govern", Buckets) })
	if err != nil {
		return nil, fmt.Errorf("govern: %w", err)
	}
	st := l.State()
	// Ledger commands close the proposals past their deadline first too, so
	// a payment after a deadline sees the limits the outcome set.
	l.BeforeCommand(func(ltx *ledger.Tx) error { return (&gtx{Tx: ltx, s: s}).advance() })
	for kind, h := range map[any]func(*gtx, *icnv1.CoopCommand) (any, error){
		(*icnv1.CoopCommand_OpenProposal)(nil):     s.applyOpen,
		(*icnv1.CoopCommand_CastVote)(nil):         s.applyCast,
		(*icnv1.CoopCommand_Delegate)(nil):         s.applyDelegate,
		(*icnv1.CoopCommand_RevokeDelegation)(nil): s.applyRevokeDelegation,
		(*icnv1.CoopCommand_CloseProposal)(nil):    s.applyClose,
		(*icnv1.CoopCommand_CancelProposal)(nil):   s.applyCancel,
		(*icnv1.CoopCommand_FileAppeal)(nil):       s.applyAppeal,
		(*icnv1.CoopCommand_CollectDues)(nil):      s.applyCollectDues,
		(*icnv1.CoopCommand_AdvanceProposals)(nil): func(*gtx, *icnv1.CoopCommand) (any, error) { return nil, nil },
	} {
		st.Handle(kind, func(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
			tx := &gtx{Tx: l.Tx(stx), s: s}
			// The contract of docs/governance.md: proposals past their
			// deadline close, with the delegations as they stand, before
			// anything later is applied.
			if err := tx.advance(); err != nil {
				return nil, err
			}
			return h(tx, cmd)
		})
	}
	return s, nil
}

// Policy is the co-op's rule per kind.
func (s *Store) Policy() governance.Policy { return s.opts.Policy }

func (s *Store) submit(ctx context.Context, cmd *icnv1.CoopCommand) (any, error) {
	cmd.AtUnixNano = s.opts.Clock().UnixNano()
	return s.l.State().Submit(ctx, cmd)
}

// gtx is a governance handler's transaction.
type gtx struct {
	*ledger.Tx
	s *Store
}

// roster is the membership as the transaction sees it (governance.Roster).
// It reads members one at a time as the rules ask about them, and the whole
// membership only when they ask for the voters: a vote then costs a lookup
// or two, not a read of every member. The Roster interface has no error, so
// a failed read is kept in err, which the handler checks (rosterErr) after
// the rules ran.
type roster struct {
	tx     *gtx
	seen   map[identity.DID]standing
	voters []identity.DID
	all    bool
	err    error
}

type standing struct {
	roles  []string
	joined time.Time
	ok     bool
}

func (r *roster) Roles(did identity.DID) ([]string, bool) {
	if st, ok := r.seen[did]; ok || r.all {
		return st.roles, st.ok
	}
	m, ok, err := r.tx.s.m.StandingTx(r.tx.Tx, did)
	if err != nil && r.err == nil {
		r.err = err
	}
	st := standing{roles: m.Roles, joined: m.JoinedAt, ok: ok}
	r.seen[did] = st
	return st.roles, st.ok
}

func (r *roster) Voters() []identity.DID {
	r.loadAll()
	return r.voters
}

// loadAll reads every member standing (for the voters and the dues payers).
func (r *roster) loadAll() {
	if r.all {
		return
	}
	ms, err := r.tx.s.m.ActiveTx(r.tx.Tx)
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return
	}
	r.seen, r.all = map[identity.DID]standing{}, true
	for _, m := range ms {
		r.seen[m.DID] = standing{roles: m.Roles, joined: m.JoinedAt, ok: true}
		if slices.Contains(m.Roles, governance.RoleMember) {
			r.voters = append(r.voters, m.DID)
		}
	}
}

func (tx *gtx) roster() (*roster, error) {
	return &roster{tx: tx, seen: map[identity.DID]standing{}}, nil
}

// rosterErr is the first read error r met, wrapped around err's place:
// a rule's refusal that came from a failed read is the read's failure.
func rosterErr(r *roster, err error) error {
	if r.err != nil {
		return fmt.Errorf("read membership: %w", r.err)
	}
	return err
}

func deadlineKey(end time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(end.UnixNano()))
	return append(k, id...)
}

func (tx *gtx) proposal(id string) (*Proposal, error) {
	var p Proposal
	ok, err := tx.Bucket(bktProposals).GetJSON([]byte(id), &p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %.128s", ErrNotFound, id)
	}
	return &p, nil
}

// save stores p's record; a closed proposal leaves the deadline index.
func (tx *gtx) save(p *Proposal) error {
	if err := tx.Bucket(bktProposals).PutJSON([]byte(p.ID), p); err != nil {
		return err
	}
	k := deadlineKey(p.VotingEnds, p.ID)
	if governance.Status(p.Status).Closed() {
		return tx.Bucket(bktDeadlines).Delete(k)
	}
	return tx.Bucket(bktDeadlines).Put(k, nil)
}

func (tx *gtx) delegations() (*governance.Delegations, error) {
	var list []governance.Delegation
	if _, err := tx.Bucket(bktMeta).GetJSON(keyDelegations, &list); err != nil {
		return nil, err
	}
	return governance.NewDelegations(list)
}

func (tx *gtx) putDelegations(d *governance.Delegations) error {
	return tx.Bucket(bktMeta).PutJSON(keyDelegations, d.List())
}

// newID is a proposal id for a draft without one.
func newID(prefix string, now time.Time) string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%s-%s-%x", prefix, now.UTC().Format("20060102"), b)
}
