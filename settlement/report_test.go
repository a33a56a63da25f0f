package settlement_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/settlement"
)

// smallPeriod: A pays B 10.00 and C 2.50 hours, B pays C 5.00 hours, C pays
// A 1.500 kWh.
func smallPeriod() []clearing.Transfer {
	return []clearing.Transfer{
		tr("t1", A, B, h(1000)), tr("t2", A, C, h(250)), tr("t3", B, C, h(500)), tr("t4", C, A, k(1500)),
	}
}

// TestCanonicalGolden: a version 1 report (a period closed before
// settlement modes) still encodes to exactly the bytes it had, so that a
// node rebuilding an old period's report gets the hash the hubs signed.
func TestCanonicalGolden(t *testing.T) {
	ts := smallPeriod()
	r := mustReportV1(t, ts)
	root, err := settlement.MerkleRoot(ts)
	if err != nil {
		t.Fatal(err)
	}
	// hours nets: A −12.50, B +5.00, C +7.50; kwh: C −1.500, A +1.500.
	fig := func(cur string, d identity.DID, sent, recv, net string, sn, rn int) string {
		return fmt.Sprintf(`{"currency":%q,"did":%q,"sent":%q,"received":%q,"net":%q,"sent_count":%d,"received_count":%d}`, cur, d, sent, recv, net, sn, rn)
	}
	hoursFigs := map[identity.DID]string{
		A: fig("hours", A, "12.50", "0.00", "-12.50", 2, 0),
		B: fig("hours", B, "5.00", "10.00", "5.00", 1, 1),
		C: fig("hours", C, "0.00", "7.50", "7.50", 0, 2),
	}
	kwhFigs := map[identity.DID]string{
		A: fig("kwh", A, "0.000", "1.500", "1.500", 0, 1),
		C: fig("kwh", C, "1.500", "0.000", "-1.500", 1, 0),
	}
	var parts []string
	for _, d := range sortedDIDs(A, B, C) {
		parts = append(parts, hoursFigs[d])
	}
	for _, d := range sortedDIDs(A, C) {
		parts = append(parts, kwhFigs[d])
	}
	// Creditors by amount: C 7.50 then B 5.00.
	want := `{"version":1,"federation":"` + string(Fed) + `","period":7,` +
		`"opened_at":"2023-11-03T08:26:40Z","closed_at":"2023-11-14T22:13:20.5Z","transfers":4,` +
		`"merkle_root":"` + hex.EncodeToString(root[:]) + `",` +
		`"currencies":[{"currency":"hours","scale":2,"transfers":3,"volume":"17.50","net_debit":"12.50","liquidity_saving":"0.285714"},` +
		`{"currency":"kwh","scale":3,"transfers":1,"volume":"1.500","net_debit":"1.500","liquidity_saving":"0.000000"}],` +
		`"participants":[` + strings.Join(parts, ",") + `],` +
		`"instructions":[{"currency":"hours","from":"` + string(A) + `","to":"` + string(C) + `","amount":"7.50"},` +
		`{"currency":"hours","from":"` + string(A) + `","to":"` + string(B) + `","amount":"5.00"},` +
		`{"currency":"kwh","from":"` + string(C) + `","to":"` + string(A) + `","amount":"1.500"}]}`
	got := r.Canonical()
	if string(got) != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
	if r.Hash() != sha256.Sum256([]byte(want)) {
		t.Fatal("Hash is not SHA-256 of the canonical bytes")
	}
	if b, err := json.Marshal(r); err != nil || !bytes.Equal(b, got) {
		t.Fatalf("MarshalJSON: %s, %v", b, err)
	}
	var back settlement.Report
	if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("UnmarshalJSON: %+v, %v", back, err)
	}
}

func sortedDIDs(ds ...identity.DID) []identity.DID {
	out := append([]identity.DID{}, ds...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestParseReportRejects(t *testing.T) {
	r := mustReportV1(t, smallPeriod())
	good := string(r.Canonical())
	if _, err := settlement.ParseReport([]byte(good)); err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(string) string{
		"trailing newline":  func(s string) string { return s + "\n" },
		"space after colon": func(s string) string { return strings.Replace(s, `"version":1`, `"version": 1`, 1) },
		"version 2":         func(s string) string { return strings.Replace(s, `"version":1`, `"version":2`, 1) },
		"version 3":         func(s string) string { return strings.Replace(s, `"version":1`, `"version":3`, 1) },
		"a mode in v1": func(s string) string {
			return strings.Replace(s, `"amount":"7.50"`, `"amount":"7.50","mode":"hours_transfer"`, 1)
		},
		"fields reordered": func(s string) string {
			return strings.Replace(s, `"version":1,"federation":"`+string(Fed)+`"`, `"federation":"`+string(Fed)+`","version":1`, 1)
		},
		"unknown field":      func(s string) string { return strings.Replace(s, `{"version":1,`, `{"version":1,"x":0,`, 1) },
		"repeated field":     func(s string) string { return strings.Replace(s, `"period":7,`, `"period":7,"period":7,`, 1) },
		"short scale":        func(s string) string { return strings.Replace(s, `"volume":"17.50"`, `"volume":"17.5"`, 1) },
		"volume":             func(s string) string { return strings.Replace(s, `"volume":"17.50"`, `"volume":"17.51"`, 1) },
		"saving":             func(s string) string { return strings.Replace(s, `"0.285714"`, `"0.285715"`, 1) },
		"saving as number":   func(s string) string { return strings.Replace(s, `"0.285714"`, `0.285714`, 1) },
		"amount as number":   func(s string) string { return strings.Replace(s, `"amount":"7.50"`, `"amount":7.50`, 1) },
		"instruction amount": func(s string) string { return strings.Replace(s, `"amount":"7.50"`, `"amount":"7.49"`, 1) },
		"instruction order": func(s string) string {
			return strings.Replace(s, `"to":"`+string(C)+`","amount":"7.50"`, `"to":"`+string(B)+`","amount":"7.50"`, 1)
		},
		"no instructions": func(s string) string { return s[:strings.Index(s, `"instructions":`)] + `"instructions":[]}` },
		"net":             func(s string) string { return strings.Replace(s, `"net":"-12.50"`, `"net":"-12.49"`, 1) },
		"timezone":        func(s string) string { return strings.Replace(s, `08:26:40Z`, `09:26:40+01:00`, 1) },
		"zero fraction":   func(s string) string { return strings.Replace(s, `08:26:40Z`, `08:26:40.000Z`, 1) },
		"closed first":    func(s string) string { return strings.Replace(s, `2023-11-14T22:13:20.5Z`, `2023-11-01T00:00:00Z`, 1) },
		"root upper case": func(s string) string {
			i := strings.Index(s, `"merkle_root":"`) + len(`"merkle_root":"`)
			return s[:i] + strings.ToUpper(s[i:i+64]) + s[i+64:]
		},
		"transfers":      func(s string) string { return strings.Replace(s, `"transfers":4`, `"transfers":5`, 1) },
		"bad federation": func(s string) string { return strings.Replace(s, string(Fed), "did:icn:fed", 1) },
		"period 0":       func(s string) string { return strings.Replace(s, `"period":7`, `"period":0`, 1) },
		"not json":       func(s string) string { return s[:len(s)-1] },
		"two values":     func(s string) string { return s + s },
	}
	for name, edit := range edits {
		bad := edit(good)
		if bad == good {
			t.Fatalf("%s: edit changed nothing", name)
		}
		if _, err := settlement.ParseReport([]byte(bad)); !errors.Is(err, settlement.ErrInvalidReport) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Check catches inconsistent reports built in Go (the hub's storage could
// hand one back).
func TestCheck(t *testing.T) {
	base := mustReport(t, smallPeriod())
	clone := func() settlement.Report {
		r := base
		r.Currencies = append([]settlement.Totals{}, base.Currencies...)
		r.Figures = append([]settlement.Figures{}, base.Figures...)
		r.Instructions = append([]settlement.Instruction{}, base.Instructions...)
		return r
	}
	for name, edit := range map[string]func(*settlement.Report){
		"unchanged (passes)": nil,
		"no transfers, root not empty": func(r *settlement.Report) {
			*r = mustReport(t, nil)
			r.MerkleRoot[0] ^= 1
		},
		"figure currency not listed": func(r *settlement.Report) { r.Figures[0].Currency = "eur" },
		"figures unsorted":           func(r *settlement.Report) { r.Figures[0], r.Figures[1] = r.Figures[1], r.Figures[0] },
		"balanced sent changed": func(r *settlement.Report) {
			r.Figures[0].Sent++
			r.Figures[0].Net--
		},
		"count without amount":    func(r *settlement.Report) { r.Figures[0].ReceivedCount++ },
		"currencies unsorted":     func(r *settlement.Report) { r.Currencies[0], r.Currencies[1] = r.Currencies[1], r.Currencies[0] },
		"net debit above volume":  func(r *settlement.Report) { r.Currencies[0].NetDebit = r.Currencies[0].Volume + 1 },
		"instruction dropped":     func(r *settlement.Report) { r.Instructions = r.Instructions[1:] },
		"negative transfers":      func(r *settlement.Report) { r.Transfers = -1 },
		"currency transfers":      func(r *settlement.Report) { r.Currencies[0].Transfers++ },
		"bad scale":               func(r *settlement.Report) { r.Currencies[1].Currency.Scale = 10 },
		"participant bad DID":     func(r *settlement.Report) { r.Figures[0].DID = "did:icn:x" },
		"opened after closed":     func(r *settlement.Report) { r.OpenedAt = r.ClosedAt + 1 },
		"figures of a non-sender": func(r *settlement.Report) { r.Figures[0].SentCount, r.Figures[0].Sent = 0, 0 },
	} {
		r := clone()
		if edit == nil {
			if err := r.Check(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		edit(&r)
		if err := r.Check(); !errors.Is(err, settlement.ErrInvalidReport) {
			t.Errorf("%s: %v", name, err)
		}
		// Canonical is defined for any report, and ParseReport refuses it.
		if _, err := settlement.ParseReport(r.Canonical()); !errors.Is(err, settlement.ErrInvalidReport) {
			t.Errorf("%s: ParseReport: %v", name, err)
		}
	}
}

func TestSignatures(t *testing.T) {
	r := mustReport(t, smallPeriod())
	other := mustReport(t, smallPeriod()[:3])
	n1, n2, n3, outsider := keyN(1), keyN(2), keyN(3), keyN(4)
	nodes := []identity.DID{n1.DID(), n2.DID(), n3.DID()}

	s1, s2, s3 := r.Sign(n1), r.Sign(n2), r.Sign(n3)
	if err := r.VerifySignature(s1); err != nil {
		t.Fatal(err)
	}
	if err := identity.VerifyDID(n1.DID(), identity.TagReport, func() []byte { h := r.Hash(); return h[:] }(), s1.Sig); err != nil {
		t.Fatal("signature is not over (icn/v1/report, hash):", err)
	}
	wrongTag := settlement.Signature{Signer: n2.DID(), Sig: n2.Sign(identity.TagPaymentIntent, func() []byte { h := r.Hash(); return h[:] }())}
	forged := settlement.Signature{Signer: n3.DID(), Sig: other.Sign(n3).Sig}
	truncated := settlement.Signature{Signer: n3.DID(), Sig: s3.Sig[:10]}
	if err := r.VerifySignature(forged); !errors.Is(err, identity.ErrBadSignature) {
		t.Fatal(err)
	}
	if err := r.VerifySignature(wrongTag); !errors.Is(err, identity.ErrBadSignature) {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		sigs  []settlement.Signature
		valid []identity.DID
		final bool
	}{
		{"none", nil, []identity.DID{}, false},
		{"one", []settlement.Signature{s2}, []identity.DID{n2.DID()}, false},
		{"one twice", []settlement.Signature{s2, s2}, []identity.DID{n2.DID()}, false},
		{"quorum", []settlement.Signature{s3, s1}, []identity.DID{n1.DID(), n3.DID()}, true},
		{"all", []settlement.Signature{s3, s2, s1}, nodes, true},
		{"outsider does not count", []settlement.Signature{s1, r.Sign(outsider)}, []identity.DID{n1.DID()}, false},
		{"other report's signature", []settlement.Signature{s1, forged}, []identity.DID{n1.DID()}, false},
		{"wrong tag", []settlement.Signature{s1, wrongTag}, []identity.DID{n1.DID()}, false},
		{"bad then good", []settlement.Signature{truncated, s1, s3}, []identity.DID{n1.DID(), n3.DID()}, true},
		{"garbage signer", []settlement.Signature{{Signer: "x", Sig: s1.Sig}, s1}, []identity.DID{n1.DID()}, false},
	} {
		valid, final, err := settlement.VerifySignatures(r, tc.sigs, nodes, 2)
		if err != nil || final != tc.final || !reflect.DeepEqual(valid, tc.valid) {
			t.Errorf("%s: valid %v final %v err %v; want %v %v", tc.name, valid, final, err, tc.valid, tc.final)
		}
	}
	for name, args := range map[string]struct {
		nodes  []identity.DID
		quorum int
	}{
		"quorum 0":       {nodes, 0},
		"quorum 4 of 3":  {nodes, 4},
		"node twice":     {[]identity.DID{n1.DID(), n1.DID()}, 1},
		"malformed node": {[]identity.DID{"did:icn:node"}, 1},
	} {
		if _, _, err := settlement.VerifySignatures(r, []settlement.Signature{s1}, args.nodes, args.quorum); !errors.Is(err, settlement.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}

	b, err := json.Marshal(s1)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"signer":"` + string(n1.DID()) + `","sig":"` + identity.B64(s1.Sig) + `"}`; string(b) != want {
		t.Fatalf("%s, want %s", b, want)
	}
	var back settlement.Signature
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, s1) {
		t.Fatalf("%+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"signer":"x","sig":"a+b="}`), &back); err == nil {
		t.Fatal("accepted standard base64")
	}
}

func TestVerifyCoop(t *testing.T) {
	ts := smallPeriod()
	r := mustReport(t, ts)
	tree := mustTree(t, ts)
	for _, coop := range []identity.DID{A, B, C} {
		own, proofs := proofsFor(t, tree, ts, coop)
		if err := settlement.VerifyCoop(r, coop, own, proofs); err != nil {
			t.Fatalf("%s: %v", coop.Short(), err)
		}
	}
	// A participant without transfers: nothing to show, nothing in the report.
	if err := settlement.VerifyCoop(r, D, nil, nil); err != nil {
		t.Fatal(err)
	}
	own, proofs := proofsFor(t, tree, ts, A) // t1 A→B 10.00h, t2 A→C 2.50h, t4 C→A 1.500 kWh

	is := func(t *testing.T, err error, kinds ...error) {
		t.Helper()
		for _, k := range kinds {
			if !errors.Is(err, k) {
				t.Fatalf("error %v is not %v", err, k)
			}
		}
	}
	t.Run("missing transfer in own list", func(t *testing.T) {
		err := settlement.VerifyCoop(r, A, own[1:], proofs)
		var fe *settlement.FigureError
		if !errors.As(err, &fe) || fe.Currency != "hours" || fe.Field != "sent" || fe.Reported != 1250 || fe.Computed != 250 {
			t.Fatalf("%v", err)
		}
		is(t, err, settlement.ErrFigures)
	})
	t.Run("amount changed", func(t *testing.T) {
		o := append([]clearing.Transfer{}, own...)
		o[0].Amount = h(999)
		err := settlement.VerifyCoop(r, A, o, proofs)
		var ie *settlement.InclusionError
		if !errors.As(err, &ie) || ie.ID != "t1" {
			t.Fatalf("%v", err)
		}
		is(t, err, settlement.ErrNotIncluded, settlement.ErrFigures)
	})
	t.Run("report lies about the co-op", func(t *testing.T) {
		// A different, self-consistent report: t2 counted as 2.49.
		ts2 := smallPeriod()
		ts2[1].Amount = h(249)
		r2 := mustReport(t, ts2)
		r2.MerkleRoot = r.MerkleRoot
		is(t, settlement.VerifyCoop(r2, A, own, proofs), settlement.ErrFigures)
		is(t, settlement.VerifyCoop(r2, C, own[1:], proofs), settlement.ErrFigures)
	})
	t.Run("foreign transfer", func(t *testing.T) {
		o := append(append([]clearing.Transfer{}, own...), ts[2]) // B→C
		p, _ := tree.Proof("t3")
		ps := map[string]settlement.Proof{"t3": p}
		for k, v := range proofs {
			ps[k] = v
		}
		is(t, settlement.VerifyCoop(r, A, o, ps), settlement.ErrForeignTransfer)
	})
	t.Run("no proof", func(t *testing.T) {
		is(t, settlement.VerifyCoop(r, A, own, map[string]settlement.Proof{"t1": proofs["t1"], "t4": proofs["t4"]}), settlement.ErrNoProof)
	})
	t.Run("proof for another tree size", func(t *testing.T) {
		ps := map[string]settlement.Proof{}
		for k, v := range proofs {
			v.Count++
			ps[k] = v
		}
		is(t, settlement.VerifyCoop(r, A, own, ps), settlement.ErrNotIncluded)
	})
	t.Run("proof of another transfer", func(t *testing.T) {
		is(t, settlement.VerifyCoop(r, A, own, map[string]settlement.Proof{"t1": proofs["t2"], "t2": proofs["t2"], "t4": proofs["t4"]}), settlement.ErrNotIncluded)
	})
	t.Run("wrong period", func(t *testing.T) {
		o := append([]clearing.Transfer{}, own...)
		o[0].Period = period + 1
		is(t, settlement.VerifyCoop(r, A, o, proofs), settlement.ErrWrongPeriod, settlement.ErrFigures)
	})
	t.Run("duplicate", func(t *testing.T) {
		is(t, settlement.VerifyCoop(r, A, append(own, own[0]), proofs), settlement.ErrDuplicate)
	})
	t.Run("not committed", func(t *testing.T) {
		o := append([]clearing.Transfer{}, own...)
		o[0].State = clearing.StateAborted
		is(t, settlement.VerifyCoop(r, A, o, proofs), settlement.ErrInvalidTransfer)
	})
	t.Run("scale differs", func(t *testing.T) {
		o := append([]clearing.Transfer{}, own...)
		o[2].Amount = h(1500) // kWh transfer recorded as hours: no hours received in the report
		is(t, settlement.VerifyCoop(r, A, o, proofs), settlement.ErrNotIncluded, settlement.ErrFigures)
	})
	t.Run("inconsistent report", func(t *testing.T) {
		bad := r
		bad.Instructions = nil
		err := settlement.VerifyCoop(bad, A, own, proofs)
		is(t, err, settlement.ErrInvalidReport)
		if errors.Is(err, settlement.ErrFigures) {
			t.Fatal("went on after the report failed Check")
		}
	})
	t.Run("bad co-op DID", func(t *testing.T) {
		is(t, settlement.VerifyCoop(r, "did:icn:a", own, proofs), settlement.ErrInvalidArgument)
	})
}
