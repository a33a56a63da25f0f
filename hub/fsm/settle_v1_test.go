package fsm

import (
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/settlement"
)

// TestPeriodClosedBeforeModesRebuildsV1: a period recorded by a hub before
// settlement modes (no report version, no rules, instructions without a
// mode) still gives the version 1 report, byte for byte what those hubs
// built and signed, and its recorded instructions still match it.
func TestPeriodClosedBeforeModesRebuildsV1(t *testing.T) {
	x := newFixture(t, "", 0)
	a, b := x.coop("a"), x.coop("b")
	for _, k := range []*identity.Key{a, b} {
		x.trust(x.fed, k.DID(), "1")
		x.trust(k, x.fed.DID(), "1")
		x.ok(capCmd(k.DID(), "hours", 1_000_000))
	}
	x.prepared(cmdPrepare("t1", a.DID(), b.DID(), 700, far))
	x.ok(cmdCommit("t1"))
	x.ok(periodCmd(2))
	// Rewrite the records as an older hub wrote them.
	err := x.f.db.Update(func(tx *bolt.Tx) error {
		bs := &boltStore{f: x.f, tx: tx}
		rec, _, err := bs.GetSettlement(1)
		if err != nil {
			return err
		}
		rec.ReportVersion, rec.Settlement = 0, nil
		for i := uint32(0); i < rec.GetInstructions(); i++ {
			in, _, err := bs.GetInstruction(1, i)
			if err != nil {
				return err
			}
			in.Mode = ""
			if err := bs.PutInstruction(in); err != nil {
				return err
			}
		}
		return bs.PutSettlement(rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	in, ok, err := x.f.ReportInput(1)
	if err != nil || !ok {
		t.Fatalf("report input: %v %v", ok, err)
	}
	rep, err := settlement.BuildReport(in)
	if err != nil {
		t.Fatalf("the recorded instructions no longer match: %v", err)
	}
	in.Version, in.Recorded = settlement.ReportVersion1, nil
	want, err := settlement.BuildReport(in)
	if err != nil {
		t.Fatal(err)
	}
	canonical := string(rep.Canonical())
	if rep.Version != settlement.ReportVersion1 || canonical != string(want.Canonical()) ||
		strings.Contains(canonical, `"mode"`) || strings.Contains(canonical, `"settlement"`) {
		t.Fatalf("old period's report:\n%s\nwant\n%s", canonical, want.Canonical())
	}
}
