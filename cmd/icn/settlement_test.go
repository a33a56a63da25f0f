package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

func propose(t *testing.T, n *hub.Node, cmd *icnv1.Command) *icnv1.CommandResult {
	t.Helper()
	res, err := n.Propose(context.Background(), cmd)
	if err != nil || res.GetErrorCode() != "" {
		t.Fatalf("propose %T: %v %s %s", cmd.GetCmd(), err, res.GetErrorCode(), res.GetErrorMessage())
	}
	return res
}

// addCoop registers a co-op that trusts and is trusted by the federation, with a cap.
func addCoop(t *testing.T, n *hub.Node, fed, k *identity.Key, name string) {
	t.Helper()
	propose(t, n, &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
		Did: string(k.DID()), Name: name, Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP}}})
	for _, e := range [][2]*identity.Key{{fed, k}, {k, fed}} {
		s, err := trust.Sign(e[0], trust.Attestation{From: e[0].DID(), To: e[1].DID(), Weight: trust.Scale, IssuedAt: 1})
		if err != nil {
			t.Fatal(err)
		}
		propose(t, n, &icnv1.Command{Cmd: &icnv1.Command_SetTrust{SetTrust: &icnv1.SetTrust{Attestation: &icnv1.SignedMessage{
			Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}}})
	}
	propose(t, n, &icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{SetCreditPolicy: &icnv1.SetCreditPolicy{
		Did: string(k.DID()), Currency: "hours", DebitCapUnits: 1_000_000}}})
}

func pay(t *testing.T, n *hub.Node, id string, from, to identity.DID, units int64) {
	t.Helper()
	propose(t, n, &icnv1.Command{Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: &icnv1.PrepareTransfer{
		Id: id, From: string(from), To: string(to), Currency: "hours", AmountUnits: units, ExpiresAtUnixNano: time.Now().Add(time.Hour).UnixNano()}}})
	propose(t, n, &icnv1.Command{Cmd: &icnv1.Command_CommitTransfer{CommitTransfer: &icnv1.CommitTransfer{Id: id}}})
}

func csvRows(t *testing.T, out string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, out)
	}
	return rows
}

// TestSettlementCommands closes a period with the CLI, shows it in every
// output format, writes the report and a co-op's proofs, verifies them
// offline (and fails on tampered files), and pays and confirms.
func TestSettlementCommands(t *testing.T) {
	clearHubEnv(t)
	c := startOpCluster(t)
	dir := t.TempDir()
	l := c.nodes[c.leader(t)]
	a, b := genKey(t), genKey(t)
	aFile, bFile := writeKey(t, dir, "a.key", a), writeKey(t, dir, "b.key", b)
	addCoop(t, l, c.fed, a, "coop-a")
	addCoop(t, l, c.fed, b, "coop-b")
	conn := []string{"--hub", strings.Join(c.addrs, ","), "--hub-did", c.hubDIDs()}
	// The federation settles hours through the fiat bridge at 15.50 EUR an hour.
	out := mustICN(t, append([]string{"federation", "settlement", "set", "--currency", "hours", "--mode", "fiat",
		"--asset", "EUR", "--asset-scale", "2", "--rate", "15.50", "--key", c.opFile}, conn...)...)
	wantContains(t, "settlement set", out, "hours", "fiat", "EUR", "15.5")
	_, err := runICN(t, append([]string{"federation", "settlement", "set", "--currency", "hours", "--mode", "fiat",
		"--asset", "EUR", "--rate", "-1", "--key", c.opFile}, conn...)...)
	wantContains(t, "bad rate", errString(err), "--rate")
	pay(t, l, "p1", a.DID(), b.DID(), 500)
	pay(t, l, "p2", b.DID(), a.DID(), 125)

	as := func(key string, args ...string) []string {
		return append(append(append([]string{"settlement"}, args...), conn...), "--key", key)
	}
	out = mustICN(t, as(c.opFile, "close")...)
	wantContains(t, "close", out, "closed period", "1")
	waitUntil(t, "3 report signatures", func() bool {
		for _, n := range c.nodes {
			r, ok, _ := n.FSM().SettlementPeriod(1)
			if !ok || len(r.GetSignatures()) < 3 {
				return false
			}
		}
		return true
	})

	// list: table, json, csv.
	wantContains(t, "list", mustICN(t, as(c.opFile, "list")...), "PERIOD", "STATE", "final", "open")
	v := decodeJSON(t, mustICN(t, as(aFile, "list", "-o", "json")...))
	if ps, _ := v["periods"].([]any); len(ps) != 2 {
		t.Fatalf("list json: %v", v)
	}
	rows := csvRows(t, mustICN(t, as(c.opFile, "list", "-o", "csv")...))
	if len(rows) != 3 || rows[0][0] != "period" || rows[2][0] != "1" || rows[2][1] != "final" || len(rows[2]) != 13 {
		t.Fatalf("list csv: %v", rows)
	}
	if _, err := runICN(t, as(c.opFile, "list", "-o", "xml")...); err == nil || !strings.Contains(err.Error(), "table, json or csv") {
		t.Fatalf("bad output format: %v", err)
	}

	// show: table, json, csv.
	out = mustICN(t, as(bFile, "show", "1")...)
	wantContains(t, "show", out, "coop-a", "coop-b", "3.75", "-3.75", "outstanding", "3 of 3", "CURRENCY", "RECEIVED")
	v = decodeJSON(t, mustICN(t, as(c.opFile, "show", "1", "-o", "json")...))
	ins, _ := v["instructions"].([]any)
	if len(ins) != 1 || v["state"] != "final" || v["report"] == nil {
		t.Fatalf("show json: %v", v)
	}
	rows = csvRows(t, mustICN(t, as(c.opFile, "show", "1", "-o", "csv")...))
	if len(rows) != 2 || rows[0][1] != "index" || rows[1][1] != "0" || rows[1][7] != "3.75" || rows[1][8] != "outstanding" {
		t.Fatalf("show csv: %v", rows)
	}
	rows = csvRows(t, mustICN(t, as(c.opFile, "show", "1", "-o", "csv", "--figures")...))
	if len(rows) != 3 || rows[0][4] != "sent" {
		t.Fatalf("show csv figures: %v", rows)
	}
	if _, err := runICN(t, as(c.opFile, "show", "9")...); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("show unknown period: %v", err)
	}
	if _, err := runICN(t, as(c.opFile, "show", "x")...); err == nil || !strings.Contains(err.Error(), "want a number") {
		t.Fatalf("show bad period: %v", err)
	}

	// report and proof files, then offline verification.
	reportFile := filepath.Join(dir, "report-1.json")
	mustICN(t, as(aFile, "report", "1", "--out", reportFile)...)
	raw, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	sigs, err := os.ReadFile(filepath.Join(dir, "report-1.sigs.json"))
	if err != nil || !strings.Contains(string(sigs), hex.EncodeToString(sum[:])) {
		t.Fatalf("signatures file: %v %s", err, sigs)
	}
	proofFile := filepath.Join(dir, "proofs-a.json")
	mustICN(t, as(aFile, "proof", "--coop", string(a.DID()), "--period", "1", "--out", proofFile)...)
	if _, err := runICN(t, as(aFile, "proof", "--coop", string(b.DID()), "--period", "1")...); err == nil || !strings.Contains(err.Error(), "own proofs") {
		t.Fatalf("proofs of another co-op: %v", err)
	}
	out = mustICN(t, "settlement", "verify", "--report", reportFile, "--transfers", proofFile)
	wantContains(t, "verify", out, "ok:", "final", "2 transfers")

	tamper := func(name, src, old, new string) string {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s: %q not in %s", name, old, src)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badReport := tamper("bad-report.json", reportFile, `"amount":"3.75"`, `"amount":"3.70"`)
	if err := os.WriteFile(sigsPath(badReport), sigs, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runICN(t, "settlement", "verify", "--report", badReport, "--transfers", proofFile)
	wantContains(t, "tampered report", errString(err), "verify failed", "instructions")
	badTransfers := tamper("bad-proofs.json", proofFile, `"amount": "5.00"`, `"amount": "4.00"`)
	_, err = runICN(t, "settlement", "verify", "--report", reportFile, "--transfers", badTransfers)
	wantContains(t, "tampered transfers", errString(err), "verify failed", "p1", "sent")
	_, err = runICN(t, "settlement", "verify", "--report", reportFile, "--transfers", proofFile, "--hub-nodes", string(genKey(t).DID()))
	wantContains(t, "foreign hub nodes", errString(err), "not final", "0 of 1")
	_, err = runICN(t, "settlement", "verify", "--transfers", proofFile)
	wantContains(t, "no report", errString(err), "--report is required")

	// The instruction settles by fiat: 3.75 hours at 15.50 = 58.125, 58.13 EUR.
	wantContains(t, "show fiat", mustICN(t, as(aFile, "show", "1")...), "SETTLES BY", "fiat 58.13 EUR")

	// pay and confirm with the co-ops' keys.
	_, err = runICN(t, as(bFile, "pay", "--period", "1", "--instruction", "0", "--reference", "SEPA 1")...)
	wantContains(t, "payee pays", errString(err), "payer is "+string(a.DID()))
	_, err = runICN(t, as(aFile, "pay", "--period", "1", "--instruction", "0", "--method", "cash")...)
	wantContains(t, "bad method", errString(err), "--method must be")
	_, err = runICN(t, as(aFile, "pay", "--period", "1", "--instruction", "0", "--method", "hours_transfer", "--reference", "x")...)
	wantContains(t, "other mode", errString(err), "settles by fiat")
	_, err = runICN(t, as(aFile, "pay", "--period", "1", "--instruction", "0")...)
	wantContains(t, "fiat without reference", errString(err), "--reference is required", "bank's reference")
	_, err = runICN(t, as(bFile, "confirm", "--period", "1", "--instruction", "0")...)
	wantContains(t, "confirm before paid", errString(err), "FailedPrecondition", "not_paid")
	out = mustICN(t, as(aFile, "pay", "--period", "1", "--instruction", "0", "--reference", "SEPA 1")...)
	wantContains(t, "pay", out, "paid", "SEPA 1", "3.75", "fiat")
	v = decodeJSON(t, mustICN(t, as(bFile, "confirm", "--period", "1", "--instruction", "0", "-o", "json")...))
	if v["confirmed"] != true {
		t.Fatalf("confirm json: %v", v)
	}
	wantContains(t, "show settled", mustICN(t, as(c.opFile, "list")...), "settled")
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// rfc3339 fails the test unless v is an RFC 3339 time string.
func rfc3339(t *testing.T, what string, v any) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Errorf("%s: %v (%T), want an RFC 3339 string", what, v, v)
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		t.Errorf("%s: %q: %v", what, s, err)
	}
}

// number fails the test unless v is the JSON number want.
func number(t *testing.T, what string, v any, want float64) {
	t.Helper()
	if f, ok := v.(float64); !ok || f != want {
		t.Errorf("%s: %v (%T), want the JSON number %v", what, v, v, want)
	}
}

// TestSettlementCLIDetails: -o json of every icn settlement command prints
// counts, periods and indexes as JSON numbers and times as RFC 3339;
// closing a period that is no longer open says so; proof takes a co-op's
// registered name.
func TestSettlementCLIDetails(t *testing.T) {
	clearHubEnv(t)
	c := startOpCluster(t)
	dir := t.TempDir()
	l := c.nodes[c.leader(t)]
	a, b, x, y := genKey(t), genKey(t), genKey(t), genKey(t)
	aFile := writeKey(t, dir, "a.key", a)
	addCoop(t, l, c.fed, a, "Alder Co-op")
	addCoop(t, l, c.fed, b, "Birch Co-op")
	addCoop(t, l, c.fed, x, "Twin")
	addCoop(t, l, c.fed, y, "Twin")
	pay(t, l, "d1", a.DID(), b.DID(), 420)
	pay(t, l, "d2", x.DID(), y.DID(), 10)
	conn := []string{"--hub", strings.Join(c.addrs, ","), "--hub-did", c.hubDIDs()}
	as := func(key string, args ...string) []string {
		return append(append(append([]string{"settlement"}, args...), conn...), "--key", key)
	}

	v := decodeJSON(t, mustICN(t, as(c.opFile, "close", "-o", "json")...))
	number(t, "close period", v["period"], 1)
	number(t, "close transfers", v["transfers"], 2)
	rfc3339(t, "close closed_at", v["closed_at"])
	rfc3339(t, "close opened_at", v["opened_at"])

	// Period 2 is open now.
	_, err := runICN(t, as(c.opFile, "close", "--period", "1")...)
	if s := errString(err); !strings.Contains(s, "period 1 is already closed") || !strings.Contains(s, "the open period is 2") || strings.Contains(s, "period 2 cannot") {
		t.Errorf("close --period 1 with 2 open: %s", s)
	}
	_, err = runICN(t, as(c.opFile, "close", "--period", "5")...)
	wantContains(t, "close --period 5 with 2 open", errString(err), "period 5 is not open yet", "the open period is 2")

	waitUntil(t, "period 1 final", func() bool {
		r, ok, _ := l.FSM().SettlementPeriod(1)
		return ok && len(r.GetSignatures()) >= 2
	})
	v = decodeJSON(t, mustICN(t, as(aFile, "list", "-o", "json")...))
	ps, _ := v["periods"].([]any)
	if len(ps) != 2 {
		t.Fatalf("list json: %v", v)
	}
	for i, want := range []float64{2, 1} {
		p, _ := ps[i].(map[string]any)
		number(t, "list period", p["period"], want)
		number(t, "list transfers", p["transfers"], map[float64]float64{2: 0, 1: 2}[want])
		rfc3339(t, "list opened_at", p["opened_at"])
		if want == 1 {
			rfc3339(t, "list closed_at", p["closed_at"])
			number(t, "list instructions", p["instructions"], 2)
			number(t, "list quorum", p["quorum"], 2)
		} else if _, ok := p["closed_at"]; ok {
			t.Errorf("the open period has a closed_at: %v", p)
		}
	}

	v = decodeJSON(t, mustICN(t, as(aFile, "show", "1", "-o", "json")...))
	number(t, "show period", v["period"], 1)
	ins, _ := v["instructions"].([]any)
	if len(ins) != 2 {
		t.Fatalf("show json: %v", v)
	}
	for i, in := range ins {
		m, _ := in.(map[string]any)
		number(t, "show instruction index", m["index"], float64(i))
		number(t, "show instruction period", m["period"], 1)
		if m["amount"] != map[int]string{0: "4.20", 1: "0.10"}[i] {
			t.Errorf("show instruction %d amount %v: want a decimal string", i, m["amount"])
		}
	}

	v = decodeJSON(t, mustICN(t, as(aFile, "pay", "--period", "1", "--instruction", "0", "-o", "json")...))
	number(t, "pay index", v["index"], 0)
	number(t, "pay period", v["period"], 1)
	rfc3339(t, "pay paid_at", v["paid_at"])
	if v["status"] != "paid" || v["paid"] != true || v["amount"] != "4.20" {
		t.Errorf("pay json: %v", v)
	}

	// proof by name: the same file as by DID, and verify accepts it.
	byDID := mustICN(t, as(aFile, "proof", "--coop", string(a.DID()), "--period", "1")...)
	for _, name := range []string{"Alder Co-op", "alder co-op"} {
		if got := mustICN(t, as(aFile, "proof", "--coop", name, "--period", "1")...); got != byDID {
			t.Errorf("proof --coop %q differs from --coop DID:\n%s\n%s", name, got, byDID)
		}
	}
	v = decodeJSON(t, byDID)
	number(t, "proof period", v["period"], 1)
	ts, _ := v["transfers"].([]any)
	if len(ts) != 1 {
		t.Fatalf("proof: %v", v)
	}
	tr, _ := ts[0].(map[string]any)
	rfc3339(t, "proof decided_at", tr["decided_at"])
	reportFile, proofFile := filepath.Join(dir, "report-1.json"), filepath.Join(dir, "proofs-a.json")
	mustICN(t, as(aFile, "report", "1", "--out", reportFile)...)
	mustICN(t, as(aFile, "proof", "--coop", "Alder Co-op", "--period", "1", "--out", proofFile)...)
	wantContains(t, "verify a proof file fetched by name", mustICN(t, "settlement", "verify", "--report", reportFile, "--transfers", proofFile), "ok:", "1 transfers")
	// A file of an earlier version (decided_at in unix ns) still verifies.
	old := regexp.MustCompile(`"decided_at": "[^"]+"`).ReplaceAllString(byDID, `"decided_at": `+strconv.FormatInt(decidedAt(t, l, "d1"), 10))
	oldFile := filepath.Join(dir, "proofs-old.json")
	if err := os.WriteFile(oldFile, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "verify a unix-ns proof file", mustICN(t, "settlement", "verify", "--report", reportFile, "--transfers", oldFile), "ok:")

	_, err = runICN(t, as(c.opFile, "proof", "--coop", "Twin", "--period", "1")...)
	wantContains(t, "ambiguous name", errString(err), "names 2 co-ops", string(x.DID()), string(y.DID()))
	_, err = runICN(t, as(c.opFile, "proof", "--coop", "Nobody", "--period", "1")...)
	wantContains(t, "unknown name", errString(err), `no co-op of period 1`, `"Alder Co-op"`)
	_, err = runICN(t, as(c.opFile, "proof", "--coop", "did:icn:nope", "--period", "1")...)
	wantContains(t, "bad DID", errString(err), "--coop")
}

// decidedAt is the commit time the hub recorded for transfer id.
func decidedAt(t *testing.T, n *hub.Node, id string) int64 {
	t.Helper()
	tr, ok, err := n.FSM().Transfer(id)
	if err != nil || !ok {
		t.Fatalf("transfer %s: %v %v", id, ok, err)
	}
	return tr.GetDecidedAtUnixNano()
}
