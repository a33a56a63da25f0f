package settlement

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/icn-coop/icn/money"
	"github.com/shopspring/decimal"
)

// Settlement modes: how a currency's instructions are carried out. Each is
// also the method a confirmation of such an instruction names.
const (
	// ModeHoursTransfer: the debtor co-op transfers the labour hours
	// themselves (mutual credit between the co-ops' own ledgers). The
	// default for a currency without a rule.
	ModeHoursTransfer = MethodHoursTransfer
	// ModeAssetSwap: the debtor hands over an asset token (a share, a
	// commodity voucher) of the rule's asset at the rule's rate; the
	// confirmations name the swap (its transaction or receipt).
	ModeAssetSwap = MethodAssetSwap
	// ModeFiat: the debtor pays the rule's fiat currency at the rule's rate
	// through a bank (the fiat bridge); the confirmations carry the bank's
	// reference.
	ModeFiat = MethodFiat
)

// Limits on a rule's rate: at most MaxRatePlaces decimals, at most MaxRate.
const (
	MaxRatePlaces = 9
	MaxRate       = 1_000_000
)

// Rule says how one currency's instructions settle. For ModeHoursTransfer
// Asset is the zero Currency and Rate is zero; for the other modes Asset is
// what is paid (a token code, or an ISO 4217 code such as EUR with its
// scale) and Rate how many units of Asset one unit of Currency is worth.
type Rule struct {
	Currency string
	Mode     string
	Asset    money.Currency
	Rate     decimal.Decimal
}

// Policy is a federation's settlement rules, at most one per currency; a
// currency without a rule settles by ModeHoursTransfer.
type Policy []Rule

// Rule returns the rule of currency code.
func (p Policy) Rule(code string) Rule {
	for _, r := range p {
		if r.Currency == code {
			return r
		}
	}
	return Rule{Currency: code, Mode: ModeHoursTransfer}
}

// ParseRate parses a rule's rate strictly: a positive decimal of at most
// MaxRatePlaces places and at most MaxRate, without exponent or sign.
func ParseRate(s string) (decimal.Decimal, error) {
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return decimal.Decimal{}, fmt.Errorf("%w: rate %.30q: write a plain decimal such as 15.00", ErrInvalidArgument, s)
		}
	}
	d, err := decimal.NewFromString(s)
	if err != nil || s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return decimal.Decimal{}, fmt.Errorf("%w: rate %.30q is not a decimal", ErrInvalidArgument, s)
	}
	if !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(MaxRate)) || -d.Exponent() > MaxRatePlaces {
		return decimal.Decimal{}, fmt.Errorf("%w: rate %s: want more than 0, at most %d, with at most %d decimals",
			ErrInvalidArgument, s, MaxRate, MaxRatePlaces)
	}
	return d, nil
}

// Check reports whether r is well formed.
func (r Rule) Check() error {
	if r.Currency == "" {
		return fmt.Errorf("%w: a settlement rule names no currency", ErrInvalidArgument)
	}
	switch r.Mode {
	case ModeHoursTransfer:
		if r.Asset != (money.Currency{}) || !r.Rate.IsZero() {
			return fmt.Errorf("%w: %s settles by %s: it takes no asset and no rate", ErrInvalidArgument, r.Currency, r.Mode)
		}
		return nil
	case ModeAssetSwap, ModeFiat:
	default:
		return fmt.Errorf("%w: %s: settlement mode %.30q: want %s, %s or %s", ErrInvalidArgument, r.Currency, r.Mode,
			ModeHoursTransfer, ModeAssetSwap, ModeFiat)
	}
	if err := checkAsset(r.Asset); err != nil {
		return fmt.Errorf("%w: %s settles by %s: asset: %v", ErrInvalidArgument, r.Currency, r.Mode, err)
	}
	if _, err := ParseRate(r.Rate.String()); err != nil {
		return fmt.Errorf("%s settles by %s: %w", r.Currency, r.Mode, err)
	}
	return nil
}

// checkAsset accepts an asset code of 1-16 letters, digits and _ (fiat
// currencies by their ISO 4217 code, e.g. EUR) with a scale of 0..9.
func checkAsset(a money.Currency) error {
	if a.Code == "" || len(a.Code) > 16 {
		return fmt.Errorf("asset code %.20q: must be 1-16 characters", a.Code)
	}
	for _, c := range a.Code {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("asset code %.20q: use letters, digits and _", a.Code)
		}
	}
	if a.Scale < 0 || a.Scale > 9 {
		return fmt.Errorf("asset %s: scale %d outside 0..9", a.Code, a.Scale)
	}
	return nil
}

// Check reports whether every rule is well formed and no currency has two.
func (p Policy) Check() error {
	seen := map[string]bool{}
	for _, r := range p {
		if err := r.Check(); err != nil {
			return err
		}
		if seen[r.Currency] {
			return fmt.Errorf("%w: two settlement rules for %s", ErrInvalidArgument, r.Currency)
		}
		seen[r.Currency] = true
	}
	return nil
}

// For returns the rules of the given currencies (a rule for each, the
// default for those p has none for), sorted by currency code: what a
// period records of the policy in force when it closed.
func (p Policy) For(codes []string) Policy {
	var out Policy
	for _, c := range codes {
		r := p.Rule(c)
		if d, err := decimal.NewFromString(r.Rate.String()); err == nil && !r.Rate.IsZero() {
			r.Rate = d // one representation of a rate: the one its canonical string parses to
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rule) int { return cmp.Compare(a.Currency, b.Currency) })
	return slices.CompactFunc(out, func(a, b Rule) bool { return a.Currency == b.Currency })
}

// AssetUnits converts units of a currency of scale scale into minor units of
// the rule's asset at its rate, rounded half away from zero to the asset's
// scale. Rounding is per instruction, so the asset amounts of a currency
// may differ from its net debit times the rate by up to half an asset unit
// per instruction.
func (r Rule) AssetUnits(units int64, scale int32) (int64, error) {
	v := decimal.New(units, -scale).Mul(r.Rate).Round(r.Asset.Scale).Shift(r.Asset.Scale)
	if !v.IsInteger() || v.GreaterThan(decimal.NewFromInt(maxInt64)) || v.LessThan(decimal.NewFromInt(minInt64+1)) {
		return 0, fmt.Errorf("%w: %s at %s %s per unit leaves the range of %s", ErrInvalidArgument,
			decimal.New(units, -scale), r.Rate, r.Asset.Code, r.Asset.Code)
	}
	return v.IntPart(), nil
}

const maxInt64 = 1<<63 - 1

// Instruct is how a period's settlement instructions are computed, the one
// place: the payments that settle every net position of n (see plan for
// the order and the bound of participants − 1 per currency), each carried
// out the way p's rule for its currency says, with the asset amount
// converted at the rule's rate. The state machine records its result when
// the period closes; the report carries exactly those instructions, and
// treasurers confirm them. scales gives each currency's scale (for the
// conversion); it fails if a conversion leaves int64.
func Instruct(n Netting, p Policy, scales money.Currencies) ([]Instruction, error) {
	ins := plan(n)
	for i := range ins {
		r := p.Rule(ins[i].Currency)
		ins[i].Mode = r.Mode
		if r.Mode == ModeHoursTransfer {
			continue
		}
		cur, err := scales.Lookup(ins[i].Currency)
		if err != nil {
			return nil, fmt.Errorf("%w: instruction %d: %v", ErrInvalidArgument, i, err)
		}
		ins[i].Asset = r.Asset
		if ins[i].AssetAmount, err = r.AssetUnits(ins[i].Amount, cur.Scale); err != nil {
			return nil, fmt.Errorf("instruction %d: %w", i, err)
		}
	}
	return ins, nil
}
