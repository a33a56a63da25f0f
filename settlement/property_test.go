package settlement_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/settlement"
)

type modelKey struct {
	cur string
	did identity.DID
}

type modelFig struct {
	sent, received int64
	sentN, recvN   int
}

// naiveNet is an independent netting: one map, no interning.
func naiveNet(ts []clearing.Transfer) map[modelKey]*modelFig {
	m := map[modelKey]*modelFig{}
	get := func(k modelKey) *modelFig {
		if m[k] == nil {
			m[k] = &modelFig{}
		}
		return m[k]
	}
	for _, t := range ts {
		c := t.Amount.Currency().Code
		f, r := get(modelKey{c, t.From}), get(modelKey{c, t.To})
		f.sent += t.Amount.Units()
		f.sentN++
		r.received += t.Amount.Units()
		r.recvN++
	}
	return m
}

// TestProperties checks, for random periods of up to a few thousand
// transfers among up to 50 participants in 2 currencies, every property the
// issue asks for.
func TestProperties(t *testing.T) {
	rounds := 60
	if testing.Short() {
		rounds = 10
	}
	all := dids(50)
	for seed := uint64(1); seed <= uint64(rounds); seed++ {
		r := rand.New(rand.NewPCG(seed, 0x5e771e))
		ps := all[:2+r.IntN(49)]
		n := r.IntN(3001)
		if seed%10 == 0 {
			n = r.IntN(4) // tiny periods too
		}
		ts := randomPeriod(r, ps, n)
		checkPeriod(t, r, seed, ts)
	}
}

func checkPeriod(t *testing.T, r *rand.Rand, seed uint64, ts []clearing.Transfer) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (%d transfers): "+format, append([]any{seed, len(ts)}, args...)...)
	}
	net := mustNet(t, ts)

	// Figures agree with an independent netting.
	model := naiveNet(ts)
	if len(model) != len(net.Figures) {
		fail("%d figures, model has %d", len(net.Figures), len(model))
	}
	for i, f := range net.Figures {
		m := model[modelKey{f.Currency, f.DID}]
		if m == nil || f.Sent != m.sent || f.Received != m.received || f.SentCount != m.sentN || f.ReceivedCount != m.recvN || f.Net != m.received-m.sent {
			fail("figures %+v, model %+v", f, m)
		}
		if i > 0 && (net.Figures[i-1].Currency > f.Currency || net.Figures[i-1].Currency == f.Currency && net.Figures[i-1].DID >= f.DID) {
			fail("figures not sorted at %d", i)
		}
	}

	// Nets sum to zero per currency; gross sums equal the volume.
	type curSum struct {
		net, sent, received, debit int64
		nonZero, count             int
	}
	sums := map[string]*curSum{}
	for _, f := range net.Figures {
		s := sums[f.Currency]
		if s == nil {
			s = &curSum{}
			sums[f.Currency] = s
		}
		s.net += f.Net
		s.sent += f.Sent
		s.received += f.Received
		s.count += f.SentCount
		if f.Net < 0 {
			s.debit -= f.Net
		}
		if f.Net != 0 {
			s.nonZero++
		}
	}
	for _, c := range net.Currencies {
		s := sums[c.Currency.Code]
		if s.net != 0 {
			fail("%s: nets sum to %d", c.Currency.Code, s.net)
		}
		if s.sent != c.Volume || s.received != c.Volume || s.debit != c.NetDebit || s.count != c.Transfers {
			fail("%s: totals %+v, sums %+v", c.Currency.Code, c, s)
		}
	}

	// Instructions settle every net exactly, within k − 1 per currency.
	ins := settlement.Plan(net)
	balance := map[modelKey]int64{}
	for _, f := range net.Figures {
		balance[modelKey{f.Currency, f.DID}] = f.Net
	}
	count, paid := map[string]int{}, map[string]int64{}
	for _, in := range ins {
		from, to := modelKey{in.Currency, in.From}, modelKey{in.Currency, in.To}
		if in.Amount <= 0 || in.From == in.To {
			fail("instruction %+v", in)
		}
		if balance[from] >= 0 || balance[to] <= 0 {
			fail("instruction %+v: payer must still owe and payee still be owed (%d, %d)", in, balance[from], balance[to])
		}
		balance[from] += in.Amount // the debtor pays: its debit shrinks
		balance[to] -= in.Amount
		count[in.Currency]++
		paid[in.Currency] += in.Amount
	}
	for k, b := range balance {
		if b != 0 {
			fail("%s %s: %d left after the instructions", k.cur, k.did.Short(), b)
		}
	}
	for _, c := range net.Currencies {
		s := sums[c.Currency.Code]
		if limit := max(s.nonZero-1, 0); count[c.Currency.Code] > limit {
			fail("%s: %d instructions for %d non-zero participants", c.Currency.Code, count[c.Currency.Code], s.nonZero)
		}
		if paid[c.Currency.Code] != c.NetDebit {
			fail("%s: instructed %d, net debit %d", c.Currency.Code, paid[c.Currency.Code], c.NetDebit)
		}
	}

	// Report, tree and round trips, under a random settlement policy: the
	// report's instructions are the plan's payments, each in the mode of its
	// currency's rule with the asset amount at the rule's rate.
	policy := randomPolicy(r)
	rep, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: ts, Currencies: curs, Policy: policy})
	if err != nil {
		fail("build report: %v", err)
	}
	tree := mustTree(t, ts)
	if rep.MerkleRoot != tree.Root() || rep.Transfers != len(ts) || !reflect.DeepEqual(rep.Netting, net) || len(rep.Instructions) != len(ins) {
		fail("report disagrees with Net, Plan and NewTree")
	}
	for i, in := range rep.Instructions {
		rule := policy.Rule(in.Currency)
		want := ins[i]
		want.Mode = rule.Mode
		if rule.Mode != settlement.ModeHoursTransfer {
			want.Asset = rule.Asset
			want.AssetAmount, err = rule.AssetUnits(want.Amount, curs[in.Currency].Scale)
			if err != nil {
				fail("convert: %v", err)
			}
		}
		if in != want {
			fail("instruction %d = %+v, want %+v", i, in, want)
		}
	}
	if _, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: ts, Currencies: curs,
		Policy: policy, Recorded: rep.Instructions}); err != nil {
		fail("the report's own instructions, as recorded, refused: %v", err)
	}
	back, err := settlement.ParseReport(rep.Canonical())
	if err != nil || !reflect.DeepEqual(back, rep) || back.Hash() != rep.Hash() {
		fail("ParseReport round trip: %v", err)
	}

	// Determinism: a shuffled copy gives identical results.
	sh := slices.Clone(ts)
	r.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
	net2 := mustNet(t, sh)
	if !reflect.DeepEqual(net2, net) || !reflect.DeepEqual(settlement.Plan(net2), ins) {
		fail("shuffled input: different netting or instructions")
	}
	rep2, err := settlement.BuildReport(settlement.ReportInput{Header: header, Transfers: sh, Currencies: curs, Policy: policy})
	if err != nil {
		fail("build shuffled report: %v", err)
	}
	if rep2.MerkleRoot != rep.MerkleRoot || rep2.Hash() != rep.Hash() || string(rep2.Canonical()) != string(rep.Canonical()) {
		fail("shuffled input: different root or report")
	}

	// Every proof verifies, and every co-op's offline check passes.
	for _, x := range ts {
		p, err := tree.Proof(x.ID)
		if err != nil || !settlement.VerifyProof(rep.MerkleRoot, x, p) {
			fail("proof of %s: %v", x.ID, err)
		}
	}
	coops := map[identity.DID]bool{}
	for _, f := range net.Figures {
		coops[f.DID] = true
	}
	for coop := range coops {
		own, proofs := proofsFor(t, tree, ts, coop)
		if err := settlement.VerifyCoop(rep, coop, own, proofs); err != nil {
			fail("VerifyCoop(%s): %v", coop.Short(), err)
		}
		if len(own) > 0 {
			// A co-op whose list lacks a transfer sees its figures differ.
			drop := r.IntN(len(own))
			less := slices.Delete(slices.Clone(own), drop, drop+1)
			if err := settlement.VerifyCoop(rep, coop, less, proofs); !errors.Is(err, settlement.ErrFigures) {
				fail("VerifyCoop without %s: %v", own[drop].ID, err)
			}
		}
	}

	if len(ts) == 0 {
		return
	}
	// The root commits to every transfer: any changed field, a missing or an
	// added transfer changes the root and breaks the proofs.
	i := r.IntN(len(ts))
	orig := ts[i]
	proof, _ := tree.Proof(orig.ID)
	other := all50(r, orig.From, orig.To)
	otherCur := kwh
	if orig.Amount.Currency() == kwh {
		otherCur = hours
	}
	for name, mut := range map[string]func(*clearing.Transfer){
		"id":       func(x *clearing.Transfer) { x.ID += "x" },
		"from":     func(x *clearing.Transfer) { x.From = other },
		"to":       func(x *clearing.Transfer) { x.To = other },
		"swap":     func(x *clearing.Transfer) { x.From, x.To = x.To, x.From },
		"currency": func(x *clearing.Transfer) { x.Amount = money.FromUnits(x.Amount.Units(), otherCur) },
		"scale": func(x *clearing.Transfer) {
			c := x.Amount.Currency()
			c.Scale++
			x.Amount = money.FromUnits(x.Amount.Units(), c)
		},
		"amount":     func(x *clearing.Transfer) { x.Amount = money.FromUnits(x.Amount.Units()+1, x.Amount.Currency()) },
		"period":     func(x *clearing.Transfer) { x.Period++ },
		"decided_at": func(x *clearing.Transfer) { x.DecidedAt++ },
	} {
		x := orig
		mut(&x)
		if settlement.VerifyProof(rep.MerkleRoot, x, proof) {
			fail("changed %s: old proof still verifies", name)
		}
		changed := slices.Clone(ts)
		changed[i] = x
		root, err := settlement.MerkleRoot(changed)
		if err == nil && root == rep.MerkleRoot {
			fail("changed %s: same root", name)
		}
		if err == nil {
			// The changed transfer cannot be proven under the old root by
			// its new proof either.
			nt := mustTree(t, changed)
			if p, _ := nt.Proof(x.ID); settlement.VerifyProof(rep.MerkleRoot, x, p) {
				fail("changed %s: new proof verifies under the old root", name)
			}
		}
	}
	// Missing transfer.
	less := slices.Delete(slices.Clone(ts), i, i+1)
	lessTree := mustTree(t, less)
	if lessTree.Root() == rep.MerkleRoot {
		fail("removed a transfer: same root")
	}
	if settlement.VerifyProof(lessTree.Root(), orig, proof) {
		fail("removed transfer still proven under the new root")
	}
	// Added transfer.
	extra := orig
	extra.ID = "extra-" + orig.ID
	more := append(slices.Clone(ts), extra)
	moreTree := mustTree(t, more)
	if moreTree.Root() == rep.MerkleRoot {
		fail("added a transfer: same root")
	}
	if p, _ := moreTree.Proof(extra.ID); settlement.VerifyProof(rep.MerkleRoot, extra, p) {
		fail("added transfer proven under the old root")
	}
	// The old proofs no longer lead to the new roots (sample a few).
	for range 5 {
		y := ts[r.IntN(len(ts))]
		p, _ := tree.Proof(y.ID)
		if settlement.VerifyProof(moreTree.Root(), y, p) || settlement.VerifyProof(lessTree.Root(), y, p) {
			fail("old proof of %s verifies under a changed tree", y.ID)
		}
	}
}

// all50 returns a participant other than a and b.
func all50(r *rand.Rand, a, b identity.DID) identity.DID {
	for {
		d := did(r.IntN(50))
		if d != a && d != b {
			return d
		}
	}
}
