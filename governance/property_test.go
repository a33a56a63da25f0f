package governance

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
)

// event is one step of a random history.
type event struct {
	op       string // cast, delegate, revoke
	a, b     int    // members
	choice   Choice
	revision uint32
	at       time.Time
}

// randomHistory makes n random events on members 0..size-1: votes (new
// revisions, stale ones, repeats), delegations (some closing cycles) and
// revocations (some of nothing).
func randomHistory(r *rand.Rand, size, n int, start time.Time) []event {
	choices := []Choice{For, Against, Abstain}
	revs := make([]uint32, size)
	var evs []event
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		a, b := r.IntN(size), r.IntN(size)
		switch k := r.IntN(10); {
		case k < 5:
			rev := revs[a] + 1
			if revs[a] > 0 && r.IntN(4) == 0 {
				rev = uint32(1 + r.IntN(int(revs[a]))) // stale, or a repeat of what was cast
			} else {
				revs[a] = rev
			}
			evs = append(evs, event{op: "cast", a: a, choice: choices[r.IntN(3)], revision: rev, at: at})
		case k < 8:
			evs = append(evs, event{op: "delegate", a: a, b: b, at: at})
		default:
			evs = append(evs, event{op: "revoke", a: a, at: at})
		}
	}
	return evs
}

// run applies evs to p and d, checking each refusal is one the rules name.
func run(t *testing.T, w *world, ms []string, p *Proposal, d *Delegations, evs []event) {
	t.Helper()
	for _, e := range evs {
		var err error
		switch e.op {
		case "cast":
			_, err = p.Cast(w.vote(p, ms[e.a], e.choice, e.revision), w.members, e.at)
			if err != nil && !errors.Is(err, ErrAlreadyVoted) {
				t.Fatalf("cast %+v: %v", e, err)
			}
		case "delegate":
			err = d.Delegate(w.did(ms[e.a]), w.did(ms[e.b]), w.members)
			wantCycle := e.a == e.b || reaches(d, w.did(ms[e.b]), w.did(ms[e.a]))
			if (err != nil) != wantCycle || err != nil && !errors.Is(err, ErrSelfDelegation) && !errors.Is(err, ErrDelegationCycle) {
				t.Fatalf("delegate %s → %s: %v (cycle by brute force: %v)", ms[e.a], ms[e.b], err, wantCycle)
			}
		case "revoke":
			_, had := d.To(w.did(ms[e.a]))
			err = d.Revoke(w.did(ms[e.a]))
			if (err == nil) != had {
				t.Fatalf("revoke %s: %v, had a delegation: %v", ms[e.a], err, had)
			}
		}
		checkTally(t, p, d)
	}
}

// reaches reports, by walking the list with a visited set, whether from's
// delegation chain reaches to.
func reaches(d *Delegations, from, to identity.DID) bool {
	edges := map[identity.DID]identity.DID{}
	for _, e := range d.List() {
		edges[e.From] = e.To
	}
	seen := map[identity.DID]bool{}
	for cur := from; !seen[cur]; {
		seen[cur] = true
		next, ok := edges[cur]
		if !ok {
			return false
		}
		if next == to {
			return true
		}
		cur = next
	}
	return false
}

// recount is a brute-force tally: for every member, scan all ballots for
// its highest revision, else walk its chain (with a visited set) to the
// first member who has one.
func recount(p *Proposal, d *Delegations) Tally {
	edges := map[identity.DID]identity.DID{}
	for _, e := range d.List() {
		edges[e.From] = e.To
	}
	choice := func(m identity.DID) (Choice, bool) {
		var best *Ballot
		for i := range p.Ballots {
			if b := &p.Ballots[i]; b.Vote.Voter == m && (best == nil || b.Vote.Revision > best.Vote.Revision) {
				best = b
			}
		}
		if best == nil {
			return "", false
		}
		return best.Vote.Choice, true
	}
	t := Tally{Eligible: len(p.Electorate)}
	for _, m := range p.Electorate {
		seen := map[identity.DID]bool{}
		for cur := m; !seen[cur]; {
			seen[cur] = true
			if c, ok := choice(cur); ok {
				t.Counted = append(t.Counted, Counted{m, c, cur})
				switch c {
				case For:
					t.For++
				case Against:
					t.Against++
				default:
					t.Abstain++
				}
				break
			}
			next, ok := edges[cur]
			if !ok {
				break
			}
			cur = next
		}
	}
	return t
}

func checkTally(t *testing.T, p *Proposal, d *Delegations) {
	t.Helper()
	got := p.Tally(d)
	if want := recount(p, d); !reflect.DeepEqual(got, want) {
		t.Fatalf("tally\n got %+v\nwant %+v (brute-force recount)", got, want)
	}
	seen := map[identity.DID]bool{}
	for _, c := range got.Counted {
		if seen[c.Member] {
			t.Fatalf("%s counted twice", c.Member.Short())
		}
		if _, ok := slices.BinarySearch(p.Electorate, c.Member); !ok {
			t.Fatalf("%s counted, not in the electorate", c.Member.Short())
		}
		seen[c.Member] = true
	}
	if got.Participants() != len(got.Counted) || len(got.Counted) > got.Eligible {
		t.Fatalf("tally %+v: participants %d, counted %d", got, got.Participants(), len(got.Counted))
	}
}

// TestPropertyTally: over random histories of votes, changed and replayed
// votes, delegations and revocations, the tally equals a brute-force
// recount after every event, no member counts twice, and refusals are
// exactly the cycles and stale revisions.
func TestPropertyTally(t *testing.T) {
	ms := names(8)
	w := newWorld(t, ms, map[string][]string{ms[0]: {RoleProposer}})
	for seed := range uint64(150) {
		r := rand.New(rand.NewPCG(seed, 17))
		p := w.open(w.economic("p-1", ms[0]))
		d := &Delegations{}
		run(t, w, ms, p, d, randomHistory(r, len(ms), 60, voting(p)))
		o := p.Advance(d, p.VotingEnds)
		if o == nil || !reflect.DeepEqual(o.Tally, recount(p, d)) {
			t.Fatalf("seed %d: outcome tally %+v, recount %+v", seed, o, recount(p, d))
		}
	}
}

// TestPropertyOrderIndependent: the tally and outcome depend on the final
// votes and delegations only, not on the order they came in.
func TestPropertyOrderIndependent(t *testing.T) {
	ms := names(8)
	w := newWorld(t, ms, map[string][]string{ms[0]: {RoleProposer}})
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 29))
		p := w.open(w.economic("p-1", ms[0]))
		d := &Delegations{}
		run(t, w, ms, p, d, randomHistory(r, len(ms), 40, voting(p)))
		want := p.Tally(d)
		wantOutcome := p.Advance(d, p.VotingEnds)

		// The final votes, one per voter, cast in another order; the final
		// delegations made in another order.
		var final []Vote
		for _, m := range p.Electorate {
			if b, ok := p.latest(m); ok {
				final = append(final, b.Vote)
			}
		}
		list := d.List()
		for range 3 {
			r.Shuffle(len(final), func(i, j int) { final[i], final[j] = final[j], final[i] })
			r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
			q := w.open(w.economic("p-1", ms[0]))
			for _, v := range final {
				if _, err := q.Cast(v, w.members, voting(q)); err != nil {
					t.Fatal(err)
				}
			}
			d2 := &Delegations{}
			for _, e := range list {
				if err := d2.Delegate(e.From, e.To, w.members); err != nil {
					t.Fatalf("seed %d: a subset of an acyclic set refused: %v", seed, err)
				}
			}
			if got := q.Tally(d2); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: reordered tally %+v, want %+v", seed, got, want)
			}
			o := q.Advance(d2, q.VotingEnds)
			if o.Result != wantOutcome.Result || !reflect.DeepEqual(o.Effects, wantOutcome.Effects) {
				t.Fatalf("seed %d: reordered outcome %+v, want %+v", seed, o, wantOutcome)
			}
		}
	}
}

// TestPropertyReplay: replaying the same history on a fresh proposal gives
// the identical record and outcome (the state machine is deterministic).
func TestPropertyReplay(t *testing.T) {
	ms := names(6)
	w := newWorld(t, ms, map[string][]string{ms[0]: {RoleProposer}})
	for seed := range uint64(50) {
		evs := randomHistory(rand.New(rand.NewPCG(seed, 5)), len(ms), 40, t0.Add(3*day))
		var recs []*Proposal
		for range 2 {
			p := w.open(w.economic("p-1", ms[0]))
			d := &Delegations{}
			run(t, w, ms, p, d, evs)
			p.Advance(d, p.VotingEnds)
			recs = append(recs, p)
		}
		if !reflect.DeepEqual(recs[0], recs[1]) {
			t.Fatalf("seed %d: replay differs", seed)
		}
	}
}
