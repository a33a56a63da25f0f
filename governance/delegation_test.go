package governance

import (
	"slices"
	"testing"
)

func TestDelegate(t *testing.T) {
	w := newWorld(t, []string{"a", "b", "c", "d"}, nil)
	w.add("treasurer", RoleTreasurer) // a member without a vote
	type edge struct{ from, to string }
	for _, tc := range []struct {
		name  string
		prior []edge
		from  string
		to    string
		want  error
	}{
		{"first", nil, "a", "b", nil},
		{"replace", []edge{{"a", "b"}}, "a", "c", nil},
		{"same again", []edge{{"a", "b"}}, "a", "b", nil},
		{"self", nil, "a", "a", ErrSelfDelegation},
		{"two-cycle", []edge{{"b", "a"}}, "a", "b", ErrDelegationCycle},
		{"three-cycle", []edge{{"b", "c"}, {"c", "a"}}, "a", "b", ErrDelegationCycle},
		{"replace into a cycle", []edge{{"a", "b"}, {"c", "a"}}, "a", "c", ErrDelegationCycle},
		{"chain without cycle", []edge{{"b", "c"}, {"c", "d"}}, "a", "b", nil},
		{"to a stranger", nil, "a", "stranger", ErrNotMember},
		{"from a stranger", nil, "stranger", "a", ErrNotMember},
		{"to a member without a vote", nil, "a", "treasurer", ErrNotAuthorised},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Delegations
			for _, e := range tc.prior {
				wantErr(t, d.Delegate(w.did(e.from), w.did(e.to), w.members), nil)
			}
			before := d.List()
			err := d.Delegate(w.did(tc.from), w.did(tc.to), w.members)
			wantErr(t, err, tc.want)
			if err != nil {
				if !slices.Equal(before, d.List()) {
					t.Fatalf("refused delegation changed %v → %v", before, d.List())
				}
				return
			}
			if to, ok := d.To(w.did(tc.from)); !ok || to != w.did(tc.to) {
				t.Fatalf("To = %v, %v", to, ok)
			}
		})
	}
}

func TestRevokeAndDrop(t *testing.T) {
	w := newWorld(t, []string{"a", "b", "c", "d"}, nil)
	var d Delegations
	wantErr(t, d.Revoke(w.did("a")), ErrNoDelegation)
	for _, e := range [][2]string{{"a", "b"}, {"c", "b"}, {"b", "d"}} {
		wantErr(t, d.Delegate(w.did(e[0]), w.did(e[1]), w.members), nil)
	}
	wantErr(t, d.Revoke(w.did("a")), nil)
	if _, ok := d.To(w.did("a")); ok || d.Len() != 2 {
		t.Fatalf("after revoke: %v", d.List())
	}
	wantErr(t, d.Revoke(w.did("a")), ErrNoDelegation)
	d.Drop(w.did("b"))
	if d.Len() != 0 {
		t.Fatalf("after dropping b (c → b and b → d): %v", d.List())
	}
}

func TestNewDelegations(t *testing.T) {
	w := newWorld(t, []string{"a", "b", "c"}, nil)
	a, b, c := w.did("a"), w.did("b"), w.did("c")
	for _, tc := range []struct {
		name string
		list []Delegation
		want error
	}{
		{"empty", nil, nil},
		{"chain", []Delegation{{a, b}, {b, c}}, nil},
		{"self", []Delegation{{a, a}}, ErrSelfDelegation},
		{"twice from one", []Delegation{{a, b}, {a, c}}, ErrDuplicateDelegation},
		{"cycle", []Delegation{{a, b}, {b, c}, {c, a}}, ErrDelegationCycle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDelegations(tc.list)
			wantErr(t, err, tc.want)
			if err == nil {
				sorted := slices.Clone(tc.list)
				slices.SortFunc(sorted, func(x, y Delegation) int { return cmpDID(x.From, y.From) })
				if got := d.List(); !slices.Equal(got, sorted) && len(sorted) > 0 {
					t.Fatalf("List = %v, want %v", got, sorted)
				}
			}
		})
	}
}
