package clearing_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

var (
	hours = money.Hours
	kwh   = money.Currency{Code: "kwh", Scale: 3}
)

const (
	A     identity.DID = "did:icn:alpha"
	B     identity.DID = "did:icn:beta"
	C     identity.DID = "did:icn:gamma"
	Ghost identity.DID = "did:icn:ghost"
)

type capKey struct {
	did identity.DID
	cur string
}

// fakeEnv is a registry, trust graph and credit policy held in maps.
type fakeEnv struct {
	known, active map[identity.DID]bool
	trust         map[[2]identity.DID]uint32 // missing edge = 0
	min           uint32
	caps          map[capKey]money.Amount
}

// newEnv: A, B, C known and active, full trust both ways, min trust 0.1,
// caps 1000 minor units of hours and kwh each.
func newEnv() *fakeEnv {
	e := &fakeEnv{
		known: map[identity.DID]bool{}, active: map[identity.DID]bool{},
		trust: map[[2]identity.DID]uint32{}, min: 100_000, caps: map[capKey]money.Amount{},
	}
	for _, d := range []identity.DID{A, B, C} {
		e.known[d], e.active[d] = true, true
		for _, o := range []identity.DID{A, B, C} {
			e.trust[[2]identity.DID{d, o}] = 1_000_000
		}
		e.caps[capKey{d, hours.Code}] = money.FromUnits(1000, hours)
		e.caps[capKey{d, kwh.Code}] = money.FromUnits(1000, kwh)
	}
	return e
}

func (e *fakeEnv) Participant(d identity.DID) (bool, bool) { return e.known[d], e.active[d] }
func (e *fakeEnv) Trust(from, to identity.DID) uint32      { return e.trust[[2]identity.DID{from, to}] }
func (e *fakeEnv) MinTrust() uint32                        { return e.min }
func (e *fakeEnv) DebitCap(d identity.DID, cur string) (money.Amount, bool) {
	a, ok := e.caps[capKey{d, cur}]
	return a, ok
}

func h(units int64) money.Amount { return money.FromUnits(units, hours) }

func hash(s string) (x [32]byte) {
	copy(x[:], s)
	return x
}

func req(id string, from, to identity.DID, amount money.Amount, expires int64) clearing.PrepareRequest {
	return clearing.PrepareRequest{ID: id, From: from, To: to, Amount: amount, IntentHash: hash(id), ExpiresAt: expires}
}

// must(t)(b.Commit(...)) fails the test on an error and returns the outcome.
func must(t testing.TB) func(clearing.Outcome, error) clearing.Outcome {
	return func(o clearing.Outcome, err error) clearing.Outcome {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
}

// recStore is a Records that checks, on every Put, that a decided record is
// never rewritten and counts commits per id.
type recStore struct {
	m         map[string]clearing.Transfer
	commits   map[string]int
	puts      []string // ids, in Put order
	violation error
	failAfter int // Put fails when >= 0 and len(puts) == failAfter
	failGet   bool
}

func newRecStore() *recStore {
	return &recStore{m: map[string]clearing.Transfer{}, commits: map[string]int{}, failAfter: -1}
}

var errDisk = errors.New("disk on fire")

func (r *recStore) Get(id string) (clearing.Transfer, bool, error) {
	if r.failGet {
		return clearing.Transfer{}, false, errDisk
	}
	t, ok := r.m[id]
	return t, ok, nil
}

func (r *recStore) Put(t clearing.Transfer) error {
	if r.failAfter >= 0 && len(r.puts) == r.failAfter {
		return errDisk
	}
	if old, ok := r.m[t.ID]; ok && old.State.Decided() && r.violation == nil {
		r.violation = fmt.Errorf("decided record %q (%s) rewritten as %s", t.ID, old.State, t.State)
	}
	if t.State == clearing.StateCommitted {
		r.commits[t.ID]++
		if r.commits[t.ID] > 1 && r.violation == nil {
			r.violation = fmt.Errorf("transfer %q committed %d times", t.ID, r.commits[t.ID])
		}
	}
	r.m[t.ID] = t
	r.puts = append(r.puts, t.ID)
	return nil
}

func (r *recStore) clone() *recStore {
	c := newRecStore()
	c.m, c.commits = maps.Clone(r.m), maps.Clone(r.commits)
	return c
}
