// Package vouch keeps a co-op's trust in its members and the recovery of a
// member's identity (issue #17 items 6c, 6d and 7; docs/governance.md,
// "Member trust and recovery"):
//
//   - signed vouches of members for members, from which
//     governance.CreditPolicy computes each member's standing, and the
//     ledger gate (ledger.Gate) that makes a member's effective credit
//     limit the set limit scaled by that standing, when the co-op enables
//     the policy;
//   - a voucher's emergency revoke, which puts the DID of a member it
//     vouched for in recovery mode: its sessions end, it may not log in,
//     and the ledger refuses its payments (in_recovery), though it may
//     still be paid;
//   - recoveries: stewards sign that an old DID is recovered to a new one,
//     and the signature that completes their quorum moves the member
//     record, roles, limits, vouches and balances to the new DID in one
//     transaction and revokes the old one.
//
// Every write is a command of the node's state machine (RecordVouch,
// VoucherRevoke, SignRecovery), whose signature was verified before it was
// proposed; handlers re-read the signed bytes with the strict decoder only
// and re-check everything that depends on the state.
package vouch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Buckets of the node's state this package keeps; list them among the
// ledger's Options.Buckets.
var (
	bktVouches    = []byte("vouch.vouches")    // vouchee 0x00 voucher → Vouch JSON
	bktBy         = []byte("vouch.by")         // voucher 0x00 vouchee → nothing: the vouches a member gave
	bktModes      = []byte("vouch.recovery")   // DID → Mode JSON: DIDs in recovery mode (or recovered)
	bktRecoveries = []byte("vouch.recoveries") // recovery id → Recovery JSON
	bktMeta       = []byte("vouch.meta")       // keyPolicy → policyRec JSON

	keyPolicy = []byte("credit_policy")
)

// Buckets lists this package's buckets.
var Buckets = [][]byte{bktVouches, bktBy, bktModes, bktRecoveries, bktMeta}

// Event types this package appends to the feeds.
const (
	EventVouchRecorded   = "VouchRecorded"
	EventRecoveryStarted = "RecoveryStarted"
	EventRecoverySigned  = "RecoverySigned"
	EventMemberRecovered = "MemberRecovered"
)

// ReasonInRecovery is the reason a payment from a DID in recovery mode is
// rejected with, and the code of its refused login.
const ReasonInRecovery = "in_recovery"

// MaxClockSkew bounds how far a vouch's or a voucher revoke's created_at
// may be from the node's clock. A recovery signature has no window: it is
// bound to its recovery id and DIDs, and stewards sign over days.
const MaxClockSkew = 5 * time.Minute

// Errors of this package; Code maps them (and governance's) to the wire.
var (
	ErrWrongCoop     = errors.New("document is for another co-op")
	ErrExpired       = errors.New("document time too far from the node's clock")
	ErrNotVoucher    = errors.New("only a member who vouched for this member may revoke it")
	ErrNotSteward    = errors.New("signer is not a steward in good standing")
	ErrConflict      = errors.New("conflicts with the co-op's records")
	ErrNotFound      = errors.New("not found")
	ErrNotMember     = errors.New("not a member in good standing")
	ErrInRecovery    = errors.New("DID is in recovery mode")
	ErrOpenTransfers = errors.New("open cross-co-op transfers")
)

// Options configure a Store.
type Options struct {
	CoopID string
	// Policy is the credit policy this node's configuration asks for
	// ([credit_policy]; nil: credit not gated). The gate reads the policy
	// recorded in the state, which RecordPolicy sets to this one.
	Policy *governance.CreditPolicy
	// Clock stamps the commands this store builds (their only time).
	Clock  func() time.Time
	Logger *slog.Logger
}

// Store is the co-op's member trust and recoveries, kept in the node's state.
type Store struct {
	l    *ledger.Store
	m    *membership.Store
	opts Options
}

// New returns the store kept in l's state (opened with Buckets among its
// buckets), registers its command handlers and sets the ledger's gate.
func New(l *ledger.Store, m *membership.Store, opts Options) (*Store, error) {
	if l == nil || m == nil || opts.CoopID == "" {
		return nil, errors.New("vouch: ledger, membership and CoopID are required")
	}
	if opts.Policy != nil {
		if err := opts.Policy.Validate(); err != nil {
			return nil, fmt.Errorf("vouch: %w", err)
		}
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{l: l, m: m, opts: opts}
	err := l.State().View(func(v *store.View) error { return v.Require("vouch", Buckets) })
	if err != nil {
		return nil, fmt.Errorf("vouch: %w", err)
	}
	st := l.State()
	st.Handle((*icnv1.CoopCommand_RecordVouch)(nil), s.handler(s.applyVouch))
	st.Handle((*icnv1.CoopCommand_VoucherRevoke)(nil), s.handler(s.applyVoucherRevoke))
	st.Handle((*icnv1.CoopCommand_SignRecovery)(nil), s.handler(s.applySignRecovery))
	st.Handle((*icnv1.CoopCommand_RecordCreditPolicy)(nil), s.handler(s.applyRecordPolicy))
	l.SetGate(gate{s})
	return s, nil
}

func (s *Store) handler(h func(*ledger.Tx, *icnv1.CoopCommand) (any, error)) store.Handler {
	return func(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) { return h(s.l.Tx(stx), cmd) }
}

// Policy is the credit policy in force, as recorded in the state (nil:
// credit is not gated).
func (s *Store) Policy() (*governance.CreditPolicy, error) {
	var p *governance.CreditPolicy
	err := s.l.State().View(func(v *store.View) (err error) {
		p, err = policyView(v)
		return err
	})
	return p, err
}

// policyRec is the recorded credit policy.
type policyRec struct {
	SponsorPercent int `json:"sponsor_percent"`
	VouchPercent   int `json:"vouch_percent"`
	MaxPercent     int `json:"max_percent"`
}

func policyView(v *store.View) (*governance.CreditPolicy, error) {
	var r policyRec
	ok, err := v.Bucket(bktMeta).GetJSON(keyPolicy, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &governance.CreditPolicy{SponsorPercent: r.SponsorPercent, VouchPercent: r.VouchPercent, MaxPercent: r.MaxPercent}, nil
}

// RecordPolicy records the configured policy (Options.Policy) in the state
// unless it is already the one in force; it reports whether it changed it.
// A single node calls it as it starts, a replicated co-op's leader when it
// starts leading: the policy follows the configuration of the node that
// leads, and every node applies the one recorded.
func (s *Store) RecordPolicy(ctx context.Context) (bool, error) {
	cur, err := s.Policy()
	if err != nil {
		return false, fmt.Errorf("credit policy: %w", err)
	}
	want := s.opts.Policy
	if (cur == nil && want == nil) || (cur != nil && want != nil && *cur == *want) {
		return false, nil
	}
	c := &icnv1.RecordCreditPolicy{Enabled: want != nil}
	if want != nil {
		c.SponsorPercent, c.VouchPercent, c.MaxPercent = int32(want.SponsorPercent), int32(want.VouchPercent), int32(want.MaxPercent)
	}
	if _, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_RecordCreditPolicy{RecordCreditPolicy: c}}); err != nil {
		return false, fmt.Errorf("record credit policy: %w", err)
	}
	s.opts.Logger.Info("credit policy recorded", "enabled", want != nil)
	return true, nil
}

func (s *Store) applyRecordPolicy(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetRecordCreditPolicy()
	if !c.Enabled {
		return nil, tx.Bucket(bktMeta).Delete(keyPolicy)
	}
	p := governance.CreditPolicy{SponsorPercent: int(c.SponsorPercent), VouchPercent: int(c.VouchPercent), MaxPercent: int(c.MaxPercent)}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("credit policy: %w", err)
	}
	return nil, tx.Bucket(bktMeta).PutJSON(keyPolicy, policyRec{SponsorPercent: p.SponsorPercent, VouchPercent: p.VouchPercent, MaxPercent: p.MaxPercent})
}

func (s *Store) submit(ctx context.Context, cmd *icnv1.CoopCommand) (any, error) {
	cmd.AtUnixNano = s.opts.Clock().UnixNano()
	return s.l.State().Submit(ctx, cmd)
}

// Vouch is one member's recorded vouch for another.
type Vouch struct {
	Voucher identity.DID `json:"voucher"`
	Vouchee identity.DID `json:"vouchee"`
	At      time.Time    `json:"at"`
	// Payload and Signature are the signed vouch as received. After a
	// recovery they name the DIDs of then; MigratedFrom says which.
	Payload      []byte         `json:"payload"`
	Signature    []byte         `json:"signature"`
	MigratedFrom []identity.DID `json:"migrated_from,omitempty"`
}

// Mode is a DID in recovery mode, or recovered.
type Mode struct {
	DID identity.DID `json:"did"`
	// By is the voucher whose emergency revoke started it ("" when a
	// recovery completed without one).
	By        identity.DID `json:"by,omitempty"`
	At        time.Time    `json:"at"`
	Payload   []byte       `json:"payload,omitempty"`
	Signature []byte       `json:"signature,omitempty"`
	// Status is "in_recovery", or "recovered" once a recovery moved the
	// member to NewDID.
	Status   string       `json:"status"`
	Recovery string       `json:"recovery,omitempty"`
	NewDID   identity.DID `json:"new_did,omitempty"`
}

// Mode statuses.
const (
	ModeInRecovery = "in_recovery"
	ModeRecovered  = "recovered"
)

// Recovery statuses.
const (
	RecoveryPending   = "pending"
	RecoveryCompleted = "completed"
)

// RecoverySignature is one steward's signature on a recovery.
type RecoverySignature struct {
	Steward   identity.DID `json:"steward"`
	At        time.Time    `json:"at"`
	Payload   []byte       `json:"payload"`
	Signature []byte       `json:"signature"`
}

// Recovery is a recovery of Old to New, as far as the stewards have signed it.
type Recovery struct {
	ID         string              `json:"id"`
	Old        identity.DID        `json:"old"`
	New        identity.DID        `json:"new"`
	Status     string              `json:"status"`
	Signatures []RecoverySignature `json:"signatures"`
	OpenedAt   time.Time           `json:"opened_at"`
	// Stewards and Quorum: the stewards in good standing (the old DID
	// left out) and the quorum of them, as of the last signature.
	Stewards    int       `json:"stewards"`
	Quorum      int       `json:"quorum"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// Payments are the ids of the bookings that moved the balances.
	Payments []string `json:"payments,omitempty"`
}

// CredentialID is the id of the credential a completed recovery issues the
// new DID: derived from the co-op, the recovery and the new DID, so every
// node issues the same one.
func CredentialID(coop, recovery string, newDID identity.DID) string {
	h := sha256.Sum256([]byte("icn/v1/recovery-credential\n" + coop + "\n" + recovery + "\n" + string(newDID)))
	return "rec" + hex.EncodeToString(h[:16])
}

// PaymentID is the id of the booking that moves the balance in currency:
// "<recovery id>-<currency>".
func PaymentID(recovery, currency string) string { return recovery + "-" + currency }

func pairKey(a, b identity.DID) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

// checkFresh checks a document's coop and, if window, its time.
func (s *Store) checkDoc(d governance.TrustDoc, window bool) error {
	if d.Coop != s.opts.CoopID {
		return fmt.Errorf("%w: %q, this node serves %q", ErrWrongCoop, d.Coop, s.opts.CoopID)
	}
	if window {
		if skew := s.opts.Clock().Sub(d.Created); skew > MaxClockSkew || skew < -MaxClockSkew {
			return fmt.Errorf("%w: created_at %s is %s from the node's clock (limit %s)", ErrExpired,
				d.Created.Format(time.RFC3339), skew.Round(time.Second), MaxClockSkew)
		}
	}
	return nil
}

// VouchResult is what recording a vouch gave.
type VouchResult struct {
	Vouch Vouch
	// Recorded is false when the voucher had vouched for the vouchee
	// already: nothing changed.
	Recorded bool
}

// CheckVouch verifies a signed vouch before anything is recorded: the
// strict decoder, its values, the signature under icn/v1/vouch by the
// voucher's key, the co-op and its time. It returns the document.
func (s *Store) CheckVouch(raw, sig []byte) (governance.TrustDoc, error) {
	d, err := governance.CheckVouch(raw, sig)
	if err != nil {
		return d, err
	}
	return d, s.checkDoc(d, true)
}

// RecordVouch records a vouch that CheckVouch passed. The voucher must be a
// member in good standing and not in recovery, the vouchee a member in
// good standing; a repeat (the same voucher for the same vouchee, with any
// bytes) changes nothing. A VouchRecorded event goes to both.
func (s *Store) RecordVouch(ctx context.Context, raw, sig []byte) (VouchResult, error) {
	if _, err := s.CheckVouch(raw, sig); err != nil {
		return VouchResult{}, fmt.Errorf("vouch: %w", err)
	}
	res, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_RecordVouch{RecordVouch: &icnv1.RecordVouch{Vouch: raw, Signature: sig}}})
	if err != nil {
		return VouchResult{}, fmt.Errorf("vouch: %w", err)
	}
	return res.(VouchResult), nil
}

func (s *Store) applyVouch(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetRecordVouch()
	d, err := governance.ParseVouch(c.Vouch, c.Signature)
	if err != nil {
		return nil, err
	}
	if d.Coop != s.opts.CoopID {
		return nil, ErrWrongCoop
	}
	if err := s.goodStanding(tx, d.Author, "voucher"); err != nil {
		return nil, err
	}
	if _, ok, err := membership.StandingView(&tx.View, d.Subject, tx.Now()); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: vouchee %s", ErrNotMember, d.Subject.Short())
	}
	var old Vouch
	if ok, err := tx.Bucket(bktVouches).GetJSON(pairKey(d.Subject, d.Author), &old); err != nil {
		return nil, err
	} else if ok {
		return VouchResult{Vouch: old}, nil
	}
	v := Vouch{Voucher: d.Author, Vouchee: d.Subject, At: tx.Now().UTC(), Payload: d.Payload, Signature: d.Signature}
	if err := s.putVouch(tx, v); err != nil {
		return nil, err
	}
	return VouchResult{Vouch: v, Recorded: true}, tx.AppendEvent(ledger.EventSpec{
		Type: EventVouchRecorded, Members: []identity.DID{d.Subject, d.Author},
		Payload: map[string]any{"voucher": d.Author, "vouchee": d.Subject},
	})
}

func (s *Store) putVouch(tx *ledger.Tx, v Vouch) error {
	if err := tx.Bucket(bktVouches).PutJSON(pairKey(v.Vouchee, v.Voucher), v); err != nil {
		return err
	}
	return tx.Bucket(bktBy).Put(pairKey(v.Voucher, v.Vouchee), []byte{})
}

// goodStanding checks that did is a member in good standing and not in
// recovery mode, inside tx.
func (s *Store) goodStanding(tx *ledger.Tx, did identity.DID, what string) error {
	if _, ok, err := membership.StandingView(&tx.View, did, tx.Now()); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: %s %s", ErrNotMember, what, did.Short())
	}
	if modeOf(&tx.View, did) != nil {
		return fmt.Errorf("%w: %s %s", ErrInRecovery, what, did.Short())
	}
	return nil
}

func modeOf(v *store.View, did identity.DID) *Mode {
	var m Mode
	if ok, err := v.Bucket(bktModes).GetJSON([]byte(did), &m); err != nil || !ok {
		return nil
	}
	return &m
}

// vouchesFor lists the vouches for did, ordered by voucher.
func vouchesFor(v *store.View, did identity.DID) ([]Vouch, error) {
	var out []Vouch
	prefix := pairKey(did, "")
	c := v.Bucket(bktVouches).Cursor()
	for k, val := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, val = c.Next() {
		var vc Vouch
		if err := json.Unmarshal(val, &vc); err != nil {
			return nil, fmt.Errorf("vouch %.80q: %w", k, err)
		}
		out = append(out, vc)
	}
	return out, nil
}

// vouchesBy lists the vouchees did vouched for, ordered.
func vouchesBy(v *store.View, did identity.DID) []identity.DID {
	var out []identity.DID
	prefix := pairKey(did, "")
	c := v.Bucket(bktBy).Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
		out = append(out, identity.DID(k[len(prefix):]))
	}
	return out
}

// CheckVoucherRevoke verifies a voucher's emergency revoke before anything
// is recorded (decoder, values, signature under icn/v1/voucher-revoke by
// the voucher, co-op, time).
func (s *Store) CheckVoucherRevoke(raw, sig []byte) (governance.TrustDoc, error) {
	d, err := governance.CheckVoucherRevoke(raw, sig)
	if err != nil {
		return d, err
	}
	return d, s.checkDoc(d, true)
}

// VoucherRevoke puts the member a checked voucher revoke names in recovery
// mode: the voucher must be in good standing and have vouched for the
// member (ErrNotVoucher), the member must be active and not the co-op's
// admin. The member's sessions end in the same transaction, and a
// RecoveryStarted event goes to both. A member already in recovery is
// returned as it is.
func (s *Store) VoucherRevoke(ctx context.Context, raw, sig []byte) (Mode, error) {
	if _, err := s.CheckVoucherRevoke(raw, sig); err != nil {
		return Mode{}, fmt.Errorf("voucher revoke: %w", err)
	}
	res, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_VoucherRevoke{VoucherRevoke: &icnv1.VoucherRevoke{Request: raw, Signature: sig}}})
	if err != nil {
		return Mode{}, fmt.Errorf("voucher revoke: %w", err)
	}
	return res.(Mode), nil
}

func (s *Store) applyVoucherRevoke(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetVoucherRevoke()
	d, err := governance.ParseVoucherRevoke(c.Request, c.Signature)
	if err != nil {
		return nil, err
	}
	if d.Coop != s.opts.CoopID {
		return nil, ErrWrongCoop
	}
	if m := modeOf(&tx.View, d.Subject); m != nil {
		return *m, nil
	}
	if err := s.goodStanding(tx, d.Author, "voucher"); err != nil {
		return nil, err
	}
	if tx.Bucket(bktVouches).Get(pairKey(d.Subject, d.Author)) == nil {
		return nil, fmt.Errorf("%w: %s has no vouch for %s", ErrNotVoucher, d.Author.Short(), d.Subject.Short())
	}
	mem, ok, err := s.m.MemberTx(tx, d.Subject)
	if err != nil {
		return nil, err
	}
	if !ok || mem.Status != membership.StatusActive {
		return nil, fmt.Errorf("%w: %s", ErrNotMember, d.Subject.Short())
	}
	if membership.AdminView(&tx.View) == d.Subject {
		return nil, fmt.Errorf("%w: the co-op's admin is named in the node's config; change it there", membership.ErrForbidden)
	}
	m := Mode{DID: d.Subject, By: d.Author, At: tx.Now().UTC(), Payload: d.Payload, Signature: d.Signature, Status: ModeInRecovery}
	if err := tx.Bucket(bktModes).PutJSON([]byte(m.DID), m); err != nil {
		return nil, err
	}
	if err := s.m.EndSessionsTx(tx, m.DID); err != nil {
		return nil, err
	}
	return m, tx.AppendEvent(ledger.EventSpec{
		Type: EventRecoveryStarted, Members: []identity.DID{m.DID, m.By},
		Payload: map[string]any{"did": m.DID, "by": m.By, "at": m.At},
	})
}

// CheckRecovery verifies a steward's recovery signature before anything is
// recorded (decoder, values, signature under icn/v1/recovery by the
// steward, co-op).
func (s *Store) CheckRecovery(raw, sig []byte) (governance.TrustDoc, error) {
	d, err := governance.CheckRecovery(raw, sig)
	if err != nil {
		return d, err
	}
	return d, s.checkDoc(d, false)
}

// SignRecovery records a steward's checked recovery signature (see
// applySignRecovery) and returns the recovery as it stands.
func (s *Store) SignRecovery(ctx context.Context, raw, sig []byte) (Recovery, error) {
	if _, err := s.CheckRecovery(raw, sig); err != nil {
		return Recovery{}, fmt.Errorf("recovery: %w", err)
	}
	res, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_SignRecovery{SignRecovery: &icnv1.SignRecovery{Request: raw, Signature: sig}}})
	if err != nil {
		return Recovery{}, fmt.Errorf("recovery: %w", err)
	}
	return res.(Recovery), nil
}

// stewards lists the stewards in good standing, not in recovery, other
// than except, ordered by DID.
func (s *Store) stewards(tx *ledger.Tx, except identity.DID) ([]identity.DID, error) {
	ms, err := s.m.ActiveTx(tx)
	if err != nil {
		return nil, err
	}
	var out []identity.DID
	for _, m := range ms {
		if m.DID != except && m.HasRole(membership.RoleSteward) && modeOf(&tx.View, m.DID) == nil {
			out = append(out, m.DID)
		}
	}
	return out, nil
}

// applySignRecovery records one steward's signature. The signer must be a
// steward in good standing (not the old DID, not in recovery); the recovery
// id, if known, must name the same DIDs (ErrConflict); a steward who signed
// already, or a completed recovery, changes nothing. When the signatures of
// stewards still in good standing reach RecoveryQuorum of the stewards,
// the member moves to the new DID in this transaction (migrate), unless
// the old DID has open two-phase transfers (ErrOpenTransfers: nothing is
// recorded; send the signature again once they settled).
func (s *Store) applySignRecovery(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetSignRecovery()
	d, err := governance.ParseRecovery(c.Request, c.Signature)
	if err != nil {
		return nil, err
	}
	if d.Coop != s.opts.CoopID {
		return nil, ErrWrongCoop
	}
	var rec Recovery
	found, err := tx.Bucket(bktRecoveries).GetJSON([]byte(d.Recovery), &rec)
	if err != nil {
		return nil, err
	}
	if found && (rec.Old != d.Subject || rec.New != d.New) {
		return nil, fmt.Errorf("%w: recovery %s moves %s to %s", ErrConflict, rec.ID, rec.Old.Short(), rec.New.Short())
	}
	if found && (rec.Status == RecoveryCompleted || slices.ContainsFunc(rec.Signatures, func(g RecoverySignature) bool { return g.Steward == d.Author })) {
		return rec, nil
	}
	stewards, err := s.stewards(tx, d.Subject)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(stewards, d.Author) {
		return nil, fmt.Errorf("%w: %s", ErrNotSteward, d.Author.Short())
	}
	old, ok, err := s.m.MemberTx(tx, d.Subject)
	if err != nil {
		return nil, err
	}
	if !ok || old.Status != membership.StatusActive {
		return nil, fmt.Errorf("%w: %s", ErrNotMember, d.Subject.Short())
	}
	if _, ok, err := s.m.MemberTx(tx, d.New); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("%w: %s already has a membership record", ErrConflict, d.New.Short())
	}
	if !found {
		rec = Recovery{ID: d.Recovery, Old: d.Subject, New: d.New, Status: RecoveryPending, OpenedAt: tx.Now().UTC()}
	}
	rec.Signatures = append(rec.Signatures, RecoverySignature{Steward: d.Author, At: tx.Now().UTC(), Payload: d.Payload, Signature: d.Signature})
	rec.Stewards, rec.Quorum = len(stewards), governance.RecoveryQuorum(len(stewards))
	valid := 0
	for _, g := range rec.Signatures {
		if slices.Contains(stewards, g.Steward) {
			valid++
		}
	}
	if valid >= rec.Quorum {
		if err := s.migrate(tx, &rec, d.Author); err != nil {
			return nil, err
		}
	} else if err := tx.AppendEvent(ledger.EventSpec{
		Type: EventRecoverySigned, Members: []identity.DID{rec.Old, d.Author},
		Payload: map[string]any{"recovery": rec.ID, "old": rec.Old, "new": rec.New, "steward": d.Author, "signatures": valid, "quorum": rec.Quorum},
	}); err != nil {
		return nil, err
	}
	return rec, tx.Bucket(bktRecoveries).PutJSON([]byte(rec.ID), rec)
}

// migrate moves rec.Old's membership, limits, vouches and balances to
// rec.New and revokes rec.Old, in tx.
func (s *Store) migrate(tx *ledger.Tx, rec *Recovery, by identity.DID) error {
	oldA, newA := ledger.Account(rec.Old), ledger.Account(rec.New)
	// Refuse first, before anything is written.
	for _, c := range tx.Currencies() {
		b, err := tx.Balance(oldA, c)
		if err != nil {
			return err
		}
		if !b.Held.IsZero() || !b.PendingIn.IsZero() {
			return fmt.Errorf("%w: %s has %s held and %s pending in %s; try again once they settle",
				ErrOpenTransfers, rec.Old.Short(), b.Held, b.PendingIn, c.Code)
		}
	}
	if err := s.m.RecoverTx(tx, rec.Old, rec.New, CredentialID(s.opts.CoopID, rec.ID, rec.New), by); err != nil {
		return err
	}
	for _, c := range tx.Currencies() {
		if limit, own := tx.CreditLimit(oldA, c); own {
			if err := tx.SetCreditLimit(newA, limit); err != nil {
				return err
			}
		}
		if err := tx.SetCreditLimit(oldA, money.Zero(c)); err != nil {
			return err
		}
		b, err := tx.Balance(oldA, c)
		if err != nil {
			return err
		}
		t := ledger.Transfer{ID: PaymentID(rec.ID, c.Code), From: oldA, To: newA, FromCoop: s.opts.CoopID, ToCoop: s.opts.CoopID,
			Amount: b.Balance, Memo: "recovery " + rec.ID, CreatedAt: tx.Now()}
		switch b.Balance.Sign() {
		case 0:
			continue
		case -1: // a debt moves with the member: the new DID pays the old one's way back to zero
			t.From, t.To, t.Amount = newA, oldA, b.Balance.Neg()
		}
		p, err := tx.Book(t)
		if err != nil {
			return err
		}
		if p.Status != ledger.StatusCommitted {
			return fmt.Errorf("recovery booking %s: %s %s", p.ID, p.Status, p.Reason)
		}
		rec.Payments = append(rec.Payments, p.ID)
	}
	if err := s.moveVouches(tx, rec.Old, rec.New); err != nil {
		return err
	}
	m := Mode{DID: rec.Old, At: tx.Now().UTC(), Status: ModeRecovered}
	if prev := modeOf(&tx.View, rec.Old); prev != nil {
		m = *prev
	}
	m.Status, m.Recovery, m.NewDID = ModeRecovered, rec.ID, rec.New
	if err := tx.Bucket(bktModes).PutJSON([]byte(rec.Old), m); err != nil {
		return err
	}
	rec.Status, rec.CompletedAt = RecoveryCompleted, tx.Now().UTC()
	signers := make([]identity.DID, 0, len(rec.Signatures))
	for _, g := range rec.Signatures {
		signers = append(signers, g.Steward)
	}
	return tx.AppendEvent(ledger.EventSpec{
		Type: EventMemberRecovered, Members: []identity.DID{rec.Old, rec.New}, AllMembers: true,
		Payload: map[string]any{"recovery": rec.ID, "old": rec.Old, "new": rec.New, "stewards": signers, "payments": rec.Payments},
	})
}

// moveVouches re-keys the vouches for old and by old to newDID (a vouch
// that would become newDID's for itself is dropped).
func (s *Store) moveVouches(tx *ledger.Tx, old, newDID identity.DID) error {
	vs, err := vouchesFor(&tx.View, old)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if err := tx.Bucket(bktVouches).Delete(pairKey(old, v.Voucher)); err != nil {
			return err
		}
		if err := tx.Bucket(bktBy).Delete(pairKey(v.Voucher, old)); err != nil {
			return err
		}
		if v.Voucher == newDID {
			continue
		}
		v.Vouchee, v.MigratedFrom = newDID, append(v.MigratedFrom, old)
		if err := s.putVouch(tx, v); err != nil {
			return err
		}
	}
	for _, vouchee := range vouchesBy(&tx.View, old) {
		var v Vouch
		if ok, err := tx.Bucket(bktVouches).GetJSON(pairKey(vouchee, old), &v); err != nil {
			return err
		} else if !ok {
			continue
		}
		if err := tx.Bucket(bktVouches).Delete(pairKey(vouchee, old)); err != nil {
			return err
		}
		if err := tx.Bucket(bktBy).Delete(pairKey(old, vouchee)); err != nil {
			return err
		}
		if vouchee == newDID {
			continue
		}
		v.Voucher, v.MigratedFrom = newDID, append(v.MigratedFrom, old)
		if err := s.putVouch(tx, v); err != nil {
			return err
		}
	}
	return nil
}
