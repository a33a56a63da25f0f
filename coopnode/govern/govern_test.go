package govern

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/payment"
)

const coop = "coop-g"

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type env struct {
	t     testing.TB
	path  string
	clock *clock
	coop  *identity.Key
	l     *ledger.Store
	m     *membership.Store
	g     *Store
	keys  map[string]*identity.Key
}

func testKey(t testing.TB, name string) *identity.Key {
	seed := sha256.Sum256([]byte("govern test " + name))
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, path: filepath.Join(t.TempDir(), "ledger.db"), clock: &clock{}, coop: testKey(t, "coop"), keys: map[string]*identity.Key{}}
	e.clock.Set(t0)
	e.open()
	return e
}

func (e *env) open() {
	t := e.t
	limit, _ := money.Parse("10", money.Hours)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := ledger.Open(ledger.Options{Path: e.path, Buckets: slices.Concat(membership.Buckets, Buckets),
		DefaultLimits: map[string]money.Amount{"hours": limit}, Clock: e.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := membership.New(l, membership.Options{CoopID: coop, CoopKey: e.coop, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(l, m, Options{CoopID: coop, Key: e.coop, Clock: e.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.l, e.m, e.g = l, m, g
	t.Cleanup(func() { l.Close() })
}

func (e *env) restart() {
	if err := e.l.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
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

func (e *env) vote(name, proposal string, c governance.Choice, rev uint32) error {
	k := e.keys[name]
	raw := governance.VoteBody{Coop: coop, Proposal: proposal, Voter: string(k.DID()), Choice: string(c), Revision: rev,
		CreatedAt: e.clock.Now().Format(time.RFC3339)}.Encode()
	_, err := e.g.Cast(context.Background(), raw, k.Sign(identity.TagVote, raw), k.DID())
	return err
}

func (e *env) limit(did identity.DID) string {
	b, err := e.l.Balance(ledger.Account(did), money.Hours)
	if err != nil {
		e.t.Fatal(err)
	}
	return b.CreditLimit.String()
}

func hours(s string) Amount { return Amount{Value: s, Currency: "hours"} }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := Code(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestCreditLimitPassesAtDeadline(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat := e.add("pat", "proposer")
	ann := e.add("ann")
	bob := e.add("bob")
	cid := e.add("cid")
	p, err := e.g.Open(ctx, Draft{ID: "p-1", Kind: governance.KindEconomic, Title: "More credit for bob", Proposer: pat,
		Change: Change{CreditLimits: []CreditLimit{{Member: bob, Limit: hours("40")}}, DefaultCreditLimit: ptr(hours("20"))}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.vote("ann", "p-1", governance.For, 1), "not_voting") // in discussion
	if err := e.g.Delegate(ctx, cid, ann); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(p.VotingStarts)
	for _, n := range []string{"ann", "pat"} {
		if err := e.vote(n, "p-1", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.vote("bob", "p-1", governance.Against, 1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.vote("bob", "p-1", governance.Against, 1), "") // the same bytes again: a harmless repeat
	e.clock.Set(p.VotingEnds.Add(time.Hour))
	if e.limit(bob) != "10.00" {
		t.Fatalf("limit before any command: %s", e.limit(bob))
	}
	// The next ledger command closes it first: bob's payment of 30 sees
	// his new limit of 40.
	pay, err := e.l.Pay(ctx, ledger.Transfer{ID: "pay-1", From: ledger.Account(bob), To: ledger.Account(ann), Amount: money.FromUnits(3000, money.Hours),
		FromCoop: coop, ToCoop: coop, CreatedAt: e.clock.Now()})
	if err != nil || pay.Status != ledger.StatusCommitted {
		t.Fatalf("payment after the deadline: %+v %v", pay, err)
	}
	v, err := e.g.Proposal("p-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != "passed" || v.Tally.For != 3 || v.Tally.Against != 1 || !v.Outcome.ClosedAt.Equal(p.VotingEnds) {
		t.Fatalf("outcome %+v tally %+v", v.Outcome, v.Tally)
	}
	if got := e.limit(bob); got != "40.00" {
		t.Fatalf("bob's limit %s", got)
	}
	if got := e.limit(ann); got != "10.00" {
		t.Fatalf("ann keeps her limit: %s", got)
	}
	dan := e.add("dan")
	if got := e.limit(dan); got != "20.00" {
		t.Fatalf("a new member's limit %s", got)
	}
	wantCode(t, e.vote("ann", "p-1", governance.Against, 2), "not_voting")
}

func ptr[T any](v T) *T { return &v }

func TestRemovalAndAppeal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat := e.add("pat", "proposer", "moderator")
	e.add("ann")
	bob := e.add("bob", "treasurer")
	p, err := e.g.Open(ctx, Draft{ID: "rm-1", Kind: governance.KindRemoval, Title: "Remove bob", Proposer: pat, Change: Change{Remove: bob}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(p.VotingStarts)
	wantCode(t, e.vote("bob", "rm-1", governance.Against, 1), "not_eligible")
	for _, n := range []string{"ann", "pat"} {
		if err := e.vote(n, "rm-1", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	closed, err := e.g.Close(ctx, "rm-1", pat)
	if err != nil {
		t.Fatal(err)
	}
	if closed.Outcome.Status != "passed" {
		t.Fatalf("outcome %+v", closed.Outcome)
	}
	if _, err := e.m.Authorize(bob, e.clock.Now()); err == nil {
		t.Fatal("bob still authorised")
	}
	if e.limit(bob) != "0.00" {
		t.Fatalf("bob's limit %s", e.limit(bob))
	}
	if _, ok, _ := e.g.BalanceFlag(bob); !ok {
		t.Fatal("no balance flag")
	}
	r, ok, err := e.g.Removal(bob)
	if err != nil || !ok || !slices.Equal(r.Roles, []string{"member", "treasurer"}) || len(r.CreditLimits) != 1 || r.CreditLimits[0].Value != "10.00" {
		t.Fatalf("removal %+v %v %v", r, ok, err)
	}
	e.clock.Advance(24 * time.Hour)
	_, err = e.g.FileAppeal(ctx, AppealDraft{ID: "ap-1", Title: "I was wronged", Appellant: pat})
	wantCode(t, err, "no_removal")
	ap, err := e.g.FileAppeal(ctx, AppealDraft{ID: "ap-1", Title: "I was wronged", Appellant: bob})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.g.FileAppeal(ctx, AppealDraft{ID: "ap-2", Title: "Again", Appellant: bob})
	wantCode(t, err, "appeal_filed")
	e.clock.Set(ap.VotingStarts)
	for _, n := range []string{"ann", "pat"} {
		if err := e.vote(n, "ap-1", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.g.Close(ctx, "ap-1", pat); err != nil {
		t.Fatal(err)
	}
	m, err := e.m.Authorize(bob, e.clock.Now())
	if err != nil || !m.HasRole("treasurer") {
		t.Fatalf("bob after the appeal: %+v %v", m, err)
	}
	if e.limit(bob) != "10.00" {
		t.Fatalf("bob's limit %s", e.limit(bob))
	}
	if _, ok, _ := e.g.BalanceFlag(bob); ok {
		t.Fatal("flag stands")
	}
	if r, _, _ := e.g.Removal(bob); r.ResolvedBy != "ap-1" {
		t.Fatalf("removal %+v", r)
	}
}

func TestDuesOnceAcrossRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat := e.add("pat", "proposer")
	ann := e.add("ann")
	e.add("bob")
	p, err := e.g.Open(ctx, Draft{ID: "d-1", Kind: governance.KindDues, Title: "Monthly dues", Proposer: pat,
		Change: Change{Dues: &Schedule{Amount: hours("1"), Day: 1, Treasury: "treasury"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(p.VotingStarts)
	for _, n := range []string{"ann", "pat", "bob"} {
		if err := e.vote(n, "d-1", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.g.Close(ctx, "d-1", pat); err == nil {
		t.Fatal("pat is no moderator")
	}
	e.clock.Set(time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC))
	for range 2 {
		if err := e.g.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		e.restart()
	}
	if err := e.g.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	tb, _ := e.l.Balance("treasury", money.Hours)
	if tb.Balance.String() != "3.00" {
		t.Fatalf("treasury %s", tb.Balance)
	}
	ab, _ := e.l.Balance(ledger.Account(ann), money.Hours)
	if ab.Balance.String() != "-1.00" {
		t.Fatalf("ann %s", ab.Balance)
	}
	d, err := e.g.Dues()
	if err != nil || d.Last != "2026-04" || d.LastRun == nil || len(d.LastRun.Paid) != 3 {
		t.Fatalf("dues %+v %v", d, err)
	}
	// Each payment carries the co-op's signed order.
	pay, err := e.l.Payment(d.LastRun.Paid[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := payment.VerifyBy(e.coop.DID(), pay.Intent, pay.Signature); err != nil || pay.Memo != "dues 2026-04" {
		t.Fatalf("dues order %s: %v", pay.Intent, err)
	}
}

// TestRunClosesAtDeadline: the scheduler loop alone closes a proposal once
// its deadline has passed, and stops with its context.
func TestRunClosesAtDeadline(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	pat := e.add("pat", "proposer")
	p, err := e.g.Open(ctx, Draft{ID: "p-1", Kind: governance.KindEconomic, Title: "Default 20", Proposer: pat,
		Change: Change{DefaultCreditLimit: ptr(hours("20"))}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); e.g.Run(ctx, time.Millisecond) }()
	e.clock.Set(p.VotingEnds)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := e.g.Proposal("p-1")
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != nil {
			if v.Outcome.Result != "no_quorum" {
				t.Fatalf("outcome %+v", v.Outcome)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not close the proposal within 10 s")
		}
		time.Sleep(time.Millisecond) // polling the condition, bounded by deadline
	}
	cancel()
	<-done
}

// TestAppealWindow: an appeal 30 days after the removal is refused, and
// the removed member stays removed.
func TestAppealWindow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat := e.add("pat", "proposer", "moderator")
	e.add("ann")
	bob := e.add("bob")
	p, err := e.g.Open(ctx, Draft{ID: "rm-1", Kind: governance.KindRemoval, Title: "Remove bob", Proposer: pat, Change: Change{Remove: bob}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(p.VotingStarts)
	for _, n := range []string{"ann", "pat"} {
		if err := e.vote(n, "rm-1", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(p.VotingEnds) // the deadline closes it, at the deadline
	if err := e.g.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	r, ok, err := e.g.Removal(bob)
	if err != nil || !ok || !r.RemovedAt.Equal(p.VotingEnds) || !r.AppealUntil.Equal(p.VotingEnds.Add(governance.AppealWindow)) {
		t.Fatalf("removal %+v %v %v", r, ok, err)
	}
	e.clock.Set(r.AppealUntil)
	_, err = e.g.FileAppeal(ctx, AppealDraft{ID: "ap-1", Title: "Late", Appellant: bob})
	wantCode(t, err, "appeal_window_closed")
	if _, err := e.g.Proposal("ap-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused appeal left a proposal: %v", err)
	}
}

// TestCronDuesOnceAcrossRestart: a dues schedule given as a cron
// expression (weekly, Monday 09:00 in Berlin) charges each member once for
// its instant, across ticks and restarts; expressions that are no calendar
// of at most daily instants are refused when the proposal opens.
func TestCronDuesOnceAcrossRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat := e.add("pat", "proposer")
	ann := e.add("ann")
	e.add("bob")
	for i, bad := range []string{"*/5 * * * *", "0 */12 * * *", "@every 168h", "TZ=UTC 0 9 * * 1", "0 9 31 2 *", "not cron"} {
		_, err := e.g.Open(ctx, Draft{ID: fmt.Sprint("bad-", i), Kind: governance.KindDues, Title: "Dues", Proposer: pat,
			Change: Change{Dues: &Schedule{Amount: hours("1"), Cron: bad, Treasury: "treasury"}}})
		if !errors.Is(err, governance.ErrInvalidSchedule) {
			t.Errorf("cron %q: %v, want ErrInvalidSchedule", bad, err)
		}
	}
	p, err := e.g.Open(ctx, Draft{ID: "d-1", Kind: governance.KindDues, Title: "Weekly dues", Proposer: pat,
		Change: Change{Dues: &Schedule{Amount: hours("1"), Cron: "0 9 * * 1", TimeZone: "Europe/Berlin", Treasury: "treasury"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(p.VotingStarts)
	for _, n := range []string{"ann", "pat", "bob"} {
		if err := e.vote(n, "d-1", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	due := p.VotingEnds.In(berlin)
	due = time.Date(due.Year(), due.Month(), due.Day(), 9, 0, 0, 0, berlin)
	for due.Weekday() != time.Monday || !due.After(p.VotingEnds) {
		due = due.AddDate(0, 0, 1)
	}
	e.clock.Set(due.Add(30 * time.Second))
	for range 2 {
		if err := e.g.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		e.restart()
	}
	if err := e.g.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if tb, _ := e.l.Balance("treasury", money.Hours); tb.Balance.String() != "3.00" {
		t.Fatalf("treasury %s, want 3.00: each member once", tb.Balance)
	}
	if ab, _ := e.l.Balance(ledger.Account(ann), money.Hours); ab.Balance.String() != "-1.00" {
		t.Fatalf("ann %s", ab.Balance)
	}
	d, err := e.g.Dues()
	want := due.UTC().Format("20060102T1504Z")
	if err != nil || d.Last != want || d.LastRun == nil || len(d.LastRun.Paid) != 3 || d.Schedule.Cron != "0 9 * * 1" {
		t.Fatalf("dues %+v %v, want last period %s", d, err, want)
	}
	pay, err := e.l.Payment(d.LastRun.Paid[0])
	if err != nil || pay.Memo != "dues "+want || !pay.CreatedAt.Equal(due) {
		t.Fatalf("dues payment %+v %v", pay, err)
	}
}
