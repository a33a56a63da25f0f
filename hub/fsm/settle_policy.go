package fsm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// CodeSettlementRule: a settlement rule, or an instruction it gives, is unusable.
const CodeSettlementRule = "settlement_rule"

// ruleFromProto parses a settlement rule strictly.
func RuleFromProto(p *icnv1.SettlementRule) (settlement.Rule, error) {
	r := settlement.Rule{Currency: p.GetCurrency(), Mode: p.GetMode()}
	if r.Mode != settlement.ModeHoursTransfer || p.GetAsset() != "" || p.GetRate() != "" {
		r.Asset = money.Currency{Code: p.GetAsset(), Scale: int32(p.GetAssetScale())}
		rate, err := settlement.ParseRate(p.GetRate())
		if err != nil {
			return settlement.Rule{}, err
		}
		r.Rate = rate
	}
	return r, r.Check()
}

func ruleToProto(r settlement.Rule) *icnv1.SettlementRule {
	p := &icnv1.SettlementRule{Currency: r.Currency, Mode: r.Mode}
	if r.Mode != settlement.ModeHoursTransfer {
		p.Asset, p.AssetScale, p.Rate = r.Asset.Code, uint32(r.Asset.Scale), r.Rate.String()
	}
	return p
}

// policyFromProto parses rules for the federation's currencies cs.
func policyFromProto(rules []*icnv1.SettlementRule, cs money.Currencies) (settlement.Policy, error) {
	var p settlement.Policy
	for _, pr := range rules {
		r, err := RuleFromProto(pr)
		if err != nil {
			return nil, err
		}
		if _, ok := cs[r.Currency]; !ok {
			return nil, fmt.Errorf("settlement rule for %s: the federation does not clear it", r.Currency)
		}
		p = append(p, r)
	}
	sortPolicy(p)
	return p, p.Check()
}

func sortPolicy(p settlement.Policy) {
	slices.SortFunc(p, func(a, b settlement.Rule) int { return strings.Compare(a.Currency, b.Currency) })
}

// setSettlementRule replaces one currency's rule.
func (s *state) setSettlementRule(c *icnv1.SetSettlementRule) (*icnv1.CommandResult, error) {
	r, err := RuleFromProto(c.GetRule())
	if err != nil {
		return nil, refuse(CodeSettlementRule, "%v", err)
	}
	if _, ok := s.fed.Currencies[r.Currency]; !ok {
		return nil, refuse(CodeUnknownCurrency, "the federation does not clear %q", r.Currency)
	}
	p := slices.DeleteFunc(slices.Clone(s.fed.Policy), func(x settlement.Rule) bool { return x.Currency == r.Currency })
	if r.Mode != settlement.ModeHoursTransfer {
		p = append(p, r) // hours transfer is the default: no rule needed
	}
	sortPolicy(p)
	s.fed.Policy = p
	return &icnv1.CommandResult{}, nil
}

// settlementPlan is what a period's close records besides the book's
// summary: the rules of its currencies and its instructions.
type settlementPlan struct {
	policy       settlement.Policy
	instructions []settlement.Instruction
}

// planSettlement computes the instructions of the open period from its
// positions (net = received − sent, which sums exactly the transfers
// committed in it) under the federation's policy, with
// settlement.Instruct: the same function, over the same nets and rules, by
// which each node's report is checked, so the instructions treasurers
// confirm are the report's. It runs before the book closes the period, so
// that a refusal (an asset amount out of range) changes nothing.
func (s *state) planSettlement(positions []clearing.Position) (settlementPlan, error) {
	var n settlement.Netting
	var codes []string
	for _, p := range positions {
		if p.Sent != 0 || p.Received != 0 {
			n.Figures = append(n.Figures, settlement.Figures{Currency: p.Currency, DID: p.DID, Sent: p.Sent,
				Received: p.Received, Net: p.Received - p.Sent})
			codes = append(codes, p.Currency)
		}
	}
	var policy settlement.Policy
	cs := money.Currencies{}
	if s.fed != nil {
		policy, cs = s.fed.Policy, s.fed.Currencies
	}
	slices.Sort(codes)
	plan := settlementPlan{policy: policy.For(slices.Compact(codes))}
	ins, err := settlement.Instruct(n, plan.policy, cs)
	if err != nil {
		return settlementPlan{}, refuse(CodeSettlementRule, "the period cannot close under the settlement rules: %v; change the rule (icn federation settlement set)", err)
	}
	plan.instructions = ins
	return plan, nil
}

// instructionProto is the record of instruction i of period.
func instructionProto(period uint64, i int, in settlement.Instruction, cs money.Currencies) *icnv1.SettlementInstruction {
	amount := money.FromUnits(in.Amount, money.Currency{Code: in.Currency})
	if c, ok := cs[in.Currency]; ok {
		amount = money.FromUnits(in.Amount, c)
	}
	p := &icnv1.SettlementInstruction{Period: period, Index: uint32(i), Currency: in.Currency,
		From: string(in.From), To: string(in.To), AmountUnits: in.Amount, Amount: amount.String(), Mode: in.Mode}
	if in.Asset != (money.Currency{}) {
		p.Asset, p.AssetScale, p.AssetUnits = in.Asset.Code, uint32(in.Asset.Scale), in.AssetAmount
		p.AssetAmount = money.FromUnits(in.AssetAmount, in.Asset).String()
	}
	return p
}

// InstructionFromProto is the settlement.Instruction a record holds.
func InstructionFromProto(p *icnv1.SettlementInstruction) settlement.Instruction {
	in := settlement.Instruction{Currency: p.GetCurrency(), From: identity.DID(p.GetFrom()), To: identity.DID(p.GetTo()),
		Amount: p.GetAmountUnits(), Mode: p.GetMode()}
	if p.GetAsset() != "" {
		in.Asset = money.Currency{Code: p.GetAsset(), Scale: int32(p.GetAssetScale())}
		in.AssetAmount = p.GetAssetUnits()
	}
	return in
}

// checkMethod: a confirmation of an instruction with a mode names that
// mode as its method, and an asset swap or a fiat payment names its
// reference (the swap's receipt, the bank's reference). Instructions of
// periods closed before settlement modes take any method.
func checkMethod(in *icnv1.SettlementInstruction, method, reference string) error {
	mode := in.GetMode()
	if mode == "" {
		return nil
	}
	if method != mode {
		return refuse(CodeInvalidArgument, "instruction %d of period %d settles by %s, not %s", in.GetIndex(), in.GetPeriod(), mode, method)
	}
	if mode != settlement.ModeHoursTransfer && strings.TrimSpace(reference) == "" {
		return refuse(CodeInvalidArgument, "instruction %d of period %d settles by %s: give the payment's reference (--reference)",
			in.GetIndex(), in.GetPeriod(), mode)
	}
	return nil
}
