package ui_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/hub/ui"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

var (
	hours = money.Hours
	kwh   = money.Currency{Code: "kwh", Scale: 3}
	curs  = money.Currencies{hours.Code: hours, kwh.Code: kwh}
)

const hostileName = `<script>document.title="pwned"</script>`

// key returns a deterministic Ed25519 key.
func key(t testing.TB, n byte) *identity.Key {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = n ^ byte(i*7)
	}
	k, err := identity.KeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testSource holds real reports, built by settlement.BuildReport from
// generated transfers and signed by real hub node keys.
type testSource struct {
	views   map[uint64]settlement.View
	periods []settlement.PeriodSummary
	nodes   []*identity.Key
}

// errDisk is an internal failure of the source for period 99.
var errDisk = errors.New("disk on fire at /var/lib/icn")

func (s *testSource) Periods(ctx context.Context) ([]settlement.PeriodSummary, error) {
	return s.periods, ctx.Err()
}

func (s *testSource) View(ctx context.Context, period uint64) (settlement.View, error) {
	if err := ctx.Err(); err != nil {
		return settlement.View{}, err
	}
	switch period {
	case 97:
		return settlement.View{}, fmt.Errorf("period 97: %w: PermissionDenied", ui.ErrForbidden)
	case 98:
		return settlement.View{}, fmt.Errorf("period 98: %w: no hub node answered", ui.ErrUnavailable)
	case 99:
		return settlement.View{}, errDisk
	}
	v, ok := s.views[period]
	if !ok {
		return settlement.View{}, fmt.Errorf("period %d: %w", period, ui.ErrNotFound)
	}
	return v, nil
}

const (
	day      = int64(24 * time.Hour)
	epoch    = int64(1_760_000_000_000_000_000)
	coops    = 6
	transfer = 60
)

// clock is the tests' fixed time: two days after period 1 closed.
func clock() time.Time { return time.Unix(0, epoch+3*day).UTC() }

// newSource builds:
//   - period 1 (final): random transfers among six co-ops in hours and kwh,
//     signed validly by hub nodes 0 and 1 and invalidly by node 2 (quorum 2);
//     one co-op has a hostile name; statuses mixed;
//   - period 2 (closed): no transfers, signed by node 0 only;
//   - period 3 (open): listed only.
func newSource(t testing.TB) *testSource {
	t.Helper()
	s := &testSource{views: map[uint64]settlement.View{}, nodes: []*identity.Key{key(t, 101), key(t, 102), key(t, 103)}}
	nodes := []identity.DID{s.nodes[0].DID(), s.nodes[1].DID(), s.nodes[2].DID()}
	fed := key(t, 200).DID()
	ps := make([]identity.DID, coops)
	names := map[identity.DID]string{fed: "Valley Federation"}
	for i := range ps {
		ps[i] = key(t, byte(i+1)).DID()
		names[ps[i]] = []string{"Riverside Bakery", "Hill Farm", hostileName, "Mill & Co", "Solar Commons"}[min(i, 4)]
	}
	delete(names, ps[5]) // one co-op without a registered name

	r := rand.New(rand.NewPCG(7, 11))
	ts := make([]clearing.Transfer, transfer)
	for i := range ts {
		f := r.IntN(coops)
		to := (f + 1 + r.IntN(coops-1)) % coops
		a := money.FromUnits(1+r.Int64N(50_000), hours)
		if i%4 == 3 {
			a = money.FromUnits(1+r.Int64N(9_000), kwh)
		}
		ts[i] = clearing.Transfer{ID: fmt.Sprintf("tx-%03d", i), From: ps[f], To: ps[to], Amount: a,
			State: clearing.StateCommitted, Period: 1, PreparedAt: epoch + int64(i), ExpiresAt: epoch + day,
			DecidedAt: epoch + int64(i)*1000}
	}
	r1, err := settlement.BuildReport(settlement.ReportInput{Header: settlement.Header{Federation: fed, Period: 1, OpenedAt: epoch, ClosedAt: epoch + day},
		Transfers: ts, Currencies: curs})
	if err != nil {
		t.Fatal(err)
	}
	// Node 2 signed another report: a real signature, invalid for this one.
	wrong := r1
	wrong.Transfers++
	st := make([]settlement.InstructionStatus, len(r1.Instructions))
	st[0] = settlement.InstructionStatus{Paid: true, PaidAt: epoch + day + 3600e9, Method: settlement.MethodFiat, Reference: "SEPA 2026-001",
		Confirmed: true, ConfirmedAt: epoch + day + 7200e9}
	if len(st) > 1 {
		st[1] = settlement.InstructionStatus{Paid: true, PaidAt: epoch + day + 3600e9, Method: settlement.MethodHoursTransfer}
	}
	for i := 2; i < len(st); i++ {
		st[i].Overdue = true
	}
	s.views[1] = settlement.View{Report: r1, State: settlement.StateFinal, HubNodes: nodes, Quorum: 2,
		Signatures: []settlement.Signature{r1.Sign(s.nodes[0]), wrong.Sign(s.nodes[2]), r1.Sign(s.nodes[1])},
		Statuses:   st, Deadline: epoch + 2*day, Names: names}

	r2, err := settlement.BuildReport(settlement.ReportInput{Header: settlement.Header{Federation: fed, Period: 2, OpenedAt: epoch + day, ClosedAt: epoch + 2*day},
		Currencies: curs})
	if err != nil {
		t.Fatal(err)
	}
	s.views[2] = settlement.View{Report: r2, State: settlement.StateClosed, HubNodes: nodes, Quorum: 2,
		Signatures: []settlement.Signature{r2.Sign(s.nodes[0])}, Names: names}

	s.periods = []settlement.PeriodSummary{s.views[1].Summary(), s.views[2].Summary(),
		{Period: 3, State: settlement.StateOpen, OpenedAt: epoch + 2*day, Transfers: 4}}
	return s
}

var waitFor = testutil.WaitFor
