package fsm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// scanCoopNamed is CoopNamed's reference: a scan of every participant.
func scanCoopNamed(f *FSM, name string) (identity.DID, bool) {
	var best identity.DID
	for _, p := range f.Participants() {
		d := identity.DID(p.GetDid())
		if p.GetName() == name && p.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_COOP && (best == "" || d < best) {
			best = d
		}
	}
	return best, best != ""
}

// TestCoopNamed: the name index answers as a scan of the participants
// would, after registrations, renames, status changes and a restore.
func TestCoopNamed(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([]*identity.Key, 12)
	for i := range keys {
		keys[i] = genKey(t, r)
	}
	f := newTestFSM(t)
	idx := uint64(0)
	apply := func(cmds ...*icnv1.Command) {
		t.Helper()
		idx++
		f.ApplyBatch([]*raft.Log{logEntry(t, idx, cmds...)})
	}
	names := []string{"coop-a", "coop-b", "coop-c", "region"}
	check := func(f *FSM, when string) {
		t.Helper()
		for _, n := range append(names, "nobody") {
			got, ok := f.CoopNamed(n)
			want, wok := scanCoopNamed(f, n)
			if got != want || ok != wok {
				t.Fatalf("%s: CoopNamed(%q) = %s %v, a scan gives %s %v", when, n, got, ok, want, wok)
			}
		}
	}
	fed := genKey(t, r)
	apply(&icnv1.Command{Cmd: &icnv1.Command_InitFederation{InitFederation: &icnv1.InitFederation{
		FederationDid: string(fed.DID()), Name: "f", MinTrust: "0.1", MaxHops: 3,
		Currencies: []*icnv1.CurrencySpec{{Code: "hours", Scale: 2}}}}})
	check(f, "empty")
	for i, k := range keys {
		kind := icnv1.ParticipantKind_PARTICIPANT_KIND_COOP
		if i%5 == 4 {
			kind = icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION // never found by name
		}
		apply(&icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
			Did: string(k.DID()), Name: names[r.IntN(len(names))], Kind: kind}}})
		check(f, fmt.Sprintf("after registering %d", i))
	}
	for i := range 30 {
		k := keys[r.IntN(len(keys))]
		apply(&icnv1.Command{Cmd: &icnv1.Command_UpdateParticipant{UpdateParticipant: &icnv1.UpdateParticipant{
			Did: string(k.DID()), Name: names[r.IntN(len(names))]}}})
		check(f, fmt.Sprintf("after rename %d", i))
	}
	fresh := newTestFSM(t)
	fresh.CoopNamed("coop-a") // an index built before the restore must not survive it
	if err := restore(fresh, snapshotBytes(t, f)); err != nil {
		t.Fatal(err)
	}
	check(fresh, "after a restore")
}

// BenchmarkCoopNamed resolves a name among 10,000 co-ops (the scale
// DESIGN.md asks a hub cluster to hold), as every prepare does.
func BenchmarkCoopNamed(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	f := newTestFSM(b)
	fed := genKey(b, r)
	cmds := []*icnv1.Command{{Cmd: &icnv1.Command_InitFederation{InitFederation: &icnv1.InitFederation{
		FederationDid: string(fed.DID()), Name: "f", MinTrust: "0.1", MaxHops: 3,
		Currencies: []*icnv1.CurrencySpec{{Code: "hours", Scale: 2}}}}}}
	for i := range 10000 {
		cmds = append(cmds, &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
			Did: string(genKey(b, r).DID()), Name: fmt.Sprintf("coop-%d", i), Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP}}})
	}
	f.ApplyBatch([]*raft.Log{logEntry(b, 1, cmds...)})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := f.CoopNamed(fmt.Sprintf("coop-%d", i%10000)); !ok {
			b.Fatal("not found")
		}
	}
}
