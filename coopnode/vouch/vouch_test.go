package vouch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/coopnode/store/storetest"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

const coop = "coop-v"

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func testKey(t testing.TB, name string) *identity.Key {
	seed := sha256.Sum256([]byte("vouch test " + name))
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type env struct {
	t     testing.TB
	clock *clock
	l     *ledger.Store
	m     *membership.Store
	v     *Store
	keys  map[string]*identity.Key
	admin *identity.Key
}

// newEnv opens a real state file with the ledger (every member may go 100
// hours below zero), membership, governance and this package, with the
// admin bootstrapped unless bare.
func newEnv(t testing.TB, policy *governance.CreditPolicy, bare bool) *env {
	e := &env{t: t, clock: &clock{}, keys: map[string]*identity.Key{}, admin: testKey(t, "admin")}
	e.clock.ns.Store(t0.UnixNano())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := ledger.Open(ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db"),
		Buckets:       slices.Concat(membership.Buckets, govern.Buckets, Buckets),
		DefaultLimits: map[string]money.Amount{"hours": money.FromUnits(10000, money.Hours)}, Clock: e.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	m, err := membership.New(l, membership.Options{CoopID: coop, CoopKey: testKey(t, "coop"), Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := govern.New(l, m, govern.Options{CoopID: coop, Clock: e.clock.Now, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	v, err := New(l, m, Options{CoopID: coop, Policy: policy, Clock: e.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.l, e.m, e.v = l, m, v
	if !bare { // a bare store records neither the policy nor the admin
		if _, err := v.RecordPolicy(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Bootstrap(context.Background(), e.admin.DID(), "admin"); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// join admits name through an invite of the admin (so the admin sponsors it).
func (e *env) join(name string) identity.DID {
	e.t.Helper()
	ctx := context.Background()
	k := testKey(e.t, name)
	e.keys[name] = k
	inv, err := e.m.CreateInvite(ctx, e.admin.DID())
	if err != nil {
		e.t.Fatal(err)
	}
	app, _ := json.Marshal(map[string]string{"did": string(k.DID()), "invite_code": inv.Code, "name": name, "email": name + "@example.org"})
	a, err := e.m.Apply(ctx, app, k.Sign(identity.TagMembershipApplication, app))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.m.Approve(ctx, a.ID, e.admin.DID()); err != nil {
		e.t.Fatal(err)
	}
	return k.DID()
}

func (e *env) add(name string, roles ...string) identity.DID {
	e.t.Helper()
	k := testKey(e.t, name)
	e.keys[name] = k
	if _, err := e.m.AddMember(context.Background(), k.DID(), name, roles); err != nil {
		e.t.Fatal(err)
	}
	return k.DID()
}

func (e *env) now() string { return e.clock.Now().Format(time.RFC3339) }

func (e *env) vouch(by, forName string) error {
	k := e.keys[by]
	raw := governance.VouchBody{Coop: coop, Voucher: string(k.DID()), Vouchee: string(e.keys[forName].DID()), CreatedAt: e.now()}.Encode()
	_, err := e.v.RecordVouch(context.Background(), raw, k.Sign(identity.TagVouch, raw))
	return err
}

func (e *env) revoke(by, member string) error {
	k := e.keys[by]
	raw := governance.VoucherRevokeBody{Coop: coop, Voucher: string(k.DID()), Member: string(e.keys[member].DID()), CreatedAt: e.now()}.Encode()
	_, err := e.v.VoucherRevoke(context.Background(), raw, k.Sign(identity.TagVoucherRevoke, raw))
	return err
}

func (e *env) sign(steward, id string, old, newDID identity.DID) (Recovery, error) {
	k := e.keys[steward]
	if steward == "admin" {
		k = e.admin
	}
	raw := governance.RecoveryBody{Coop: coop, Recovery: id, Old: string(old), New: string(newDID), Steward: string(k.DID()), CreatedAt: e.now()}.Encode()
	return e.v.SignRecovery(context.Background(), raw, k.Sign(identity.TagRecovery, raw))
}

func (e *env) pay(id string, from, to identity.DID, units int64) ledger.Payment {
	e.t.Helper()
	p, err := e.l.Pay(context.Background(), ledger.Transfer{ID: id, From: ledger.Account(from), To: ledger.Account(to),
		FromCoop: coop, ToCoop: coop, Amount: money.FromUnits(units, money.Hours), CreatedAt: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) balance(did identity.DID) ledger.Balance {
	e.t.Helper()
	b, err := e.l.Balance(ledger.Account(did), money.Hours)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func TestCreditGate(t *testing.T) {
	p := governance.DefaultCreditPolicy()
	e := newEnv(t, &p, false)
	ann, bob := e.join("ann"), e.join("bob")
	seeded := e.add("sid") // no invite: no sponsor
	if got := e.balance(ann).CreditLimit.String(); got != "50.00" {
		t.Fatalf("sponsored: %s", got)
	}
	if got := e.balance(seeded).CreditLimit.String(); got != "0.00" {
		t.Fatalf("unsponsored: %s", got)
	}
	if got := e.balance(e.admin.DID()).CreditLimit.String(); got != "100.00" {
		t.Fatalf("admin: %s", got)
	}
	if p := e.pay("p1", ann, bob, 6000); p.Status != ledger.StatusRejected || p.Reason != ledger.ReasonInsufficientCredit {
		t.Fatalf("60 over 50: %+v", p)
	}
	if err := e.vouch("bob", "ann"); err != nil {
		t.Fatal(err)
	}
	if p := e.pay("p2", ann, bob, 6000); p.Status != ledger.StatusCommitted {
		t.Fatalf("60 within 75: %+v", p)
	}
	// A role change re-issues the credential and keeps the sponsor.
	if _, _, err := e.m.SetRole(context.Background(), ann, membership.RoleProposer, true, e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	tr, err := e.v.Trust(ann)
	if err != nil || tr.Percent != 75 || tr.Sponsor != e.admin.DID() || tr.Limits[0].Effective.String() != "75.00" || tr.Limits[0].Set.String() != "100.00" {
		t.Fatalf("trust %+v %v", tr, err)
	}
	// A vouch for a non-member, by a non-member, by a DID in recovery.
	e.keys["zed"] = testKey(t, "zed")
	if err := e.vouch("ann", "zed"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("vouch for a non-member: %v", err)
	}
	if err := e.vouch("zed", "ann"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("vouch by a non-member: %v", err)
	}
	if err := e.revoke("bob", "ann"); err != nil {
		t.Fatal(err)
	}
	if err := e.vouch("ann", "bob"); !errors.Is(err, ErrInRecovery) {
		t.Fatalf("vouch by a DID in recovery: %v", err)
	}
	b := e.balance(ann)
	if b.CreditLimit.Units() != 0 || b.Available.Units() != 0 || b.Refusal != ReasonInRecovery {
		t.Fatalf("ann in recovery: %+v", b)
	}
	if p := e.pay("p3", ann, bob, 1); p.Status != ledger.StatusRejected || p.Reason != ReasonInRecovery {
		t.Fatalf("pay in recovery: %+v", p)
	}
	if p := e.pay("p4", bob, ann, 100); p.Status != ledger.StatusCommitted {
		t.Fatalf("paid in recovery: %+v", p)
	}
	// A suspended member (a removal's SuspendTrust, until an appeal lifts
	// it) has no standing, whatever its vouches.
	cid := e.join("cid")
	if err := e.vouch("bob", "cid"); err != nil {
		t.Fatal(err)
	}
	if got := e.balance(cid).CreditLimit.String(); got != "75.00" {
		t.Fatalf("cid before suspension: %s", got)
	}
	if err := e.l.State().Init(func(tx *store.Tx) error {
		return tx.Bucket([]byte("gov.suspended")).PutJSON([]byte(cid), govern.Suspension{Member: cid, Proposal: "rm-1", At: t0})
	}); err != nil {
		t.Fatal(err)
	}
	if tr, err := e.v.Trust(cid); err != nil || !tr.Suspended || tr.Percent != 0 || !tr.Limits[0].Effective.IsZero() {
		t.Fatalf("suspended: %+v %v", tr, err)
	}
	if p := e.pay("p5", cid, bob, 1); p.Status != ledger.StatusRejected || p.Reason != ledger.ReasonInsufficientCredit {
		t.Fatalf("a suspended member pays on credit: %+v", p)
	}
	// Off: limits as set, but recovery mode still refuses.
	off := newEnv(t, nil, false)
	c := off.join("cid")
	if got := off.balance(c).CreditLimit.String(); got != "100.00" {
		t.Fatalf("policy off: %s", got)
	}
	d := off.join("dan")
	if err := off.vouch("dan", "cid"); err != nil {
		t.Fatal(err)
	}
	if err := off.revoke("dan", "cid"); err != nil {
		t.Fatal(err)
	}
	if p := off.pay("q1", c, d, 1); p.Status != ledger.StatusRejected || p.Reason != ReasonInRecovery {
		t.Fatalf("policy off, in recovery: %+v", p)
	}
}

// TestRecoveryConservesMoney: for random balances (positive, negative,
// zero) and random stewards, a completed recovery leaves every balance sum
// as it was, moves the old DID's balance to the new one exactly and
// leaves the old one at zero.
func TestRecoveryConservesMoney(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 4))
	for round := range 6 {
		e := newEnv(t, nil, false)
		names := []string{"ann", "bob", "cid", "dan"}
		var dids []identity.DID
		for _, n := range names {
			dids = append(dids, e.join(n))
		}
		e.add("s1", membership.RoleSteward)
		e.add("s2", membership.RoleSteward)
		for i := range 12 {
			a, b := dids[r.IntN(len(dids))], dids[r.IntN(len(dids))]
			if a != b {
				e.pay(string(rune('a'+round))+"-"+string(rune('a'+i)), a, b, 1+r.Int64N(5000))
			}
		}
		old, neu := dids[r.IntN(len(dids))], testKey(t, "new").DID()
		all := append(slices.Clone(dids), e.admin.DID(), e.keys["s1"].DID(), e.keys["s2"].DID(), neu)
		total := func() (s int64) {
			for _, d := range all {
				s += e.balance(d).Balance.Units()
			}
			return s
		}
		before, was := total(), e.balance(old).Balance.Units()
		stewards := []string{"admin", "s1", "s2"}
		r.Shuffle(len(stewards), func(i, j int) { stewards[i], stewards[j] = stewards[j], stewards[i] })
		rec, err := e.sign(stewards[0], "rec", old, neu)
		if err != nil || rec.Status != RecoveryPending {
			t.Fatalf("first signature: %+v %v", rec, err)
		}
		if rec, err = e.sign(stewards[1], "rec", old, neu); err != nil || rec.Status != RecoveryCompleted {
			t.Fatalf("second signature: %+v %v", rec, err)
		}
		if got := total(); got != before || e.balance(neu).Balance.Units() != was || !e.balance(old).Balance.IsZero() {
			t.Fatalf("round %d: total %d → %d, old %d → new %d", round, before, got, was, e.balance(neu).Balance.Units())
		}
		if (was == 0) != (len(rec.Payments) == 0) {
			t.Fatalf("round %d: balance %d, payments %v", round, was, rec.Payments)
		}
		if rep, err := e.l.Verify(); err != nil || len(rep.Mismatches) > 0 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		m, err := e.m.Member(old)
		if err != nil || m.Status != membership.StatusRevoked {
			t.Fatalf("old member %+v %v", m, err)
		}
	}
}

func TestRecoveryRefusals(t *testing.T) {
	e := newEnv(t, nil, false)
	ann, bob := e.join("ann"), e.join("bob")
	e.add("s1", membership.RoleSteward)
	neu := testKey(t, "new").DID()
	// The admin and s1 are the only stewards besides: quorum 2 of 2.
	if _, err := e.sign("bob", "r1", ann, neu); !errors.Is(err, ErrNotSteward) {
		t.Fatalf("a member signs: %v", err)
	}
	if _, err := e.sign("s1", "r1", ann, bob); !errors.Is(err, membership.ErrConflict) && !errors.Is(err, ErrConflict) {
		t.Fatalf("recovery to an existing member: %v", err)
	}
	// Recovering the admin leaves s1 the only steward: a quorum of 2 is
	// out of reach, so it stays pending (and the admin is named in the
	// config: its recovery would be refused at completion).
	if rec, err := e.sign("s1", "r-admin", e.admin.DID(), neu); err != nil || rec.Status != RecoveryPending || rec.Stewards != 1 || rec.Quorum != 2 {
		t.Fatalf("recovery of the admin: %+v %v", rec, err)
	}
	rec, err := e.sign("s1", "r2", ann, neu)
	if err != nil || rec.Stewards != 2 || rec.Quorum != 2 {
		t.Fatalf("r2: %+v %v", rec, err)
	}
	if _, err := e.sign("s1", "r2", ann, testKey(t, "other").DID()); !errors.Is(err, ErrConflict) {
		t.Fatalf("the same id for another DID: %v", err)
	}
	raw := governance.RecoveryBody{Coop: "coop-other", Recovery: "r3", Old: string(ann), New: string(neu), Steward: string(e.keys["s1"].DID()), CreatedAt: e.now()}.Encode()
	if _, err := e.v.SignRecovery(context.Background(), raw, e.keys["s1"].Sign(identity.TagRecovery, raw)); !errors.Is(err, ErrWrongCoop) {
		t.Fatalf("another co-op: %v", err)
	}
}

// stateHash hashes every bucket but the store's own (its applied index).
func stateHash(t testing.TB, st *store.Store) [32]byte {
	h := sha256.New()
	err := st.View(func(v *store.View) error {
		return v.ForEach(func(name []byte, b *store.Bucket) error {
			if bytes.Equal(name, []byte("store.meta")) {
				return nil
			}
			h.Write(name)
			return b.ForEach(func(k, val []byte) error {
				h.Write(k)
				h.Write([]byte{0})
				h.Write(val)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// TestReplayGivesSameState: the command log of a run (joins, vouches and
// refused ones, payments, a voucher's emergency revoke, a recovery held
// back by an open transfer and then completed) applied to fresh states, in
// one batch or one command at a time, gives the identical state; and the
// trust commands applied a second time change nothing but the applied
// index.
func TestReplayGivesSameState(t *testing.T) {
	p := governance.DefaultCreditPolicy()
	e := newEnv(t, &p, true)
	st := e.l.State()
	cmds := storetest.Record(st)
	ctx := context.Background()
	if _, err := e.v.RecordPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Bootstrap(ctx, e.admin.DID(), "admin"); err != nil {
		t.Fatal(err)
	}
	ann, bob, cid := e.join("ann"), e.join("bob"), e.join("cid")
	e.add("s1", membership.RoleSteward)
	e.add("s2", membership.RoleSteward)
	for _, v := range [][2]string{{"bob", "ann"}, {"cid", "ann"}, {"bob", "ann"}, {"ann", "ann"}, {"ann", "cid"}} {
		_ = e.vouch(v[0], v[1]) // the self-vouch fails before a command; the repeat is one
	}
	e.clock.Advance(time.Minute)
	e.pay("p1", ann, bob, 9000)
	e.pay("p2", bob, cid, 6000) // over bob's 50: rejected
	if err := e.revoke("bob", "ann"); err != nil {
		t.Fatal(err)
	}
	e.pay("p3", ann, cid, 100) // rejected in_recovery
	e.pay("p4", cid, ann, 100)
	neu := testKey(t, "new").DID()
	if _, err := e.sign("s1", "rec-1", ann, neu); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.CreditPending(ctx, ledger.Transfer{ID: "x1", From: ledger.ClearingAccount("hub"), To: ledger.Account(ann),
		FromCoop: "other", ToCoop: coop, Amount: money.FromUnits(500, money.Hours), CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sign("s2", "rec-1", ann, neu); !errors.Is(err, ErrOpenTransfers) {
		t.Fatalf("recovery with an open transfer: %v", err)
	}
	if _, err := e.l.CommitCredit(ctx, "x1"); err != nil {
		t.Fatal(err)
	}
	rec, err := e.sign("s2", "rec-1", ann, neu)
	if err != nil || rec.Status != RecoveryCompleted {
		t.Fatalf("recovery: %+v %v", rec, err)
	}
	if b := e.balance(neu).Balance.String(); b != "-84.00" {
		t.Fatalf("new DID's balance %s (ann paid 90, got 1 and 5)", b)
	}
	want := stateHash(t, st)
	full, err := st.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	log := cmds.Entries(0)
	for _, size := range []int{len(log), 1, 3} {
		r := newEnv(t, &p, true)
		if err := storetest.Replay(r.l.State(), log, func() int { return size }); err != nil {
			t.Fatal(err)
		}
		got, err := r.l.State().StateHash()
		if err != nil {
			t.Fatal(err)
		}
		if got != full {
			t.Fatalf("replay in batches of %d: state %x, want %x", size, got, full)
		}
		// The trust commands again, at later indexes: nothing changes.
		var again []store.Entry
		for _, en := range log {
			if isTrustCommand(t, en.Data) {
				again = append(again, store.Entry{Index: uint64(len(log) + len(again) + 1), Data: en.Data})
			}
		}
		if len(again) < 6 {
			t.Fatalf("only %d trust commands in the log", len(again))
		}
		if _, err := r.l.State().ApplyBatch(again); err != nil {
			t.Fatal(err)
		}
		if got := stateHash(t, r.l.State()); got != want {
			t.Fatalf("the trust commands applied twice changed the state")
		}
	}
}

func isTrustCommand(t testing.TB, data []byte) bool {
	var cmd icnv1.CoopCommand
	if err := proto.Unmarshal(data, &cmd); err != nil {
		t.Fatal(err)
	}
	switch cmd.Kind.(type) {
	case *icnv1.CoopCommand_RecordVouch, *icnv1.CoopCommand_VoucherRevoke, *icnv1.CoopCommand_SignRecovery:
		return true
	}
	return false
}

// TestRecordPolicy: the gate follows the recorded policy, which
// RecordPolicy changes only when the configured one differs, and a store
// configured without a policy records it off.
func TestRecordPolicy(t *testing.T) {
	p := governance.DefaultCreditPolicy()
	e := newEnv(t, &p, false)
	ann := e.join("ann")
	ctx := context.Background()
	if changed, err := e.v.RecordPolicy(ctx); err != nil || changed {
		t.Fatalf("recording the policy in force again: changed %v, %v", changed, err)
	}
	if got := e.balance(ann).CreditLimit.String(); got != "50.00" {
		t.Fatalf("gated: %s", got)
	}
	off, err := New(e.l, e.m, Options{CoopID: coop, Clock: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}) // a node configured without it
	if err != nil {
		t.Fatal(err)
	}
	if got := e.balance(ann).CreditLimit.String(); got != "50.00" {
		t.Fatalf("before the change is recorded, the recorded policy holds: %s", got)
	}
	if changed, err := off.RecordPolicy(ctx); err != nil || !changed {
		t.Fatalf("recording the policy off: changed %v, %v", changed, err)
	}
	if pol, err := off.Policy(); err != nil || pol != nil {
		t.Fatalf("policy in force %+v, %v, want none", pol, err)
	}
	if got := e.balance(ann).CreditLimit.String(); got != "100.00" {
		t.Fatalf("ungated: %s", got)
	}
}
