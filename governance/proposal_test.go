package governance

import (
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
)

var boardRoles = map[string][]string{"pat": {RoleProposer}, "mo": {RoleModerator}}

func board(t *testing.T) *world {
	return newWorld(t, []string{"pat", "mo", "ann", "bob", "cy"}, boardRoles)
}

func TestOpen(t *testing.T) {
	w := board(t)
	w.add("nonvoter", RoleTreasurer)
	neg := hours(t, "-1.00")
	dues := Schedule{Amount: hours(t, "1.00"), Day: 1, Treasury: "treasury"}
	badDues := dues
	badDues.Day = 31
	for _, tc := range []struct {
		name string
		edit func(d *Draft)
		want error
	}{
		{"economic", func(d *Draft) {}, nil},
		{"not a proposer", func(d *Draft) { d.Proposer = w.did("ann") }, ErrNotAuthorised},
		{"moderator is not a proposer", func(d *Draft) { d.Proposer = w.did("mo") }, ErrNotAuthorised},
		{"not a member", func(d *Draft) { d.Proposer = w.did("stranger") }, ErrNotMember},
		{"appeal through Open", func(d *Draft) { d.Kind, d.Change = KindAppeal, Change{Restore: &Removal{}} }, ErrInvalidProposal},
		{"bad id", func(d *Draft) { d.ID = "p/1" }, ErrInvalidProposal},
		{"empty coop", func(d *Draft) { d.Coop = "" }, ErrInvalidProposal},
		{"unknown kind", func(d *Draft) { d.Kind = "constitution" }, ErrInvalidProposal},
		{"empty title", func(d *Draft) { d.Title = "" }, ErrInvalidProposal},
		{"title newline", func(d *Draft) { d.Title = "a\nb" }, ErrInvalidProposal},
		{"body bidi override", func(d *Draft) { d.Body = "pay \u202e001" }, ErrInvalidProposal},
		{"body too long", func(d *Draft) { d.Body = strings.Repeat("x", MaxBodyBytes+1) }, ErrInvalidProposal},
		{"nothing changes", func(d *Draft) { d.Change = Change{} }, ErrInvalidProposal},
		{"wrong change for kind", func(d *Draft) { d.Change.Dues = &dues }, ErrInvalidProposal},
		{"negative default limit", func(d *Draft) { d.Change.DefaultCreditLimit = &neg }, ErrInvalidProposal},
		{"member limit", func(d *Draft) {
			d.Change = Change{CreditLimits: []CreditLimit{{w.did("ann"), hours(t, "80.00")}}}
		}, nil},
		{"limit for a non-member", func(d *Draft) {
			d.Change = Change{CreditLimits: []CreditLimit{{w.did("stranger"), hours(t, "80.00")}}}
		}, ErrInvalidProposal},
		{"two limits for one member", func(d *Draft) {
			d.Change = Change{CreditLimits: []CreditLimit{{w.did("ann"), hours(t, "80.00")}, {w.did("ann"), hours(t, "90.00")}}}
		}, ErrInvalidProposal},
		{"grant role", func(d *Draft) {
			d.Kind, d.Change = KindMembership, Change{Roles: []RoleChange{{w.did("ann"), RoleSteward, true}, {w.did("mo"), RoleModerator, false}}}
		}, nil},
		{"grant member role", func(d *Draft) {
			d.Kind, d.Change = KindMembership, Change{Roles: []RoleChange{{w.did("ann"), RoleMember, true}}}
		}, ErrInvalidProposal},
		{"unknown role", func(d *Draft) {
			d.Kind, d.Change = KindMembership, Change{Roles: []RoleChange{{w.did("ann"), "admin", true}}}
		}, ErrInvalidProposal},
		{"role twice", func(d *Draft) {
			d.Kind, d.Change = KindMembership, Change{Roles: []RoleChange{{w.did("ann"), RoleSteward, true}, {w.did("ann"), RoleSteward, false}}}
		}, ErrInvalidProposal},
		{"removal", func(d *Draft) { d.Kind, d.Change = KindRemoval, Change{Remove: w.did("bob")} }, nil},
		{"removal of a stranger", func(d *Draft) { d.Kind, d.Change = KindRemoval, Change{Remove: w.did("stranger")} }, ErrInvalidProposal},
		{"dues", func(d *Draft) { d.Kind, d.Change = KindDues, Change{Dues: &dues} }, nil},
		{"dues on the 31st", func(d *Draft) { d.Kind, d.Change = KindDues, Change{Dues: &badDues} }, ErrInvalidProposal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := w.economic("p-1", "pat")
			tc.edit(&d)
			p, err := Open(d, w.members, DefaultPolicy(), t0)
			wantErr(t, err, tc.want)
			if err != nil {
				return
			}
			rule := DefaultPolicy()[d.Kind]
			if p.Status != StatusDiscussion || p.Rule != rule || !p.VotingStarts.Equal(t0.Add(rule.Discussion)) ||
				!p.VotingEnds.Equal(t0.Add(rule.Discussion+rule.Voting)) {
				t.Fatalf("opened %+v", p)
			}
			wantVoters := 5
			if d.Kind == KindRemoval {
				wantVoters = 4 // bob does not vote on his own removal
			}
			if len(p.Electorate) != wantVoters {
				t.Fatalf("electorate %v, want %d (the treasurer without the member role is not in it)", p.Electorate, wantVoters)
			}
		})
	}
}

func TestOpenWithoutDiscussion(t *testing.T) {
	w := board(t)
	pol := DefaultPolicy()
	r := pol[KindEconomic]
	r.Discussion = 0
	pol[KindEconomic] = r
	p, err := Open(w.economic("p-1", "pat"), w.members, pol, t0)
	wantErr(t, err, nil)
	if p.Status != StatusVoting {
		t.Fatalf("status %s, want voting", p.Status)
	}
	if _, err := p.Cast(w.vote(p, "ann", For, 1), w.members, t0); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(p Policy)
	}{
		{"missing kind", func(p Policy) { delete(p, KindDues) }},
		{"threshold", func(p Policy) { r := p[KindDues]; r.Threshold = "unanimity"; p[KindDues] = r }},
		{"quorum over one", func(p Policy) { r := p[KindDues]; r.Quorum = Fraction{3, 2}; p[KindDues] = r }},
		{"quorum zero denominator", func(p Policy) { r := p[KindDues]; r.Quorum = Fraction{0, 0}; p[KindDues] = r }},
		{"no voting period", func(p Policy) { r := p[KindDues]; r.Voting = 0; p[KindDues] = r }},
		{"negative discussion", func(p Policy) { r := p[KindDues]; r.Discussion = -time.Hour; p[KindDues] = r }},
		{"voting too long", func(p Policy) { r := p[KindDues]; r.Voting = MaxPeriod + 1; p[KindDues] = r }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.edit(p)
			wantErr(t, p.Validate(), ErrInvalidPolicy)
			if tc.name != "missing kind" {
				d := board(t).economic("p-1", "pat")
				d.Kind, d.Change = KindDues, Change{Dues: &Schedule{Amount: hours(t, "1.00"), Day: 1, Treasury: "t"}}
				_, err := Open(d, board(t).members, p, t0)
				wantErr(t, err, ErrInvalidPolicy)
			}
		})
	}
}

func TestCast(t *testing.T) {
	w := board(t)
	other := w.open(w.economic("p-2", "pat"))
	removal := w.economic("p-3", "pat")
	removal.Kind, removal.Change = KindRemoval, Change{Remove: w.did("bob")}
	rp := w.open(removal)
	for _, tc := range []struct {
		name string
		run  func(p *Proposal) (bool, error)
		want error
		new  bool
	}{
		{"first vote", func(p *Proposal) (bool, error) { return p.Cast(w.vote(p, "ann", For, 1), w.members, voting(p)) }, nil, true},
		{"in discussion", func(p *Proposal) (bool, error) {
			return p.Cast(w.vote(p, "ann", For, 1), w.members, voting(p).Add(-time.Second))
		}, ErrNotVoting, false},
		{"at the deadline", func(p *Proposal) (bool, error) { return p.Cast(w.vote(p, "ann", For, 1), w.members, p.VotingEnds) }, ErrNotVoting, false},
		{"just before the deadline", func(p *Proposal) (bool, error) {
			return p.Cast(w.vote(p, "ann", For, 1), w.members, p.VotingEnds.Add(-time.Nanosecond))
		}, nil, true},
		{"another proposal's vote", func(p *Proposal) (bool, error) { return p.Cast(w.vote(other, "ann", For, 1), w.members, voting(p)) }, ErrWrongProposal, false},
		{"another co-op's vote", func(p *Proposal) (bool, error) {
			v := w.vote(p, "ann", For, 1)
			v.Coop = "coop-b"
			return p.Cast(v, w.members, voting(p))
		}, ErrWrongProposal, false},
		{"not a member", func(p *Proposal) (bool, error) { return p.Cast(w.vote(p, "stranger", For, 1), w.members, voting(p)) }, ErrNotMember, false},
		{"joined after opening", func(p *Proposal) (bool, error) {
			w2 := board(t)
			w2.add("late", RoleMember)
			return p.Cast(w2.vote(p, "late", For, 1), w2.members, voting(p))
		}, ErrNotEligible, false},
		{"removed since opening", func(p *Proposal) (bool, error) {
			w2 := board(t)
			delete(w2.members, w2.did("ann"))
			return p.Cast(w.vote(p, "ann", For, 1), w2.members, voting(p))
		}, ErrNotMember, false},
		{"changed vote", func(p *Proposal) (bool, error) {
			if _, err := p.Cast(w.vote(p, "ann", For, 1), w.members, voting(p)); err != nil {
				return false, err
			}
			return p.Cast(w.vote(p, "ann", Against, 2), w.members, voting(p))
		}, nil, true},
		{"same revision, other choice", func(p *Proposal) (bool, error) {
			if _, err := p.Cast(w.vote(p, "ann", For, 2), w.members, voting(p)); err != nil {
				return false, err
			}
			return p.Cast(w.vote(p, "ann", Against, 2), w.members, voting(p))
		}, ErrAlreadyVoted, false},
		{"replayed older revision", func(p *Proposal) (bool, error) {
			if _, err := p.Cast(w.vote(p, "ann", Against, 5), w.members, voting(p)); err != nil {
				return false, err
			}
			return p.Cast(w.vote(p, "ann", For, 4), w.members, voting(p))
		}, ErrAlreadyVoted, false},
		{"repeat of the same vote", func(p *Proposal) (bool, error) {
			if _, err := p.Cast(w.vote(p, "ann", For, 1), w.members, voting(p)); err != nil {
				return false, err
			}
			return p.Cast(w.vote(p, "ann", For, 1), w.members, voting(p).Add(time.Hour))
		}, nil, false},
		{"closed", func(p *Proposal) (bool, error) {
			p.Advance(nil, p.VotingEnds)
			return p.Cast(w.vote(p, "ann", For, 1), w.members, voting(p))
		}, ErrNotVoting, false},
		{"cancelled", func(p *Proposal) (bool, error) {
			if _, err := p.Cancel(w.did("pat"), w.members, t0); err != nil {
				return false, err
			}
			return p.Cast(w.vote(p, "ann", For, 1), w.members, voting(p))
		}, ErrNotVoting, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.open(w.economic("p-1", "pat"))
			before := len(p.Ballots)
			got, err := tc.run(p)
			wantErr(t, err, tc.want)
			if got != tc.new {
				t.Fatalf("new = %v, want %v", got, tc.new)
			}
			if err != nil && len(p.Ballots) > before+1 {
				t.Fatalf("a refused vote was recorded: %d ballots", len(p.Ballots))
			}
			if tc.new && p.Status != StatusVoting {
				t.Fatalf("status %s after a vote", p.Status)
			}
		})
	}
	t.Run("subject of removal", func(t *testing.T) {
		_, err := rp.Cast(w.vote(rp, "bob", Against, 1), w.members, voting(rp))
		wantErr(t, err, ErrNotEligible)
	})
}

func TestChangedVoteCountsOnce(t *testing.T) {
	w := board(t)
	p := w.open(w.economic("p-1", "pat"))
	for i, c := range []Choice{For, Against, Abstain, Against} {
		if _, err := p.Cast(w.vote(p, "ann", c, uint32(i+1)), w.members, voting(p)); err != nil {
			t.Fatal(err)
		}
	}
	tl := p.Tally(nil)
	if tl.For != 0 || tl.Against != 1 || tl.Abstain != 0 || len(tl.Counted) != 1 || len(p.Ballots) != 4 {
		t.Fatalf("tally %+v from %d ballots, want one against (the last revision) and all four kept", tl, len(p.Ballots))
	}
}

func TestAdvance(t *testing.T) {
	w := board(t)
	p := w.open(w.economic("p-1", "pat"))
	steps := []struct {
		at     time.Time
		status Status
		closes bool
	}{
		{t0, StatusDiscussion, false},
		{p.VotingStarts.Add(-time.Nanosecond), StatusDiscussion, false},
		{p.VotingStarts, StatusVoting, false},
		{p.VotingEnds.Add(-time.Nanosecond), StatusVoting, false},
		{p.VotingEnds.Add(time.Hour), StatusFailed, true}, // nobody voted: no quorum
		{p.VotingEnds.Add(2 * time.Hour), StatusFailed, false},
	}
	for _, s := range steps {
		o := p.Advance(nil, s.at)
		if p.Status != s.status || (o != nil) != s.closes {
			t.Fatalf("Advance(%s): status %s, outcome %v; want %s, closes %v", s.at, p.Status, o, s.status, s.closes)
		}
		if o != nil && (o.Result != ResultNoQuorum || !o.ClosedAt.Equal(p.VotingEnds) || o.ClosedBy != "" || len(o.Effects) != 0) {
			t.Fatalf("outcome %+v: want no quorum, closed at the deadline (not the late tick)", o)
		}
	}
}

func TestClose(t *testing.T) {
	w := board(t)
	for _, tc := range []struct {
		name string
		by   string
		at   func(p *Proposal) time.Time
		prep func(p *Proposal)
		want error
	}{
		{"moderator during voting", "mo", voting, nil, nil},
		{"proposer is not a moderator", "pat", voting, nil, ErrNotAuthorised},
		{"member", "ann", voting, nil, ErrNotAuthorised},
		{"stranger", "stranger", voting, nil, ErrNotMember},
		{"during discussion", "mo", func(p *Proposal) time.Time { return t0 }, nil, ErrNotVoting},
		{"after the deadline", "mo", func(p *Proposal) time.Time { return p.VotingEnds }, nil, ErrNotVoting},
		{"closed", "mo", voting, func(p *Proposal) { p.Advance(nil, p.VotingEnds) }, ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.open(w.economic("p-1", "pat"))
			for _, n := range []string{"ann", "bob"} {
				if _, err := p.Cast(w.vote(p, n, For, 1), w.members, voting(p)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.prep != nil {
				tc.prep(p)
			}
			status := p.Status
			o, err := p.Close(w.did(tc.by), w.members, nil, tc.at(p))
			wantErr(t, err, tc.want)
			if err != nil {
				if p.Status != status {
					t.Fatalf("refused close moved status %s → %s", status, p.Status)
				}
				return
			}
			if o.Status != StatusPassed || o.ClosedBy != w.did("mo") || !o.ClosedAt.Equal(voting(p)) || p.Outcome != o {
				t.Fatalf("outcome %+v", o)
			}
			if _, ok := o.Effects[0].(SetDefaultCreditLimit); !ok || len(o.Effects) != 1 {
				t.Fatalf("effects %#v", o.Effects)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	w := board(t)
	for _, tc := range []struct {
		name string
		by   string
		at   func(p *Proposal) time.Time
		want error
	}{
		{"proposer in discussion", "pat", func(*Proposal) time.Time { return t0 }, nil},
		{"proposer in voting", "pat", voting, nil},
		{"moderator", "mo", voting, nil},
		{"member", "ann", voting, ErrNotAuthorised},
		{"stranger", "stranger", voting, ErrNotMember},
		{"after the deadline", "pat", func(p *Proposal) time.Time { return p.VotingEnds }, ErrNotVoting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.open(w.economic("p-1", "pat"))
			o, err := p.Cancel(w.did(tc.by), w.members, tc.at(p))
			wantErr(t, err, tc.want)
			if err != nil {
				if p.Status.Closed() {
					t.Fatalf("refused cancel closed the proposal: %s", p.Status)
				}
				return
			}
			if p.Status != StatusCancelled || o.Result != ResultCancelled || len(o.Effects) != 0 {
				t.Fatalf("cancelled: %+v", o)
			}
			_, err = p.Cancel(w.did(tc.by), w.members, tc.at(p))
			wantErr(t, err, ErrClosed)
			if o := p.Advance(nil, p.VotingEnds); o != nil || p.Status != StatusCancelled {
				t.Fatalf("Advance after cancel: %v, %s", o, p.Status)
			}
		})
	}
	t.Run("removed proposer", func(t *testing.T) {
		p := w.open(w.economic("p-1", "pat"))
		w2 := board(t)
		delete(w2.members, w2.did("pat"))
		_, err := p.Cancel(w.did("pat"), w2.members, t0)
		wantErr(t, err, ErrNotMember)
	})
}

var _ = identity.DID("")
