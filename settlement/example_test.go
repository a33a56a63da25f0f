package settlement_test

import (
	"fmt"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

// The life of a report: the hub builds and signs it, a co-op checks it
// offline with its own transfers and their proofs.
func Example() {
	bakery, farm, mill := keyN(1).DID(), keyN(2).DID(), keyN(3).DID()
	name := map[identity.DID]string{bakery: "bakery", farm: "farm", mill: "mill"}
	committed := func(id string, from, to identity.DID, amount string) clearing.Transfer {
		a, _ := money.ParsePayment(amount, money.Hours)
		return clearing.Transfer{ID: id, From: from, To: to, Amount: a, State: clearing.StateCommitted, Period: 3, DecidedAt: 1_750_000_000_000_000_000}
	}
	transfers := []clearing.Transfer{
		committed("p1", bakery, farm, "40.00"),
		committed("p2", farm, mill, "25.50"),
		committed("p3", mill, bakery, "10.00"),
	}

	// On the hub, at the close of period 3.
	hub := keyN(9)
	report, err := settlement.BuildReport(settlement.ReportInput{Header: settlement.Header{Federation: keyN(8).DID(), Period: 3,
		OpenedAt: 1_749_900_000_000_000_000, ClosedAt: 1_750_000_000_000_000_000}, Transfers: transfers, Currencies: money.DefaultCurrencies()})
	if err != nil {
		panic(err)
	}
	sig := report.Sign(hub)
	tree, _ := settlement.NewTree(transfers)

	for _, in := range report.Instructions {
		fmt.Printf("%s pays %s %s %s\n", name[in.From], name[in.To], money.FromUnits(in.Amount, money.Hours), in.Currency)
	}
	t, _ := report.Totals("hours")
	fmt.Println("volume", money.FromUnits(t.Volume, money.Hours), "liquidity saving", t.LiquiditySavingString())

	// At the bakery, offline: the report's bytes, the signatures, its own
	// transfers and their proofs.
	received, err := settlement.ParseReport(report.Canonical())
	if err != nil {
		panic(err)
	}
	_, final, _ := settlement.VerifySignatures(received, []settlement.Signature{sig}, []identity.DID{hub.DID()}, 1)
	own := []clearing.Transfer{transfers[0], transfers[2]}
	proofs := map[string]settlement.Proof{}
	for _, x := range own {
		proofs[x.ID], _ = tree.Proof(x.ID)
	}
	fmt.Println("final:", final, "bakery's check:", settlement.VerifyCoop(received, bakery, own, proofs))
	// Output:
	// bakery pays mill 15.50 hours
	// bakery pays farm 14.50 hours
	// volume 75.50 liquidity saving 0.602649
	// final: true bakery's check: <nil>
}
