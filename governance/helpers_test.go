package governance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

const coop = "coop-a"

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// key is the deterministic test key named name.
func key(t testing.TB, name string) *identity.Key {
	t.Helper()
	seed := sha256.Sum256([]byte("governance test key " + name))
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// world is a co-op for tests: named members with keys and roles.
type world struct {
	t       testing.TB
	keys    map[string]*identity.Key
	members Members
}

// newWorld makes members named by names, each a voting member; roles adds
// more roles by name.
func newWorld(t testing.TB, names []string, roles map[string][]string) *world {
	w := &world{t: t, keys: map[string]*identity.Key{}, members: Members{}}
	for _, n := range names {
		w.add(n, append([]string{RoleMember}, roles[n]...)...)
	}
	return w
}

func (w *world) add(name string, roles ...string) {
	k := key(w.t, name)
	w.keys[name] = k
	w.members[k.DID()] = roles
}

func (w *world) did(name string) identity.DID {
	if k, ok := w.keys[name]; ok {
		return k.DID()
	}
	return key(w.t, name).DID()
}

// vote signs a vote by name on p.
func (w *world) vote(p *Proposal, name string, c Choice, rev uint32) Vote {
	w.t.Helper()
	k, ok := w.keys[name]
	if !ok {
		k = key(w.t, name)
	}
	v, err := SignVote(k, VoteBody{Coop: p.Coop, Proposal: p.ID, Voter: string(k.DID()), Choice: string(c),
		Revision: rev, CreatedAt: t0.Format(time.RFC3339)})
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// economic is a draft raising the default credit limit, by name.
func (w *world) economic(id, name string) Draft {
	lim := hours(w.t, "50.00")
	return Draft{ID: id, Coop: coop, Kind: KindEconomic, Title: "Raise the default credit limit",
		Body: "New members start at 50 hours.\n", Proposer: w.did(name), Change: Change{DefaultCreditLimit: &lim}}
}

// open opens d at t0 under the default policy.
func (w *world) open(d Draft) *Proposal {
	w.t.Helper()
	p, err := Open(d, w.members, DefaultPolicy(), t0)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// voting is the first instant of p's voting period.
func voting(p *Proposal) time.Time { return p.VotingStarts }

func hours(t testing.TB, s string) money.Amount {
	t.Helper()
	a, err := money.Parse(s, money.Hours)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantErr checks err against want (nil: no error).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want %v", err, want)
	}
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m%02d", i)
	}
	return out
}

func cmpDID(a, b identity.DID) int { return strings.Compare(string(a), string(b)) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
