package settlement

import (
	"cmp"
	"math/big"
	"slices"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/shopspring/decimal"
)

// Instruction tells From to pay Amount (minor units, > 0) of Currency to To,
// the way Mode says: for ModeAssetSwap and ModeFiat by AssetAmount (minor
// units) of Asset. Mode is "" in reports of version 1, closed before
// settlement modes, whose instructions all settle by hours transfer.
type Instruction struct {
	Currency    string
	From        identity.DID // a net debtor
	To          identity.DID // a net creditor
	Amount      int64
	Mode        string
	Asset       money.Currency // zero for ModeHoursTransfer
	AssetAmount int64
}

// party is a debtor or creditor with what it still owes or is owed.
type party struct {
	did    identity.DID
	amount int64
}

// byAmountDesc orders by amount descending, then DID ascending.
func byAmountDesc(x, y party) int {
	return cmp.Or(cmp.Compare(y.amount, x.amount), cmp.Compare(x.did, y.did))
}

// plan returns the payments that settle every net position of n (Instruct
// gives them their mode).
//
// For each currency, in code order: the net debtors (Net < 0, owing −Net)
// and the net creditors (Net > 0) are each sorted by amount descending, then
// DID ascending; then, repeatedly, the first remaining debtor pays the first
// remaining creditor the smaller of what the one owes and the other is owed,
// and whichever is done (or both) leaves its list. Instructions come out in
// that order.
//
// Each step settles at least one participant and the last settles two, so a
// currency with k participants of non-zero net needs at most k − 1
// instructions. Amounts are exact; the result depends only on the figures.
// For a Netting made by Net (whose nets sum to zero per currency) applying
// the instructions brings every net to zero and Σ amounts per currency equals
// its NetDebit. For other input the loop stops when either side runs out.
// Figures need not be sorted.
func plan(n Netting) []Instruction {
	figs := slices.Clone(n.Figures)
	slices.SortStableFunc(figs, func(x, y Figures) int { return cmp.Compare(x.Currency, y.Currency) })
	out := make([]Instruction, 0)
	var debtors, creditors []party
	for i := 0; i < len(figs); {
		cur := figs[i].Currency
		debtors, creditors = debtors[:0], creditors[:0]
		for ; i < len(figs) && figs[i].Currency == cur; i++ {
			f := figs[i]
			switch {
			case f.Net < 0 && f.Net != minInt64: // MinInt64 cannot come from Net; ignore rather than negate
				debtors = append(debtors, party{f.DID, -f.Net})
			case f.Net > 0:
				creditors = append(creditors, party{f.DID, f.Net})
			}
		}
		slices.SortFunc(debtors, byAmountDesc)
		slices.SortFunc(creditors, byAmountDesc)
		for d, c := 0, 0; d < len(debtors) && c < len(creditors); {
			pay := min(debtors[d].amount, creditors[c].amount)
			out = append(out, Instruction{Currency: cur, From: debtors[d].did, To: creditors[c].did, Amount: pay})
			debtors[d].amount -= pay
			creditors[c].amount -= pay
			if debtors[d].amount == 0 {
				d++
			}
			if creditors[c].amount == 0 {
				c++
			}
		}
	}
	return out
}

const minInt64 = -1 << 63

// SavingPlaces is the number of decimal places of LiquiditySavingString and
// of the liquidity_saving field of the canonical report.
const SavingPlaces = 6

// LiquiditySaving returns 1 − NetDebit/Volume exactly, in lowest terms: the
// share of the gross obligations that netting removed. It is 0 when Volume
// is 0.
func (t Totals) LiquiditySaving() *big.Rat {
	if t.Volume <= 0 {
		return new(big.Rat)
	}
	r := new(big.Rat).SetFrac(big.NewInt(t.NetDebit), big.NewInt(t.Volume))
	return r.Sub(big.NewRat(1, 1), r)
}

// LiquiditySavingString returns LiquiditySaving as a decimal with exactly
// SavingPlaces places, rounded half away from zero ("0.857143" for 6/7,
// "0.000000" when Volume is 0). No float is involved.
func (t Totals) LiquiditySavingString() string {
	if t.Volume <= 0 {
		return decimal.Zero.StringFixed(SavingPlaces)
	}
	saved := decimal.NewFromInt(t.Volume).Sub(decimal.NewFromInt(t.NetDebit))
	return saved.DivRound(decimal.NewFromInt(t.Volume), SavingPlaces).StringFixed(SavingPlaces)
}
