package governance

import (
	"testing"
)

func TestResult(t *testing.T) {
	maj := Rule{Threshold: Majority, Quorum: Fraction{1, 3}, Voting: day}
	two := Rule{Threshold: TwoThirds, Quorum: Fraction{1, 2}, Voting: day}
	for _, tc := range []struct {
		name                       string
		rule                       Rule
		eligible, yes, no, abstain int
		want                       Result
	}{
		{"majority", maj, 5, 3, 1, 0, ResultPassed},
		{"quorum exactly a third", maj, 9, 2, 1, 0, ResultPassed},
		{"quorum one short", maj, 10, 2, 1, 0, ResultNoQuorum},
		{"abstentions make the quorum", maj, 9, 1, 0, 2, ResultPassed},
		{"abstentions decide nothing", maj, 9, 1, 1, 5, ResultTie},
		{"tie fails", maj, 4, 2, 2, 0, ResultTie},
		{"only abstentions", maj, 3, 0, 0, 3, ResultTie},
		{"minority", maj, 4, 1, 2, 0, ResultRejected},
		{"nobody eligible", maj, 0, 0, 0, 0, ResultNoQuorum},
		{"zero quorum still needs a majority", Rule{Threshold: Majority, Quorum: Fraction{0, 1}}, 5, 0, 0, 0, ResultTie},
		{"two thirds exactly", two, 6, 2, 1, 0, ResultPassed},
		{"two thirds short", two, 10, 3, 2, 0, ResultRejected},
		{"two thirds with abstentions", two, 6, 2, 1, 3, ResultPassed},
		{"two thirds quorum half", two, 7, 2, 1, 0, ResultNoQuorum},
		{"two thirds unanimous", two, 2, 1, 0, 0, ResultPassed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := Tally{Eligible: tc.eligible, For: tc.yes, Against: tc.no, Abstain: tc.abstain}
			if got := tl.result(tc.rule); got != tc.want {
				t.Fatalf("result %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTallyDelegation(t *testing.T) {
	w := newWorld(t, []string{"a", "b", "c", "d", "e", "f"}, map[string][]string{"a": {RoleProposer}})
	type edge struct{ from, to string }
	for _, tc := range []struct {
		name    string
		edges   []edge
		votes   map[string]Choice
		want    map[string]string // member → whose ballot counted
		yes, no int
	}{
		{"no delegation", nil, map[string]Choice{"a": For, "b": Against}, map[string]string{"a": "a", "b": "b"}, 1, 1},
		{"one level", []edge{{"c", "a"}}, map[string]Choice{"a": For, "b": Against}, map[string]string{"a": "a", "b": "b", "c": "a"}, 2, 1},
		{"transitive", []edge{{"d", "c"}, {"c", "a"}}, map[string]Choice{"a": For}, map[string]string{"a": "a", "c": "a", "d": "a"}, 3, 0},
		{"direct vote overrides", []edge{{"c", "a"}}, map[string]Choice{"a": For, "c": Against}, map[string]string{"a": "a", "c": "c"}, 1, 1},
		{"first voter on the chain", []edge{{"d", "c"}, {"c", "a"}}, map[string]Choice{"a": For, "c": Against}, map[string]string{"a": "a", "c": "c", "d": "c"}, 1, 2},
		{"delegate who did not vote", []edge{{"c", "b"}}, map[string]Choice{"a": For}, map[string]string{"a": "a"}, 1, 0},
		{"many to one", []edge{{"b", "a"}, {"c", "a"}, {"d", "a"}, {"e", "a"}}, map[string]Choice{"a": Against, "f": For},
			map[string]string{"a": "a", "b": "a", "c": "a", "d": "a", "e": "a", "f": "f"}, 1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.open(w.economic("p-1", "a"))
			d := &Delegations{}
			for _, e := range tc.edges {
				wantErr(t, d.Delegate(w.did(e.from), w.did(e.to), w.members), nil)
			}
			for n, c := range tc.votes {
				if _, err := p.Cast(w.vote(p, n, c, 1), w.members, voting(p)); err != nil {
					t.Fatal(err)
				}
			}
			tl := p.Tally(d)
			if tl.For != tc.yes || tl.Against != tc.no || len(tl.Counted) != len(tc.want) || tl.Eligible != 6 {
				t.Fatalf("tally %+v, want %d for, %d against, %d counted", tl, tc.yes, tc.no, len(tc.want))
			}
			for _, c := range tl.Counted {
				var member string
				for n := range w.keys {
					if w.did(n) == c.Member {
						member = n
					}
				}
				if w.did(tc.want[member]) != c.By || tc.votes[tc.want[member]] != c.Choice {
					t.Fatalf("%s counted by %s as %s, want by %s", member, c.By.Short(), c.Choice, tc.want[member])
				}
			}
		})
	}
}

// TestTallyRemovalSubjectChain: a chain through the member whose removal is
// voted on goes on past it (the subject holds no ballot on its own removal).
func TestTallyRemovalSubjectChain(t *testing.T) {
	w := newWorld(t, []string{"a", "b", "c", "d"}, map[string][]string{"a": {RoleProposer}})
	d := &Delegations{}
	wantErr(t, d.Delegate(w.did("c"), w.did("b"), w.members), nil)
	wantErr(t, d.Delegate(w.did("b"), w.did("a"), w.members), nil)
	dr := w.economic("p-1", "a")
	dr.Kind, dr.Change = KindRemoval, Change{Remove: w.did("b")}
	p := w.open(dr)
	if _, err := p.Cast(w.vote(p, "a", For, 1), w.members, voting(p)); err != nil {
		t.Fatal(err)
	}
	tl := p.Tally(d)
	if tl.Eligible != 3 || tl.For != 2 || len(tl.Counted) != 2 {
		t.Fatalf("tally %+v: want a and c (through b) for, b not eligible", tl)
	}
}
