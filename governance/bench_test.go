package governance

import (
	"fmt"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// BenchmarkTally: a co-op of 10,000 members, half voting directly, the
// other half delegating in chains of ten (the memo keeps it linear).
func BenchmarkTally(b *testing.B) {
	const n = 10000
	ms := make([]identity.DID, n)
	for i := range ms {
		ms[i] = identity.DID(fmt.Sprintf("did:icn:m%05d", i))
	}
	p := &Proposal{Electorate: ms}
	d := &Delegations{to: map[identity.DID]identity.DID{}}
	for i, m := range ms {
		if i%2 == 0 {
			p.Ballots = append(p.Ballots, Ballot{Vote: Vote{Voter: m, Choice: For, Revision: 1}})
			continue
		}
		if i%20 == 19 {
			d.to[m] = ms[i-1]
		} else {
			d.to[m] = ms[i+2]
		}
	}
	b.ReportAllocs()
	var t Tally
	for b.Loop() {
		t = p.Tally(d)
	}
	if t.Participants() != n {
		b.Fatalf("counted %d of %d", t.Participants(), n)
	}
}
