package governance

import (
	"maps"
	"slices"

	"github.com/icn-coop/icn/identity"
)

// Delegation says that From's vote goes to To on every proposal From does
// not vote on directly.
type Delegation struct{ From, To identity.DID }

// Delegations are a co-op's standing delegations. They are transitive: if
// A delegates to B and B to C, and neither A nor B votes, C's vote counts
// for all three; the first direct vote along the chain is the one that
// counts. A cycle is refused when the delegation that would close it is
// made, so every chain ends. The zero value holds none.
type Delegations struct {
	to map[identity.DID]identity.DID
}

// NewDelegations restores delegations from their list (as stored),
// refusing what Delegate would have refused: self-delegation, two
// delegations from one member, and cycles.
func NewDelegations(list []Delegation) (*Delegations, error) {
	d := &Delegations{to: make(map[identity.DID]identity.DID, len(list))}
	for _, e := range list {
		if _, dup := d.to[e.From]; dup {
			return nil, errorf(ErrDuplicateDelegation, "%s delegates twice", e.From.Short())
		}
		if err := d.acyclic(e.From, e.To); err != nil {
			return nil, err
		}
		d.to[e.From] = e.To
	}
	return d, nil
}

// Delegate makes or replaces from's delegation to to. Both must be voting
// members; the delegation must not close a cycle.
func (d *Delegations) Delegate(from, to identity.DID, r Roster) error {
	for _, m := range []identity.DID{from, to} {
		if err := requireRole(r, m, RoleMember); err != nil {
			return err
		}
	}
	if err := d.acyclic(from, to); err != nil {
		return err
	}
	if d.to == nil {
		d.to = map[identity.DID]identity.DID{}
	}
	d.to[from] = to
	return nil
}

// acyclic reports ErrSelfDelegation or ErrDelegationCycle if from → to
// would close a cycle. An existing edge from `from` is being replaced, so
// the walk ignores it (it cannot lie on to's chain without a cycle anyway).
func (d *Delegations) acyclic(from, to identity.DID) error {
	if from == to {
		return errorf(ErrSelfDelegation, "%s", from.Short())
	}
	for cur, n := to, 0; n <= len(d.to); n++ {
		next, ok := d.to[cur]
		if !ok {
			return nil
		}
		if next == from {
			return errorf(ErrDelegationCycle, "%s already delegates, through %s, to %s", to.Short(), cur.Short(), from.Short())
		}
		cur = next
	}
	return nil // unreachable while the graph is acyclic
}

// Revoke removes from's delegation.
func (d *Delegations) Revoke(from identity.DID) error {
	if _, ok := d.to[from]; !ok {
		return errorf(ErrNoDelegation, "%s has not delegated", from.Short())
	}
	delete(d.to, from)
	return nil
}

// Drop removes every delegation from or to member (when it is removed):
// those who had delegated to it hold their own vote again.
func (d *Delegations) Drop(member identity.DID) {
	delete(d.to, member)
	maps.DeleteFunc(d.to, func(_, to identity.DID) bool { return to == member })
}

// To returns from's delegate.
func (d *Delegations) To(from identity.DID) (identity.DID, bool) {
	to, ok := d.to[from]
	return to, ok
}

// List returns the delegations sorted by From (for storage).
func (d *Delegations) List() []Delegation {
	out := make([]Delegation, 0, len(d.to))
	for _, from := range slices.Sorted(maps.Keys(d.to)) {
		out = append(out, Delegation{from, d.to[from]})
	}
	return out
}

// Len is the number of delegations.
func (d *Delegations) Len() int { return len(d.to) }
