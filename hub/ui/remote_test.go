package ui_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/icn-coop/icn/hub/ui"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// fakeHub answers ListPeriods and GetPeriod as a hub's control plane would,
// from a testSource, or with err.
type fakeHub struct {
	icnv1.SettlementServiceClient // nil: other methods are not called
	src                           *testSource
	err                           error
	detail                        func(*icnv1.PeriodDetail) // alters GetPeriod's answer
}

func (f fakeHub) ListPeriods(context.Context, *icnv1.ListPeriodsRequest, ...grpc.CallOption) (*icnv1.ListPeriodsResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := &icnv1.ListPeriodsResponse{}
	for _, p := range f.src.periods {
		out.Periods = append(out.Periods, &icnv1.PeriodInfo{Number: p.Period, State: p.State, OpenedAtUnixNano: p.OpenedAt,
			ClosedAtUnixNano: p.ClosedAt, Transfers: uint32(p.Transfers), Instructions: uint32(p.Instructions)})
	}
	return out, nil
}

func (f fakeHub) GetPeriod(_ context.Context, r *icnv1.GetPeriodRequest, _ ...grpc.CallOption) (*icnv1.PeriodDetail, error) {
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.src.views[r.GetPeriod()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no closed period %d", r.GetPeriod())
	}
	d := &icnv1.PeriodDetail{Info: &icnv1.PeriodInfo{Number: v.Report.Period, State: v.State, DeadlineUnixNano: v.Deadline},
		Report: v.Report.Canonical(), Quorum: uint32(v.Quorum), Names: map[string]string{}}
	for _, s := range v.Signatures {
		d.Signatures = append(d.Signatures, &icnv1.ReportSignature{Signer: string(s.Signer), Signature: s.Sig})
	}
	for _, n := range v.HubNodes {
		d.HubNodes = append(d.HubNodes, string(n))
	}
	for k, n := range v.Names {
		d.Names[string(k)] = n
	}
	for i, in := range v.Report.Instructions {
		var s settlement.InstructionStatus
		if i < len(v.Statuses) {
			s = v.Statuses[i]
		}
		d.Instructions = append(d.Instructions, &icnv1.SettlementInstruction{Period: v.Report.Period, Index: uint32(i), Currency: in.Currency,
			From: string(in.From), To: string(in.To), AmountUnits: in.Amount, Paid: s.Paid, PaidAtUnixNano: s.PaidAt, Method: s.Method,
			Reference: s.Reference, Confirmed: s.Confirmed, ConfirmedAtUnixNano: s.ConfirmedAt, Overdue: s.Overdue})
	}
	if f.detail != nil {
		f.detail(d)
	}
	return d, nil
}

// TestRemoteSource: the pages read from the control plane show what the
// source holds (byte for byte the same view.json and CSVs); the hub's
// refusals become 403, 404 and 503; an answer whose statuses do not match
// its report is refused (500), never shown.
func TestRemoteSource(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	direct := httptest.NewServer(ui.Handler(src, clock))
	t.Cleanup(direct.Close)
	remote := httptest.NewServer(ui.Handler(ui.RemoteSource(fakeHub{src: src}), clock))
	t.Cleanup(remote.Close)
	for _, p := range []string{"/ui/settlement/1/view.json", "/ui/settlement/1/instructions.csv", "/ui/settlement/1/figures.csv",
		"/ui/settlement/1/report.json", "/ui/settlement/2/view.json", "/ui/settlement/1", "/ui/settlement/"} {
		if got, want := get(t, remote, p), get(t, direct, p); string(got) != string(want) {
			t.Errorf("%s differs between the remote and the direct source:\n%s\n%s", p, got, want)
		}
	}

	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{status.Error(codes.PermissionDenied, "did:icn:x is not an operator"), http.StatusForbidden, "forbidden"},
		{status.Error(codes.Unauthenticated, "present a client certificate"), http.StatusForbidden, "forbidden"},
		{status.Error(codes.Unavailable, "no hub node answered"), http.StatusServiceUnavailable, "unavailable"},
		{status.Error(codes.DeadlineExceeded, "deadline"), http.StatusServiceUnavailable, "unavailable"},
		{status.Error(codes.NotFound, "no closed period 1"), http.StatusNotFound, "not_found"},
		{status.Error(codes.FailedPrecondition, "period 1 is still open"), http.StatusNotFound, "not_found"},
		{status.Error(codes.Internal, "boom"), http.StatusInternalServerError, "internal"},
	} {
		h := ui.Handler(ui.RemoteSource(fakeHub{src: src, err: tc.err}), clock)
		for _, p := range []string{"/ui/settlement/", "/ui/settlement/1", "/ui/settlement/1/view.json"} {
			if tc.code == "not_found" && p == "/ui/settlement/" {
				continue // the index lists; a missing period is left out
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			if rec.Code != tc.status {
				t.Errorf("%v, %s: %d, want %d", tc.err, p, rec.Code, tc.status)
			}
			checkError(t, rec.Body.Bytes(), tc.code)
		}
	}

	for name, alter := range map[string]func(*icnv1.PeriodDetail){
		"a status missing": func(d *icnv1.PeriodDetail) { d.Instructions = d.Instructions[1:] },
		"statuses out of order": func(d *icnv1.PeriodDetail) {
			d.Instructions[0], d.Instructions[1] = d.Instructions[1], d.Instructions[0]
		},
		"another amount":  func(d *icnv1.PeriodDetail) { d.Instructions[2].AmountUnits++ },
		"another period":  func(d *icnv1.PeriodDetail) { d.Info.Number = 2 },
		"a broken report": func(d *icnv1.PeriodDetail) { d.Report = d.Report[1:] },
	} {
		h := ui.Handler(ui.RemoteSource(fakeHub{src: src, detail: alter}), clock)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/settlement/1/instructions.csv", nil))
		if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "did:icn:") {
			t.Errorf("%s: %d %s, want a 500 without data", name, rec.Code, rec.Body)
		}
	}
}
