package settlement_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
	"github.com/shopspring/decimal"
)

var (
	eur   = money.Currency{Code: "EUR", Scale: 2}
	solar = money.Currency{Code: "SOLAR", Scale: 0}
)

func rate(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := settlement.ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// randomPolicy gives each test currency a random mode.
func randomPolicy(r *rand.Rand) settlement.Policy {
	var p settlement.Policy
	for _, code := range []string{"hours", "kwh"} {
		switch r.IntN(3) {
		case 0: // default: no rule
		case 1:
			p = append(p, settlement.Rule{Currency: code, Mode: settlement.ModeFiat, Asset: eur,
				Rate: decimal.New(r.Int64N(100_000)+1, -3)})
		case 2:
			p = append(p, settlement.Rule{Currency: code, Mode: settlement.ModeAssetSwap, Asset: solar,
				Rate: decimal.New(r.Int64N(1000)+1, -2)})
		}
	}
	return p
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"15.00", true}, {"0.5", true}, {"1", true}, {"1000000", true}, {"0.000000001", true},
		{"0", false}, {"0.00", false}, {"-1", false}, {"+1", false}, {"1e3", false}, {"1000000.01", false},
		{"0.0000000001", false}, {"", false}, {"1,5", false}, {" 1", false}, {"1.", false},
	} {
		if _, err := settlement.ParseRate(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseRate(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestRuleCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    settlement.Policy
		want string // "" ok
	}{
		{"default", nil, ""},
		{"hours", settlement.Policy{{Currency: "hours", Mode: settlement.ModeHoursTransfer}}, ""},
		{"fiat", settlement.Policy{{Currency: "hours", Mode: settlement.ModeFiat, Asset: eur, Rate: rate(t, "15")}}, ""},
		{"swap", settlement.Policy{{Currency: "kwh", Mode: settlement.ModeAssetSwap, Asset: solar, Rate: rate(t, "0.25")}}, ""},
		{"hours with a rate", settlement.Policy{{Currency: "hours", Mode: settlement.ModeHoursTransfer, Rate: rate(t, "1")}}, "no asset and no rate"},
		{"fiat without asset", settlement.Policy{{Currency: "hours", Mode: settlement.ModeFiat, Rate: rate(t, "1")}}, "asset"},
		{"fiat without rate", settlement.Policy{{Currency: "hours", Mode: settlement.ModeFiat, Asset: eur}}, "rate"},
		{"unknown mode", settlement.Policy{{Currency: "hours", Mode: "barter"}}, "settlement mode"},
		{"no currency", settlement.Policy{{Mode: settlement.ModeHoursTransfer}}, "names no currency"},
		{"twice", settlement.Policy{{Currency: "hours", Mode: settlement.ModeHoursTransfer}, {Currency: "hours", Mode: settlement.ModeHoursTransfer}}, "two settlement rules"},
	} {
		err := tc.p.Check()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestInstructPerMode: one period settled under each mode: the same
// payments; a fiat or asset-swap instruction carries the asset amount at the
// rule's rate, rounded half away from zero to the asset's scale.
func TestInstructPerMode(t *testing.T) {
	ts := []clearing.Transfer{tr("t1", A, B, h(1000)), tr("t2", A, C, h(255)), tr("t3", C, A, k(1500))}
	n := mustNet(t, ts)
	plan := settlement.Plan(n)
	for _, tc := range []struct {
		name   string
		p      settlement.Policy
		mode   string
		assets []int64 // per instruction, in the asset's minor units
	}{
		{"hours transfer (default)", nil, settlement.ModeHoursTransfer, []int64{0, 0, 0}},
		// 10.00 h × 15.50 = 155.00 EUR; 2.55 h × 15.50 = 39.525 → 39.53; 1.500 kWh × 15.50 = 23.25
		{"fiat bridge", settlement.Policy{{Currency: "hours", Mode: settlement.ModeFiat, Asset: eur, Rate: rate(t, "15.50")},
			{Currency: "kwh", Mode: settlement.ModeFiat, Asset: eur, Rate: rate(t, "15.50")}},
			settlement.ModeFiat, []int64{15500, 3953, 2325}},
		// 10.00 h × 0.25 = 2.5 → 3 SOLAR; 2.55 × 0.25 = 0.6375 → 1; 1.500 × 0.25 = 0.375 → 0
		{"asset swap", settlement.Policy{{Currency: "hours", Mode: settlement.ModeAssetSwap, Asset: solar, Rate: rate(t, "0.25")},
			{Currency: "kwh", Mode: settlement.ModeAssetSwap, Asset: solar, Rate: rate(t, "0.25")}},
			settlement.ModeAssetSwap, []int64{3, 1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := settlement.Instruct(n, tc.p, curs)
			if err != nil {
				t.Fatal(err)
			}
			if len(ins) != len(plan) {
				t.Fatalf("%d instructions, the plan has %d", len(ins), len(plan))
			}
			for i, in := range ins {
				if in.Currency != plan[i].Currency || in.From != plan[i].From || in.To != plan[i].To || in.Amount != plan[i].Amount {
					t.Errorf("instruction %d %+v is not the plan's %+v", i, in, plan[i])
				}
				if in.Mode != tc.mode || in.AssetAmount != tc.assets[i] {
					t.Errorf("instruction %d: mode %s, asset amount %d; want %s, %d", i, in.Mode, in.AssetAmount, tc.mode, tc.assets[i])
				}
			}
			r, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: ts, Currencies: curs, Policy: tc.p, Recorded: ins})
			if err != nil {
				t.Fatal(err)
			}
			back, err := settlement.ParseReport(r.Canonical())
			if err != nil || !reflect.DeepEqual(back.Instructions, ins) {
				t.Fatalf("round trip: %v\n%s", err, r.Canonical())
			}
			for _, want := range []string{`"settlement":[{"currency":"hours","mode":"` + tc.mode + `"`, `"mode":"` + tc.mode + `"}`} {
				if tc.mode != settlement.ModeHoursTransfer {
					want = strings.TrimSuffix(want, "}")
				}
				if !strings.Contains(string(r.Canonical()), want) {
					t.Errorf("canonical report lacks %s:\n%s", want, r.Canonical())
				}
			}
		})
	}
}

// TestReportCarriesRecordedInstructions: a report is built only over the
// instructions recorded at the close; other ones are refused, never signed.
func TestReportCarriesRecordedInstructions(t *testing.T) {
	ts := smallPeriod()
	p := settlement.Policy{{Currency: "hours", Mode: settlement.ModeFiat, Asset: eur, Rate: rate(t, "20")}}
	ins, err := settlement.Instruct(mustNet(t, ts), p, curs)
	if err != nil {
		t.Fatal(err)
	}
	in := settlement.ReportInput{Header: header, Transfers: ts, Currencies: curs, Policy: p, Recorded: ins}
	r, err := settlement.BuildReport(in)
	if err != nil || !reflect.DeepEqual(r.Instructions, ins) {
		t.Fatalf("recorded instructions: %v", err)
	}
	for name, edit := range map[string]func([]settlement.Instruction) []settlement.Instruction{
		"amount":       func(x []settlement.Instruction) []settlement.Instruction { x[0].Amount++; return x },
		"asset amount": func(x []settlement.Instruction) []settlement.Instruction { x[0].AssetAmount++; return x },
		"mode": func(x []settlement.Instruction) []settlement.Instruction {
			x[0].Mode = settlement.ModeHoursTransfer
			return x
		},
		"one missing": func(x []settlement.Instruction) []settlement.Instruction { return x[1:] },
		"none":        func(x []settlement.Instruction) []settlement.Instruction { return []settlement.Instruction{} },
	} {
		bad := in
		bad.Recorded = edit(append([]settlement.Instruction(nil), ins...))
		if _, err := settlement.BuildReport(bad); !errors.Is(err, settlement.ErrInstructionsDiffer) {
			t.Errorf("%s: %v, want ErrInstructionsDiffer", name, err)
		}
	}
	// Under another policy than the close's, the same recorded set is refused.
	other := in
	other.Policy = nil
	if _, err := settlement.BuildReport(other); !errors.Is(err, settlement.ErrInstructionsDiffer) {
		t.Errorf("other policy: %v", err)
	}
}

func TestParseReportRejectsV2(t *testing.T) {
	p := settlement.Policy{{Currency: "hours", Mode: settlement.ModeFiat, Asset: eur, Rate: rate(t, "15.50")}}
	r, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: smallPeriod(), Currencies: curs, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	good := string(r.Canonical())
	if _, err := settlement.ParseReport([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"version 1": func(s string) string { return strings.Replace(s, `"version":2`, `"version":1`, 1) },
		"mode": func(s string) string {
			return strings.Replace(s, `"mode":"fiat","asset":"EUR","asset_amount":"116.25"`, `"mode":"hours_transfer"`, 1)
		},
		"rule mode": func(s string) string {
			return strings.Replace(s, `"currency":"hours","mode":"fiat"`, `"currency":"hours","mode":"asset_swap"`, 1)
		},
		"rate":      func(s string) string { return strings.Replace(s, `"rate":"15.5"`, `"rate":"15.6"`, 1) },
		"rate form": func(s string) string { return strings.Replace(s, `"rate":"15.5"`, `"rate":"15.50"`, 1) },
		"asset amount": func(s string) string {
			return strings.Replace(s, `"asset_amount":"116.25"`, `"asset_amount":"116.26"`, 1)
		},
		"asset": func(s string) string {
			return strings.Replace(s, `"asset":"EUR","asset_amount"`, `"asset":"USD","asset_amount"`, 1)
		},
		"no settlement": func(s string) string {
			i, j := strings.Index(s, `"settlement":`), strings.Index(s, `"participants":`)
			return s[:i] + s[j:]
		},
		"kwh rule missing": func(s string) string { return strings.Replace(s, `,{"currency":"kwh","mode":"hours_transfer"}`, ``, 1) },
	} {
		bad := edit(good)
		if bad == good {
			t.Fatalf("%s: edit changed nothing in %s", name, good)
		}
		if _, err := settlement.ParseReport([]byte(bad)); !errors.Is(err, settlement.ErrInvalidReport) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
