package governance

import (
	"reflect"
	"testing"
	"time"

	"github.com/icn-coop/icn/money"
)

// pass casts For by every voter of p and advances past its deadline.
func pass(t *testing.T, w *world, p *Proposal, voters ...string) *Outcome {
	t.Helper()
	for _, n := range voters {
		if _, err := p.Cast(w.vote(p, n, For, 1), w.members, voting(p)); err != nil {
			t.Fatal(err)
		}
	}
	o := p.Advance(nil, p.VotingEnds)
	if o == nil || o.Status != StatusPassed {
		t.Fatalf("outcome %+v, want passed", o)
	}
	return o
}

func TestEffects(t *testing.T) {
	w := board(t)
	ann, bob := w.did("ann"), w.did("bob")
	dues := Schedule{Amount: hours(t, "1.00"), Day: 1, Treasury: "treasury"}
	lim := hours(t, "50.00")
	for _, tc := range []struct {
		name   string
		kind   Kind
		change Change
		want   func(closed time.Time) []Effect
	}{
		{"economic", KindEconomic, Change{DefaultCreditLimit: &lim, CreditLimits: []CreditLimit{{ann, hours(t, "80.00")}}},
			func(time.Time) []Effect {
				return []Effect{SetDefaultCreditLimit{lim}, SetCreditLimit{ann, hours(t, "80.00")}}
			}},
		{"membership", KindMembership, Change{Roles: []RoleChange{{ann, RoleSteward, true}, {w.did("mo"), RoleModerator, false}}},
			func(time.Time) []Effect {
				return []Effect{GrantRole{ann, RoleSteward}, RevokeRole{w.did("mo"), RoleModerator}}
			}},
		{"removal", KindRemoval, Change{Remove: bob},
			func(closed time.Time) []Effect {
				return []Effect{RevokeCredential{bob}, ZeroCredit{bob}, FlagBalance{bob}, SuspendTrust{bob}, DropDelegations{bob},
					RecordRemoval{Removal{Member: bob, Proposal: "p-1", RemovedAt: closed}}}
			}},
		{"dues", KindDues, Change{Dues: &dues},
			func(closed time.Time) []Effect {
				d := dues
				d.From = closed
				return []Effect{SetDues{d}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := w.economic("p-1", "pat")
			d.Kind, d.Change = tc.kind, tc.change
			p := w.open(d)
			o := pass(t, w, p, "pat", "mo", "ann", "cy")
			if want := tc.want(p.VotingEnds); !reflect.DeepEqual(o.Effects, want) {
				t.Fatalf("effects\n got %#v\nwant %#v", o.Effects, want)
			}
		})
	}
}

func TestFailedHasNoEffects(t *testing.T) {
	w := board(t)
	p := w.open(w.economic("p-1", "pat"))
	for _, n := range []string{"ann", "bob"} {
		if _, err := p.Cast(w.vote(p, n, Against, 1), w.members, voting(p)); err != nil {
			t.Fatal(err)
		}
	}
	o := p.Advance(nil, p.VotingEnds)
	if o.Status != StatusFailed || o.Result != ResultRejected || len(o.Effects) != 0 {
		t.Fatalf("outcome %+v", o)
	}
}

// TestRemovalAndAppeal: a removal passes, the member appeals within 30
// days, the appeal passes and its effects restore what the removal took.
func TestRemovalAndAppeal(t *testing.T) {
	w := board(t)
	bob := w.did("bob")
	d := w.economic("p-1", "pat")
	d.Kind, d.Change = KindRemoval, Change{Remove: bob}
	o := pass(t, w, w.open(d), "pat", "mo", "ann", "cy")
	rec := o.Effects[len(o.Effects)-1].(RecordRemoval).Removal
	// What the co-op node took away when it applied the effects:
	rec.Roles = []string{RoleMember, RoleSteward}
	rec.CreditLimits = []money.Amount{hours(t, "30.00")}
	delete(w.members, bob)

	draft := AppealDraft{ID: "appeal-1", Coop: coop, Appellant: bob, Title: "I was away, not absent"}
	at := rec.RemovedAt.Add(29 * day)
	ap, err := OpenAppeal(&rec, draft, w.members, DefaultPolicy(), at)
	wantErr(t, err, nil)
	if rec.Appeal != "appeal-1" || ap.Kind != KindAppeal || ap.Proposer != bob || len(ap.Electorate) != 4 {
		t.Fatalf("appeal %+v, removal %+v", ap, rec)
	}
	if _, err := ap.Cast(w.vote(ap, "bob", For, 1), w.members, voting(ap)); !errorsIs(err, ErrNotMember) {
		t.Fatalf("the appellant voted: %v", err)
	}
	ao := pass(t, w, ap, "pat", "ann")
	want := []Effect{RestoreMembership{bob, []string{RoleMember, RoleSteward}}, RestoreCredit{bob, []money.Amount{hours(t, "30.00")}},
		RestoreTrust{bob}, ClearBalanceFlag{bob}, ResolveRemoval{bob, rec.RemovedAt}}
	if !reflect.DeepEqual(ao.Effects, want) {
		t.Fatalf("appeal effects\n got %#v\nwant %#v", ao.Effects, want)
	}
}

func TestOpenAppeal(t *testing.T) {
	w := board(t)
	bob := w.did("bob")
	removed := t0
	for _, tc := range []struct {
		name      string
		appellant string
		at        time.Time
		filed     string
		member    bool
		want      error
	}{
		{"on removal", "bob", removed, "", false, nil},
		{"last instant", "bob", removed.Add(AppealWindow - time.Nanosecond), "", false, nil},
		{"30 days after", "bob", removed.Add(AppealWindow), "", false, ErrAppealWindow},
		{"before removal", "bob", removed.Add(-time.Second), "", false, ErrInvalidProposal},
		{"by another", "ann", removed.Add(day), "", false, ErrNotAuthorised},
		{"second appeal", "bob", removed.Add(day), "appeal-0", false, ErrAppealFiled},
		{"member again", "bob", removed.Add(day), "", true, ErrInvalidProposal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := Members{}
			for k, v := range w.members {
				members[k] = v
			}
			if !tc.member {
				delete(members, bob)
			}
			r := Removal{Member: bob, Proposal: "p-1", RemovedAt: removed, Roles: []string{RoleMember}, Appeal: tc.filed}
			p, err := OpenAppeal(&r, AppealDraft{ID: "appeal-1", Coop: coop, Appellant: w.did(tc.appellant), Title: "Appeal"}, members, DefaultPolicy(), tc.at)
			wantErr(t, err, tc.want)
			if err != nil {
				if r.Appeal != tc.filed {
					t.Fatalf("refused appeal recorded %q", r.Appeal)
				}
				return
			}
			if p.Change.Restore.Member != bob || r.Appeal != "appeal-1" {
				t.Fatalf("appeal %+v", p.Change.Restore)
			}
			// The appellant may withdraw, though no longer a member.
			if _, err := p.Cancel(bob, members, tc.at); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("unknown role restored", func(t *testing.T) {
		r := Removal{Member: bob, RemovedAt: removed, Roles: []string{"admin"}}
		delete(w.members, bob)
		_, err := OpenAppeal(&r, AppealDraft{ID: "appeal-1", Coop: coop, Appellant: bob, Title: "Appeal"}, w.members, DefaultPolicy(), removed)
		wantErr(t, err, ErrInvalidProposal)
	})
}
