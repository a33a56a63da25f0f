package settlement_test

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

func fig(cur string, d identity.DID, sent, received int64, sentN, recvN int) settlement.Figures {
	return settlement.Figures{Currency: cur, DID: d, Sent: sent, Received: received, Net: received - sent, SentCount: sentN, ReceivedCount: recvN}
}

// sorted returns the figures sorted as Net sorts them (by currency, then DID).
func sorted(fs ...settlement.Figures) []settlement.Figures {
	out := append([]settlement.Figures{}, fs...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Currency < out[i].Currency || out[j].Currency == out[i].Currency && out[j].DID < out[i].DID {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestNetTable(t *testing.T) {
	type want struct {
		totals  []settlement.Totals
		figures []settlement.Figures
		instrs  []settlement.Instruction
		savings []string
	}
	tests := []struct {
		name string
		ts   []clearing.Transfer
		want want
	}{
		{"empty period", nil, want{
			totals: []settlement.Totals{}, figures: []settlement.Figures{}, instrs: []settlement.Instruction{},
		}},
		{"one transfer", []clearing.Transfer{tr("t1", A, B, h(250))}, want{
			totals:  []settlement.Totals{{Currency: hours, Transfers: 1, Volume: 250, NetDebit: 250}},
			figures: sorted(fig("hours", A, 250, 0, 1, 0), fig("hours", B, 0, 250, 0, 1)),
			instrs:  []settlement.Instruction{{Currency: "hours", From: A, To: B, Amount: 250}},
			savings: []string{"0.000000"},
		}},
		{"balanced pair", []clearing.Transfer{tr("t1", A, B, h(500)), tr("t2", B, A, h(500))}, want{
			totals:  []settlement.Totals{{Currency: hours, Transfers: 2, Volume: 1000, NetDebit: 0}},
			figures: sorted(fig("hours", A, 500, 500, 1, 1), fig("hours", B, 500, 500, 1, 1)),
			instrs:  []settlement.Instruction{},
			savings: []string{"1.000000"},
		}},
		{"balanced cycle", []clearing.Transfer{tr("t1", A, B, h(10)), tr("t2", B, C, h(10)), tr("t3", C, A, h(10))}, want{
			totals:  []settlement.Totals{{Currency: hours, Transfers: 3, Volume: 30, NetDebit: 0}},
			figures: sorted(fig("hours", A, 10, 10, 1, 1), fig("hours", B, 10, 10, 1, 1), fig("hours", C, 10, 10, 1, 1)),
			instrs:  []settlement.Instruction{},
			savings: []string{"1.000000"},
		}},
		{"chain", []clearing.Transfer{tr("t1", A, B, h(10)), tr("t2", B, C, h(10))}, want{
			totals:  []settlement.Totals{{Currency: hours, Transfers: 2, Volume: 20, NetDebit: 10}},
			figures: sorted(fig("hours", A, 10, 0, 1, 0), fig("hours", B, 10, 10, 1, 1), fig("hours", C, 0, 10, 0, 1)),
			instrs:  []settlement.Instruction{{Currency: "hours", From: A, To: C, Amount: 10}},
			savings: []string{"0.500000"},
		}},
		{"two debtors two creditors", []clearing.Transfer{
			tr("t1", A, C, h(60)), tr("t2", A, D, h(10)), tr("t3", B, D, h(30)),
		}, want{
			totals:  []settlement.Totals{{Currency: hours, Transfers: 3, Volume: 100, NetDebit: 100}},
			figures: sorted(fig("hours", A, 70, 0, 2, 0), fig("hours", B, 30, 0, 1, 0), fig("hours", C, 0, 60, 0, 1), fig("hours", D, 0, 40, 0, 2)),
			// debtors A 70, B 30; creditors C 60, D 40: A→C 60, A→D 10, B→D 30.
			instrs: []settlement.Instruction{
				{Currency: "hours", From: A, To: C, Amount: 60},
				{Currency: "hours", From: A, To: D, Amount: 10},
				{Currency: "hours", From: B, To: D, Amount: 30},
			},
			savings: []string{"0.000000"},
		}},
		{"two currencies", []clearing.Transfer{
			tr("k1", A, B, k(1500)), tr("h1", B, A, h(100)), tr("h2", C, A, h(50)), tr("h3", A, C, h(50)),
		}, want{
			totals: []settlement.Totals{
				{Currency: hours, Transfers: 3, Volume: 200, NetDebit: 100},
				{Currency: kwh, Transfers: 1, Volume: 1500, NetDebit: 1500},
			},
			figures: append(sorted(fig("hours", A, 50, 150, 1, 2), fig("hours", B, 100, 0, 1, 0), fig("hours", C, 50, 50, 1, 1)),
				sorted(fig("kwh", A, 1500, 0, 1, 0), fig("kwh", B, 0, 1500, 0, 1))...),
			instrs: []settlement.Instruction{
				{Currency: "hours", From: B, To: A, Amount: 100},
				{Currency: "kwh", From: A, To: B, Amount: 1500},
			},
			savings: []string{"0.500000", "0.000000"},
		}},
		{"equal amounts tie-break by DID", []clearing.Transfer{
			tr("t1", A, C, h(5)), tr("t2", B, D, h(5)),
		}, want{
			totals:  []settlement.Totals{{Currency: hours, Transfers: 2, Volume: 10, NetDebit: 10}},
			figures: sorted(fig("hours", A, 5, 0, 1, 0), fig("hours", B, 5, 0, 1, 0), fig("hours", C, 0, 5, 0, 1), fig("hours", D, 0, 5, 0, 1)),
			instrs:  tieBreak(),
			savings: []string{"0.000000"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := mustNet(t, tc.ts)
			if !reflect.DeepEqual(n.Currencies, tc.want.totals) {
				t.Errorf("totals\n got %+v\nwant %+v", n.Currencies, tc.want.totals)
			}
			if !reflect.DeepEqual(n.Figures, tc.want.figures) {
				t.Errorf("figures\n got %+v\nwant %+v", n.Figures, tc.want.figures)
			}
			if got := settlement.Plan(n); !reflect.DeepEqual(got, tc.want.instrs) {
				t.Errorf("instructions\n got %+v\nwant %+v", got, tc.want.instrs)
			}
			for i, c := range n.Currencies {
				if got := c.LiquiditySavingString(); got != tc.want.savings[i] {
					t.Errorf("%s saving %s, want %s", c.Currency.Code, got, tc.want.savings[i])
				}
			}
			r := mustReport(t, tc.ts)
			if err := r.Check(); err != nil {
				t.Fatal(err)
			}
			back, err := settlement.ParseReport(r.Canonical())
			if err != nil {
				t.Fatalf("ParseReport(%s): %v", r.Canonical(), err)
			}
			if !reflect.DeepEqual(back, r) {
				t.Fatalf("round trip\n got %+v\nwant %+v", back, r)
			}
			if len(tc.ts) == 0 && r.MerkleRoot != settlement.EmptyRoot {
				t.Fatal("empty period: root is not EmptyRoot")
			}
		})
	}
}

// tieBreak: A and B owe 5 each, C and D are owed 5 each: the smaller DID pays
// first and is paid first.
func tieBreak() []settlement.Instruction {
	d1, d2 := A, B
	if d2 < d1 {
		d1, d2 = d2, d1
	}
	c1, c2 := C, D
	if c2 < c1 {
		c1, c2 = c2, c1
	}
	return []settlement.Instruction{
		{Currency: "hours", From: d1, To: c1, Amount: 5},
		{Currency: "hours", From: d2, To: c2, Amount: 5},
	}
}

func TestNetRefuses(t *testing.T) {
	good := func() clearing.Transfer { return tr("x", A, B, h(1)) }
	with := func(f func(*clearing.Transfer)) []clearing.Transfer {
		x := good()
		f(&x)
		return []clearing.Transfer{tr("a", A, C, h(1)), x}
	}
	tests := []struct {
		name string
		ts   []clearing.Transfer
		kind error
	}{
		{"prepared", with(func(x *clearing.Transfer) { x.State = clearing.StatePrepared }), settlement.ErrInvalidTransfer},
		{"aborted", with(func(x *clearing.Transfer) { x.State = clearing.StateAborted }), settlement.ErrInvalidTransfer},
		{"period 0", []clearing.Transfer{func() clearing.Transfer { x := good(); x.Period = 0; return x }()}, settlement.ErrInvalidTransfer},
		{"other period", with(func(x *clearing.Transfer) { x.Period = period + 1 }), settlement.ErrInvalidTransfer},
		{"duplicate id", with(func(x *clearing.Transfer) { x.ID = "a" }), settlement.ErrDuplicate},
		{"empty id", with(func(x *clearing.Transfer) { x.ID = "" }), settlement.ErrInvalidTransfer},
		{"long id", with(func(x *clearing.Transfer) { x.ID = strings.Repeat("i", clearing.MaxIDLen+1) }), settlement.ErrInvalidTransfer},
		{"zero amount", with(func(x *clearing.Transfer) { x.Amount = h(0) }), settlement.ErrInvalidTransfer},
		{"negative amount", with(func(x *clearing.Transfer) { x.Amount = h(-5) }), settlement.ErrInvalidTransfer},
		{"self", with(func(x *clearing.Transfer) { x.To = x.From }), settlement.ErrInvalidTransfer},
		{"bad from", with(func(x *clearing.Transfer) { x.From = "did:icn:alpha" }), settlement.ErrInvalidTransfer},
		{"bad to", with(func(x *clearing.Transfer) { x.To = "" }), settlement.ErrInvalidTransfer},
		{"bad currency", with(func(x *clearing.Transfer) { x.Amount = money.FromUnits(1, money.Currency{Code: "Hours", Scale: 2}) }), settlement.ErrInvalidTransfer},
		{"no currency", with(func(x *clearing.Transfer) { x.Amount = money.FromUnits(1, money.Currency{}) }), settlement.ErrInvalidTransfer},
		{"two scales", with(func(x *clearing.Transfer) { x.Amount = money.FromUnits(1, money.Currency{Code: "hours", Scale: 3}) }), settlement.ErrInvalidTransfer},
		{"volume overflow", []clearing.Transfer{tr("a", A, B, h(math.MaxInt64)), tr("b", C, D, h(1))}, settlement.ErrOverflow},
		{"sent overflow", []clearing.Transfer{tr("a", A, B, k(math.MaxInt64-1)), tr("b", A, C, h(2)), tr("c", A, D, k(2))}, settlement.ErrOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settlement.Net(tc.ts)
			var te *settlement.TransferError
			if !errors.Is(err, tc.kind) || !errors.As(err, &te) {
				t.Fatalf("Net: %v, want %v", err, tc.kind)
			}
			if tc.kind != settlement.ErrOverflow {
				if _, err := settlement.NewTree(tc.ts); !errors.Is(err, tc.kind) {
					t.Fatalf("NewTree: %v, want %v", err, tc.kind)
				}
				if _, err := settlement.MerkleRoot(tc.ts); !errors.Is(err, tc.kind) {
					t.Fatalf("MerkleRoot: %v, want %v", err, tc.kind)
				}
			}
			if _, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: tc.ts, Currencies: curs}); !errors.Is(err, tc.kind) {
				t.Fatalf("BuildReport: %v, want %v", err, tc.kind)
			}
		})
	}
}

func TestBuildReportRefuses(t *testing.T) {
	ts := []clearing.Transfer{tr("a", A, B, h(1))}
	for name, tc := range map[string]struct {
		h    settlement.Header
		ts   []clearing.Transfer
		cs   money.Currencies
		kind error
	}{
		"unknown currency":  {header, ts, money.Currencies{kwh.Code: kwh}, settlement.ErrInvalidArgument},
		"scale differs":     {header, ts, money.Currencies{"hours": {Code: "hours", Scale: 1}}, settlement.ErrInvalidArgument},
		"bad federation":    {settlement.Header{Federation: "fed", Period: period}, ts, curs, settlement.ErrInvalidArgument},
		"period 0":          {settlement.Header{Federation: Fed}, nil, curs, settlement.ErrInvalidArgument},
		"closes before":     {settlement.Header{Federation: Fed, Period: period, OpenedAt: 2, ClosedAt: 1}, ts, curs, settlement.ErrInvalidArgument},
		"transfers' period": {settlement.Header{Federation: Fed, Period: period + 1}, ts, curs, settlement.ErrInvalidTransfer},
	} {
		if _, err := settlement.BuildReport(settlement.ReportInput{Header: tc.h, Transfers: tc.ts, Currencies: tc.cs}); !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v, want %v", name, err, tc.kind)
		}
	}
}

func TestLiquiditySaving(t *testing.T) {
	for _, tc := range []struct {
		volume, debit int64
		rat, str      string
	}{
		{0, 0, "0/1", "0.000000"},
		{7, 1, "6/7", "0.857143"},
		{128, 127, "1/128", "0.007813"}, // 0.0078125: half away from zero
		{3, 2, "1/3", "0.333333"},
		{10, 10, "0/1", "0.000000"},
		{10, 0, "1/1", "1.000000"},
		{math.MaxInt64, 1, new(big.Rat).SetFrac(big.NewInt(math.MaxInt64-1), big.NewInt(math.MaxInt64)).String(), "1.000000"},
	} {
		tot := settlement.Totals{Currency: hours, Volume: tc.volume, NetDebit: tc.debit}
		if got := tot.LiquiditySaving().String(); got != tc.rat {
			t.Errorf("%d/%d: rat %s, want %s", tc.debit, tc.volume, got, tc.rat)
		}
		if got := tot.LiquiditySavingString(); got != tc.str {
			t.Errorf("%d/%d: %s, want %s", tc.debit, tc.volume, got, tc.str)
		}
	}
}

func TestNettingLookups(t *testing.T) {
	n := mustNet(t, []clearing.Transfer{tr("a", A, B, h(3)), tr("b", B, C, k(4))})
	if tot, ok := n.Totals("kwh"); !ok || tot.Volume != 4 {
		t.Fatal(tot, ok)
	}
	if _, ok := n.Totals("eur"); ok {
		t.Fatal("eur found")
	}
	if f, ok := n.Participant("hours", B); !ok || f.Net != 3 {
		t.Fatal(f, ok)
	}
	if _, ok := n.Participant("hours", C); ok {
		t.Fatal("C has no hours figures")
	}
}

// Instructions on figures it does not get from Net: unsorted input and an
// unbalanced netting stop when one side runs out.
func TestInstructionsOtherInput(t *testing.T) {
	n := settlement.Netting{Figures: []settlement.Figures{
		{Currency: "kwh", DID: A, Net: -5},
		{Currency: "hours", DID: B, Net: 7},
		{Currency: "kwh", DID: B, Net: 3},
		{Currency: "hours", DID: A, Net: -7},
	}}
	want := []settlement.Instruction{
		{Currency: "hours", From: A, To: B, Amount: 7},
		{Currency: "kwh", From: A, To: B, Amount: 3},
	}
	if got := settlement.Plan(n); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
