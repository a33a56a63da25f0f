package settlement_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/settlement"
)

func TestConfirmation(t *testing.T) {
	r := mustReport(t, settlementTransfers{{"t1", 1001, 1002, 250}, {"t2", 1003, 1002, 100}}.list())
	if len(r.Instructions) != 2 {
		t.Fatalf("instructions %+v", r.Instructions)
	}
	c, err := settlement.ConfirmationFor(r, 0, settlement.KindPaid, settlement.MethodFiat, "IBAN ref 7")
	if err != nil {
		t.Fatal(err)
	}
	if c.Signer() != r.Instructions[0].From || c.ReportHash != r.Hash() || c.Amount != "2.50" {
		t.Fatalf("confirmation %+v", c)
	}
	payer := keyN(1001)
	s, err := settlement.SignConfirmation(payer, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := settlement.VerifyConfirmation(s)
	if err != nil || got != c {
		t.Fatalf("verify: %+v %v", got, err)
	}
	// The payee cannot sign a paid statement, nor anyone else a receipt.
	if _, err := settlement.SignConfirmation(keyN(1002), c); !errors.Is(err, settlement.ErrInvalidArgument) {
		t.Fatalf("payee signs paid: %v", err)
	}
	forged := identity.SignPayload(keyN(1002), identity.TagSettlementConfirmation, c.Encode())
	if _, err := settlement.VerifyConfirmation(forged); err == nil || !strings.Contains(err.Error(), "must be signed by") {
		t.Fatalf("forged: %v", err)
	}
	// A signature for another purpose does not verify.
	other := identity.SignPayload(payer, identity.TagReport, c.Encode())
	if _, err := settlement.VerifyConfirmation(other); err == nil {
		t.Fatal("report-tag signature verified as a confirmation")
	}
	s.Signature[0] ^= 1
	if _, err := settlement.VerifyConfirmation(s); err == nil {
		t.Fatal("tampered signature verified")
	}
	for _, bad := range []func(*settlement.Confirmation){
		func(c *settlement.Confirmation) { c.Kind = "refund" },
		func(c *settlement.Confirmation) { c.Method = "cash" },
		func(c *settlement.Confirmation) { c.Period = 0 },
		func(c *settlement.Confirmation) { c.From = "did:icn:x" },
		func(c *settlement.Confirmation) { c.Reference = strings.Repeat("x", settlement.MaxReferenceLen+1) },
	} {
		x := c
		bad(&x)
		if _, err := settlement.DecodeConfirmation(x.Encode()); !errors.Is(err, settlement.ErrInvalidArgument) {
			t.Errorf("%+v decoded: %v", x, err)
		}
	}
	for _, junk := range []string{"", "{}", `{"kind":"paid","extra":1}`, "[1]"} {
		if _, err := settlement.DecodeConfirmation([]byte(junk)); err == nil {
			t.Errorf("decoded %q", junk)
		}
	}
	if _, err := settlement.ConfirmationFor(r, 2, settlement.KindPaid, settlement.MethodFiat, ""); err == nil {
		t.Fatal("instruction out of range accepted")
	}
}

type settlementTransfer struct {
	id       string
	from, to int
	units    int64
}

type settlementTransfers []settlementTransfer

func (ts settlementTransfers) list() []clearing.Transfer {
	out := make([]clearing.Transfer, len(ts))
	for i, x := range ts {
		out[i] = tr(x.id, did(x.from), did(x.to), h(x.units))
	}
	return out
}
