package governance_test

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// A proposer raises the default credit limit; two members vote, a third
// delegates; the deadline closes it and the effect comes back to apply.
func Example() {
	k := func(name string) *identity.Key {
		seed := sha256.Sum256([]byte(name))
		key, _ := identity.KeyFromSeed(seed[:])
		return key
	}
	pat, ann, bob := k("pat"), k("ann"), k("bob")
	members := governance.Members{
		pat.DID(): {governance.RoleMember, governance.RoleProposer},
		ann.DID(): {governance.RoleMember},
		bob.DID(): {governance.RoleMember},
	}
	limit, _ := money.Parse("50", money.Hours)
	opened := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	p, err := governance.Open(governance.Draft{ID: "p-1", Coop: "riverside", Kind: governance.KindEconomic,
		Title: "New members start at 50 hours", Proposer: pat.DID(),
		Change: governance.Change{DefaultCreditLimit: &limit}}, members, governance.DefaultPolicy(), opened)
	if err != nil {
		panic(err)
	}
	var d governance.Delegations
	if err := d.Delegate(bob.DID(), ann.DID(), members); err != nil {
		panic(err)
	}
	for _, voter := range []*identity.Key{pat, ann} {
		v, err := governance.SignVote(voter, governance.VoteBody{Coop: "riverside", Proposal: "p-1",
			Voter: string(voter.DID()), Choice: "for", Revision: 1, CreatedAt: "2026-03-05T10:00:00Z"})
		if err != nil {
			panic(err)
		}
		if _, err := p.Cast(v, members, p.VotingStarts); err != nil {
			panic(err)
		}
	}
	o := p.Advance(&d, p.VotingEnds)
	fmt.Println(o.Status, o.Tally.For, "for of", o.Tally.Eligible)
	for _, e := range o.Effects {
		if s, ok := e.(governance.SetDefaultCreditLimit); ok {
			fmt.Println("default credit limit:", s.Limit)
		}
	}
	// Output:
	// passed 3 for of 3
	// default credit limit: 50.00
}
