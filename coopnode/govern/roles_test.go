package govern

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

// A membership proposal changes roles through membership.ChangeRoleTx, the
// function a moderator's SetRole uses: the same credential rules and the
// same RolesChanged event, with the proposal as its author.
func TestMembershipProposalChangesRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat := e.add("pat", "proposer")
	ann := e.add("ann")
	e.add("bob")
	p, err := e.g.Open(ctx, Draft{ID: "p-roles", Kind: governance.KindMembership, Title: "Ann moderates", Proposer: pat,
		Change: Change{Roles: []RoleChange{
			{Member: ann, Role: "moderator", Grant: true},
			{Member: pat, Role: "proposer", Grant: false},
			{Member: ann, Role: "treasurer", Grant: false}, // not held: unchanged
		}}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(p.VotingStarts)
	for _, n := range []string{"ann", "bob", "pat"} {
		if err := e.vote(n, "p-roles", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(p.VotingEnds)
	if err := e.g.Advance(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := e.g.Proposal("p-roles")
	if err != nil || v.Status != "passed" || v.Outcome == nil || len(v.Outcome.Effects) != 3 {
		t.Fatalf("%+v %v", v, err)
	}
	if fx := v.Outcome.Effects; fx[0].Skipped != "" || fx[1].Skipped != "" || fx[2].Skipped != "unchanged" {
		t.Fatalf("effects %+v", fx)
	}
	if m, _ := e.m.Member(ann); !slices.Equal(m.Roles, []string{"member", "moderator"}) {
		t.Fatalf("ann %v", m.Roles)
	}
	if m, _ := e.m.Member(pat); !slices.Equal(m.Roles, []string{"member"}) {
		t.Fatalf("pat %v", m.Roles)
	}
	evs, err := e.l.ReadFeed(string(ann), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, ev := range evs {
		if ev.Type != membership.EventRolesChanged {
			continue
		}
		var pl struct {
			Role  string       `json:"role"`
			Grant bool         `json:"grant"`
			By    identity.DID `json:"by"`
		}
		if err := json.Unmarshal(ev.Payload, &pl); err != nil {
			t.Fatal(err)
		}
		if pl.By != "governance:p-roles" {
			t.Fatalf("by %q", pl.By)
		}
		changes = append(changes, pl.Role)
	}
	if !slices.Equal(changes, []string{"moderator"}) {
		t.Fatalf("RolesChanged in ann's feed: %v", changes)
	}
}
