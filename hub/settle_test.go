package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/fsm"
	"github.com/icn-coop/icn/hub/internal/hubtest"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

// waitFinal waits until every running node holds period p's record with
// at least sigs signatures and returns the leader's.
func (c *testCluster) waitSigned(p uint64, sigs int) *icnv1.SettlementPeriod {
	c.t.Helper()
	var rec *icnv1.SettlementPeriod
	waitFor(c.t, 15*time.Second, fmt.Sprintf("%d signatures on period %d", sigs, p), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			r, ok, err := n.fsm.SettlementPeriod(p)
			if err != nil {
				c.t.Fatal(err)
			}
			if !ok || len(r.GetSignatures()) < sigs {
				return false
			}
			rec = r
		}
		return true
	})
	return rec
}

// propose runs cmd on whichever node leads, retrying through leader
// changes for up to 10 s under a request id, so a retry after an ambiguous
// failure gets the first result; it fails the test on a refusal.
func (c *testCluster) propose(ctx context.Context, cmd *icnv1.Command) *icnv1.CommandResult {
	c.t.Helper()
	if cmd.RequestId == "" {
		cmd.RequestId = reqID()
	}
	var res *icnv1.CommandResult
	var err error
	waitFor(c.t, 10*time.Second, fmt.Sprintf("a leader to apply %T", cmd.GetCmd()), func() bool {
		res, err = c.forwardToLeader(ctx, cmd)
		return err == nil
	})
	if res.GetErrorCode() != "" {
		c.t.Fatalf("propose %T: %s: %s", cmd.GetCmd(), res.GetErrorCode(), res.GetErrorMessage())
	}
	return res
}

// setupCoops is setupFederation through c.propose.
func (c *testCluster) setupCoops(ctx context.Context, coops int, capUnits int64) []*identity.Key {
	c.t.Helper()
	var keys []*identity.Key
	for i := 0; i < coops; i++ {
		k := newKey(c.t)
		keys = append(keys, k)
		for _, cmd := range []*icnv1.Command{cmdRegister(k, fmt.Sprintf("coop-%d", i)),
			cmdTrust(c.t, c.fed, k.DID(), "1", 1), cmdTrust(c.t, k, c.fed.DID(), "1", 1), cmdCap(k.DID(), capUnits)} {
			c.propose(ctx, cmd)
		}
	}
	return keys
}

// closePeriod closes period p on whichever node leads, retrying through
// leader changes (the close is keyed by its period, so a retry is safe).
func (c *testCluster) closePeriod(ctx context.Context, p uint64) {
	c.t.Helper()
	waitFor(c.t, 15*time.Second, fmt.Sprintf("period %d to close", p), func() bool {
		_, l := c.leader()
		got, err := l.ClosePeriod(ctx, p, "")
		var ce *fsm.CommandError
		switch {
		case err == nil:
			return got == p
		case errors.As(err, &ce) && ce.Code == fsm.CodePeriod:
			cur, _ := l.fsm.CurrentPeriod()
			return cur > p
		}
		return false
	})
}

// periodTransfers reads the ids in a period's index on one node.
func periodTransfers(t *testing.T, n *Node, p uint64) []clearing.Transfer {
	t.Helper()
	in, ok, err := n.fsm.ReportInput(p)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		// The open period: read the index directly.
		return nil
	}
	return in.Transfers
}

// TestSettlementCloseWhilePaying closes periods while payments stream in:
// every committed transfer lands in exactly one period, each report nets
// exactly its period's transfers, all nodes build the same report and all
// three signatures make it final.
func TestSettlementCloseWhilePaying(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	c.leader()
	coops := c.setupCoops(ctx, 5, 1_000_000_000)
	exp := time.Now().Add(time.Hour).UnixNano()

	// A transfer prepared in period 1 and committed after its close belongs to period 2.
	c.propose(ctx, cmdPrepare("straddle", coops[0].DID(), coops[1].DID(), 777, exp))

	var mu sync.Mutex
	committed := map[string]uint64{} // id → period the commit result named
	stop := make(chan struct{})
	// run proposes on whichever node leads, retrying through leader changes:
	// prepare and commit are keyed by the transfer id, so a retry is safe.
	run := func(cmd *icnv1.Command) (*icnv1.CommandResult, bool) {
		for attempt := 0; attempt < 1000; attempt++ {
			if res, err := c.forwardToLeader(ctx, cmd); err == nil {
				return res, true
			}
			select {
			case <-stop:
				return nil, false
			case <-time.After(10 * time.Millisecond): // retry backoff
			}
		}
		t.Errorf("no leader took %T for 10s", cmd.GetCmd())
		return nil, false
	}
	var wg sync.WaitGroup
	var once sync.Once
	stopWriters := func() {
		once.Do(func() { close(stop) })
		wg.Wait()
	}
	defer stopWriters()
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				from, to := coops[(w+i)%5], coops[(w+2*i+1)%5]
				if from == to {
					to = coops[(w+i+1)%5]
				}
				if _, ok := run(cmdPrepare(id, from.DID(), to.DID(), int64(1+(i*37+w)%500), exp)); !ok {
					return
				}
				res, ok := run(cmdCommit(id))
				if !ok {
					return
				}
				if tr := res.GetTransfer(); tr.GetState() == icnv1.TransferState_TRANSFER_STATE_COMMITTED {
					mu.Lock()
					committed[id] = tr.GetPeriod()
					mu.Unlock()
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(committed) }
	waitFor(t, 10*time.Second, "payments in period 1", func() bool { return count() >= 30 })
	c.closePeriod(ctx, 1)
	res, _ := run(cmdCommit("straddle"))
	if res.GetTransfer().GetPeriod() != 2 {
		t.Fatalf("straddling transfer committed into period %d, want 2", res.GetTransfer().GetPeriod())
	}
	mu.Lock()
	committed["straddle"] = 2
	mu.Unlock()
	n1 := count()
	waitFor(t, 10*time.Second, "payments in period 2", func() bool { return count() >= n1+30 })
	c.closePeriod(ctx, 2)
	stopWriters()
	// A retry of the close of period 2 is answered with its first result;
	// another request to close period 2 is refused.
	_, l := c.leader()
	if got, err := l.ClosePeriod(ctx, 2, ""); err != nil || got != 2 {
		t.Fatalf("retried close of period 2: %d %v", got, err)
	}
	var ce *fsm.CommandError
	if _, err := l.ClosePeriod(ctx, 2, "another request"); !errors.As(err, &ce) || ce.Code != fsm.CodePeriod {
		t.Fatalf("second close of period 2: %v", err)
	}
	if cur, _ := l.fsm.CurrentPeriod(); cur != 3 {
		t.Fatalf("open period %d after closing 2, want 3", cur)
	}
	c.converge()

	byPeriod := map[uint64][]string{}
	for id, p := range committed {
		byPeriod[p] = append(byPeriod[p], id)
	}
	for _, p := range []uint64{1, 2} {
		rec := c.waitSigned(p, 3)
		var hash [32]byte
		for i, n := range c.nodes {
			ts := periodTransfers(t, n, p)
			ids := make([]string, len(ts))
			for j, tr := range ts {
				ids[j] = tr.ID
			}
			want := slices.Sorted(slices.Values(byPeriod[p]))
			if !slices.Equal(ids, want) {
				t.Fatalf("node %d period %d: index holds %d transfers, %d committed into it", i, p, len(ids), len(want))
			}
			rep, _, err := n.Report(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			net, err := settlement.Net(ts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rep.Netting, net) || rep.Transfers != len(want) {
				t.Fatalf("node %d period %d: report figures differ from netting its transfers", i, p)
			}
			if i == 0 {
				hash = rep.Hash()
			} else if rep.Hash() != hash {
				t.Fatalf("node %d built a different report for period %d", i, p)
			}
			v, err := n.PeriodView(ctx, p, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if v.State != settlement.StateFinal && !(v.State == settlement.StateSettled && len(rep.Instructions) == 0) {
				t.Fatalf("node %d period %d state %s", i, p, v.State)
			}
			valid, final, err := settlement.VerifySignatures(v.Report, v.Signatures, v.HubNodes, v.Quorum)
			if err != nil || !final || len(valid) != 3 || v.Quorum != 2 {
				t.Fatalf("node %d period %d: signatures valid %v final %v quorum %d: %v", i, p, valid, final, v.Quorum, err)
			}
		}
		if string(rec.GetReportHash()) != string(hash[:]) {
			t.Fatalf("recorded hash differs from the built one")
		}
	}
	// Every committed transfer is in exactly one period: 1, 2 or the open 3.
	for id, p := range committed {
		if p < 1 || p > 3 {
			t.Fatalf("%s committed into period %d", id, p)
		}
	}
	_, l = c.leader()
	periods, err := l.Periods(ctx, time.Now())
	if err != nil || len(periods) != 3 || periods[0].State != settlement.StateOpen || periods[0].Number != 3 {
		t.Fatalf("periods: %+v %v", periods, err)
	}
}

// TestSettlementNodeDownAtClose: a node that was down when a period closed
// signs its report when it comes back, and a restarted node that already
// signed submits nothing again.
func TestSettlementNodeDownAtClose(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	c.leader()
	coops := c.setupCoops(ctx, 3, 1_000_000)
	exp := time.Now().Add(time.Hour).UnixNano()
	c.propose(ctx, cmdPrepare("a", coops[0].DID(), coops[1].DID(), 100, exp))
	c.propose(ctx, cmdCommit("a"))
	c.converge()
	li, _ := c.leader()
	down := follower(li)
	c.stop(down)
	c.closePeriod(ctx, 1)
	rec := c.waitSigned(1, 2)
	if slices.ContainsFunc(rec.GetSignatures(), func(s *icnv1.ReportSignature) bool { return s.GetSigner() == string(c.keys[down].DID()) }) {
		t.Fatal("the stopped node signed")
	}
	if v, err := c.nodes[li].PeriodView(ctx, 1, time.Now()); err != nil || v.State != settlement.StateFinal {
		t.Fatalf("with 2 of 3 signatures: %s %v", v.State, err)
	}
	c.restart(down)
	c.waitSigned(1, 3)
	c.converge()
	// Restart the node that signed: it finds its signature in the state and has nothing to submit.
	c.stop(down)
	c.restart(down)
	c.converge()
	waitFor(t, 5*time.Second, "the restarted node to catch up", func() bool {
		r, ok, _ := c.nodes[down].fsm.SettlementPeriod(1)
		return ok && len(r.GetSignatures()) == 3
	})
	todo, err := c.nodes[down].unsignedPeriods()
	if err != nil || len(todo) != 0 {
		t.Fatalf("restarted node would sign %v again (%v)", todo, err)
	}
	if rec := c.waitSigned(1, 3); len(rec.GetSignatures()) != 3 {
		t.Fatalf("signatures %d", len(rec.GetSignatures()))
	}
}

func proposeCode(t *testing.T, ctx context.Context, n *Node, cmd *icnv1.Command) (*icnv1.CommandResult, string) {
	t.Helper()
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	return res, res.GetErrorCode()
}

func confirmCmd(kind string, s identity.Signed) *icnv1.Command {
	sm := &icnv1.SignedMessage{Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}
	if kind == settlement.KindPaid {
		return &icnv1.Command{Cmd: &icnv1.Command_MarkInstructionPaid{MarkInstructionPaid: &icnv1.MarkInstructionPaid{Confirmation: sm}}}
	}
	return &icnv1.Command{Cmd: &icnv1.Command_ConfirmInstructionReceipt{ConfirmInstructionReceipt: &icnv1.ConfirmInstructionReceipt{Confirmation: sm}}}
}

func sigCmd(p uint64, hash []byte, k *identity.Key) *icnv1.Command {
	return &icnv1.Command{Cmd: &icnv1.Command_AddReportSignature{AddReportSignature: &icnv1.AddReportSignature{
		Period: p, ReportHash: hash, Signer: string(k.DID()), Signature: k.Sign(identity.TagReport, hash)}}}
}

// TestSettlementConfirmations runs one node that signs only when told to:
// report signature refusals, confirmation refusals, the happy path to
// settled, overdue at read time, and snapshot → restore with all of it.
func TestSettlementConfirmations(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.SignEvery = time.Hour // signatures only by hand below
		cfg.Settlement.Deadline = time.Hour
	})
	ctx := context.Background()
	_, l := c.leader()
	coops := setupFederation(t, ctx, l, c.fed, 3, 1_000_000)
	a, b, x := coops[0], coops[1], coops[2]
	// Hours settle through the fiat bridge: confirmations name fiat and a reference.
	mustPropose(t, ctx, l, &icnv1.Command{Cmd: &icnv1.Command_SetSettlementRule{SetSettlementRule: &icnv1.SetSettlementRule{
		Rule: &icnv1.SettlementRule{Currency: "hours", Mode: settlement.ModeFiat, Asset: "EUR", AssetScale: 2, Rate: "15.50"}}}})
	exp := time.Now().Add(time.Hour).UnixNano()
	for i, tr := range []struct {
		from, to *identity.Key
		units    int64
	}{{a, b, 1000}, {x, b, 250}, {b, a, 100}} {
		id := fmt.Sprintf("t%d", i)
		mustPropose(t, ctx, l, cmdPrepare(id, tr.from.DID(), tr.to.DID(), tr.units, exp))
		mustPropose(t, ctx, l, cmdCommit(id))
	}
	if _, err := l.ClosePeriod(ctx, 0, ""); err != nil {
		t.Fatal(err)
	}
	rep, _, err := l.Report(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Instructions) != 2 {
		t.Fatalf("instructions %+v", rep.Instructions)
	}
	for i, in := range rep.Instructions {
		rec, _ := l.fsm.Instructions(1)
		if in.Mode != settlement.ModeFiat || in.Asset.Code != "EUR" || rec[i].GetMode() != settlement.ModeFiat ||
			rec[i].GetAssetUnits() != in.AssetAmount || in.AssetAmount != (in.Amount*1550+50)/100 {
			t.Fatalf("instruction %d: report %+v, record %v", i, in, rec[i])
		}
	}
	h := rep.Hash()
	key := c.keys[0]
	conf := func(i int, kind string) settlement.Confirmation {
		cf, err := settlement.ConfirmationFor(rep, i, kind, settlement.MethodFiat, "bank ref 42")
		if err != nil {
			t.Fatal(err)
		}
		return cf
	}
	payer := func(i int) *identity.Key {
		for _, k := range coops {
			if k.DID() == rep.Instructions[i].From {
				return k
			}
		}
		t.Fatalf("no payer key for instruction %d", i)
		return nil
	}
	payee := func(i int) *identity.Key {
		for _, k := range coops {
			if k.DID() == rep.Instructions[i].To {
				return k
			}
		}
		t.Fatalf("no payee key for instruction %d", i)
		return nil
	}
	sign := func(k *identity.Key, cf settlement.Confirmation) identity.Signed {
		return identity.SignPayload(k, identity.TagSettlementConfirmation, cf.Encode())
	}

	// Before any hub signature the report is not final.
	if _, code := proposeCode(t, ctx, l, confirmCmd(settlement.KindPaid, sign(payer(0), conf(0, settlement.KindPaid)))); code != fsm.CodeNotFinal {
		t.Fatalf("pay before final: %q", code)
	}
	// Report signature refusals.
	stranger := newKey(t)
	for _, tc := range []struct {
		name string
		cmd  *icnv1.Command
		code string
	}{
		{"not a hub node", sigCmd(1, h[:], stranger), fsm.CodeNotHubNode},
		{"unknown period", sigCmd(9, h[:], key), fsm.CodeUnknownPeriod},
		{"short hash", sigCmd(1, h[:31], key), fsm.CodeInvalidArgument},
		{"bad signature", func() *icnv1.Command {
			cmd := sigCmd(1, h[:], key)
			cmd.GetAddReportSignature().Signature[0] ^= 1
			return cmd
		}(), fsm.CodeBadSignature},
	} {
		if _, code := proposeCode(t, ctx, l, tc.cmd); code != tc.code {
			t.Fatalf("%s: code %q, want %q", tc.name, code, tc.code)
		}
	}
	if _, code := proposeCode(t, ctx, l, sigCmd(1, h[:], key)); code != "" {
		t.Fatalf("signature: %q", code)
	}
	if res, _ := proposeCode(t, ctx, l, sigCmd(1, h[:], key)); !res.GetRepeat() {
		t.Fatal("a repeated signature is not a repeat")
	}
	other := h
	other[0] ^= 1
	if _, code := proposeCode(t, ctx, l, sigCmd(1, other[:], key)); code != fsm.CodeReportMismatch {
		t.Fatalf("signature over another hash: %q", code)
	}

	// Confirmation refusals.
	otherMode := conf(0, settlement.KindPaid)
	otherMode.Method = settlement.MethodHoursTransfer
	noReference := conf(0, settlement.KindPaid)
	noReference.Reference = ""
	bad := sign(payer(0), conf(0, settlement.KindPaid))
	bad.Signature[3] ^= 1
	unknownPeriod := conf(0, settlement.KindPaid)
	unknownPeriod.Period = 9
	unknownInstr := conf(0, settlement.KindPaid)
	unknownInstr.Instruction = 7
	wrongAmount := conf(0, settlement.KindPaid)
	wrongAmount.Amount = "0.01"
	wrongReport := conf(0, settlement.KindPaid)
	wrongReport.ReportHash[0] ^= 1
	for _, tc := range []struct {
		name string
		kind string
		s    identity.Signed
		code string
	}{
		{"paid signed by the payee", settlement.KindPaid, sign(payee(0), conf(0, settlement.KindPaid)), fsm.CodeWrongSigner},
		{"paid signed by a stranger", settlement.KindPaid, sign(stranger, conf(0, settlement.KindPaid)), fsm.CodeWrongSigner},
		{"receipt signed by the payer", settlement.KindReceived, sign(payer(0), conf(0, settlement.KindReceived)), fsm.CodeWrongSigner},
		{"bad signature", settlement.KindPaid, bad, fsm.CodeBadSignature},
		{"confirm before paid", settlement.KindReceived, sign(payee(0), conf(0, settlement.KindReceived)), fsm.CodeNotPaid},
		{"unknown period", settlement.KindPaid, sign(payer(0), unknownPeriod), fsm.CodeUnknownPeriod},
		{"unknown instruction", settlement.KindPaid, sign(payer(0), unknownInstr), fsm.CodeUnknownInstruction},
		{"wrong amount", settlement.KindPaid, sign(payer(0), wrongAmount), fsm.CodeInvalidArgument},
		{"other report", settlement.KindPaid, sign(payer(0), wrongReport), fsm.CodeReportMismatch},
		{"kind mismatch", settlement.KindReceived, sign(payer(0), conf(0, settlement.KindPaid)), fsm.CodeInvalidArgument},
		{"garbage", settlement.KindPaid, identity.SignPayload(payer(0), identity.TagSettlementConfirmation, []byte("{}")), fsm.CodeInvalidArgument},
		{"another mode", settlement.KindPaid, sign(payer(0), otherMode), fsm.CodeInvalidArgument},
		{"fiat without reference", settlement.KindPaid, sign(payer(0), noReference), fsm.CodeInvalidArgument},
	} {
		if _, code := proposeCode(t, ctx, l, confirmCmd(tc.kind, tc.s)); code != tc.code {
			t.Fatalf("%s: code %q, want %q", tc.name, code, tc.code)
		}
	}

	// Happy path: pay and confirm both instructions; repeats are harmless.
	closedAt := rep.ClosedAt
	for i := range rep.Instructions {
		res, code := proposeCode(t, ctx, l, confirmCmd(settlement.KindPaid, sign(payer(i), conf(i, settlement.KindPaid))))
		if code != "" || !res.GetInstruction().GetPaid() || res.GetInstruction().GetMethod() != settlement.MethodFiat {
			t.Fatalf("pay %d: %q %v", i, code, res.GetInstruction())
		}
		if res, _ := proposeCode(t, ctx, l, confirmCmd(settlement.KindPaid, sign(payer(i), conf(i, settlement.KindPaid)))); !res.GetRepeat() {
			t.Fatalf("repeat pay %d not a repeat", i)
		}
		if i == 1 {
			break // instruction 1 stays unconfirmed for now
		}
		if _, code := proposeCode(t, ctx, l, confirmCmd(settlement.KindReceived, sign(payee(i), conf(i, settlement.KindReceived)))); code != "" {
			t.Fatalf("confirm %d: %q", i, code)
		}
	}
	v, err := l.PeriodView(ctx, 1, time.Unix(0, closedAt).Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := l.fsm.CreditPolicies(payer(1).DID()); len(ps) != 1 || ps[0].GetCarried() == "0.00" {
		t.Fatalf("an unconfirmed instruction's payer carries nothing: %v", ps)
	}
	if v.State != settlement.StateFinal || v.Statuses[0].Overdue || !v.Statuses[1].Overdue || !v.Statuses[1].Paid || v.Statuses[1].Confirmed {
		t.Fatalf("view after one confirmation: %s %+v", v.State, v.Statuses)
	}
	if v2, _ := l.PeriodView(ctx, 1, time.Unix(0, closedAt).Add(time.Minute)); v2.Statuses[1].Overdue {
		t.Fatal("overdue before the deadline")
	}
	if v.Deadline != closedAt+int64(time.Hour) {
		t.Fatalf("deadline %d, closed %d", v.Deadline, closedAt)
	}

	// Snapshot → restore holds periods, signatures and confirmations.
	snap := hubtest.SnapshotBytes(t, l.fsm)
	f2, err := fsm.OpenFSM(filepath.Join(t.TempDir(), "fsm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f2.Close() })
	if err := f2.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if hubtest.StateHash(t, f2) != hubtest.StateHash(t, l.fsm) {
		t.Fatal("restored state differs")
	}
	r2 := newReports(f2)
	b2, err := r2.get(1)
	if err != nil || b2.hash != h {
		t.Fatalf("report from the restored state: %v", err)
	}
	ins2, err := f2.Instructions(1)
	if err != nil || len(ins2) != 2 || !ins2[0].GetConfirmed() || !ins2[1].GetPaid() || ins2[1].GetConfirmed() {
		t.Fatalf("restored instructions: %v %v", ins2, err)
	}

	if _, code := proposeCode(t, ctx, l, confirmCmd(settlement.KindReceived, sign(payee(1), conf(1, settlement.KindReceived)))); code != "" {
		t.Fatalf("confirm 1: %q", code)
	}
	if res, _ := proposeCode(t, ctx, l, confirmCmd(settlement.KindReceived, sign(payee(1), conf(1, settlement.KindReceived)))); !res.GetRepeat() {
		t.Fatal("repeat confirm not a repeat")
	}
	v, err = l.PeriodView(ctx, 1, time.Unix(0, closedAt).Add(2*time.Hour))
	if err != nil || v.State != settlement.StateSettled || v.Statuses[1].Overdue {
		t.Fatalf("after all confirmations: %s %+v %v", v.State, v.Statuses, err)
	}
	// Confirmed payments settled what the close carried into the positions.
	for _, k := range coops {
		ps, err := l.fsm.CreditPolicies(k.DID())
		if err != nil || len(ps) != 1 || ps[0].GetCarried() != "0.00" {
			t.Fatalf("carried after settlement: %v %v", ps, err)
		}
	}
	// The open period cannot be viewed as closed.
	if _, err := l.PeriodView(ctx, 2, time.Now()); err == nil {
		t.Fatal("view of the open period")
	}
	_ = money.Hours
}

// TestSettlementSchedule: the leader closes periods on its interval, from
// the replicated opening time, once per due time.
func TestSettlementSchedule(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.Settlement.Interval = time.Second })
	_, l := c.leader()
	waitFor(t, 10*time.Second, "two scheduled closes", func() bool {
		cur, _ := l.fsm.CurrentPeriod()
		return cur >= 3
	})
	recs, err := l.fsm.SettlementPeriods()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(recs); i++ {
		gap := recs[i].GetClosedAtUnixNano() - recs[i-1].GetClosedAtUnixNano()
		if gap < int64(time.Second) {
			t.Fatalf("periods %d and %d closed %v apart, interval 1s", i, i+1, time.Duration(gap))
		}
		if recs[i].GetOpenedAtUnixNano() != recs[i-1].GetClosedAtUnixNano() {
			t.Fatalf("period %d opened at %d, period %d closed at %d", i+1, recs[i].GetOpenedAtUnixNano(), i, recs[i-1].GetClosedAtUnixNano())
		}
	}
}

// TestSettlementScheduleAcrossLeaders: a leader change neither skips nor
// repeats a scheduled close; every period opens when the one before closed.
func TestSettlementScheduleAcrossLeaders(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.Settlement.Interval = time.Second })
	ctx := context.Background()
	_, l := c.leader()
	waitFor(t, 10*time.Second, "the first scheduled close", func() bool { cur, _ := l.fsm.CurrentPeriod(); return cur >= 2 })
	waitFor(t, 10*time.Second, "a leadership transfer", func() bool {
		_, l := c.leader()
		return l.TransferLeadership(ctx, "") == nil
	})
	_, l = c.leader()
	waitFor(t, 10*time.Second, "two more scheduled closes", func() bool { cur, _ := l.fsm.CurrentPeriod(); return cur >= 4 })
	recs, err := l.fsm.SettlementPeriods()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.GetNumber() != uint64(i+1) {
			t.Fatalf("closed periods %v: not consecutive", r.GetNumber())
		}
		if i == 0 {
			continue
		}
		prev := recs[i-1]
		if r.GetOpenedAtUnixNano() != prev.GetClosedAtUnixNano() || r.GetClosedAtUnixNano()-r.GetOpenedAtUnixNano() < int64(time.Second) {
			t.Fatalf("period %d: opened %d (previous closed %d), closed %v after opening", r.GetNumber(),
				r.GetOpenedAtUnixNano(), prev.GetClosedAtUnixNano(), time.Duration(r.GetClosedAtUnixNano()-r.GetOpenedAtUnixNano()))
		}
	}
}

// TestConfirmedAreTheReportsInstructions (property): under a random
// settlement mode, the instructions the state machine records at the close
// are exactly the report's, they sum per currency to its total net debit,
// and confirming every one of them — in its mode, by payer then payee —
// settles the period.
func TestConfirmedAreTheReportsInstructions(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 7))
			c := newTestCluster(t, 1, func(cfg *Config) { cfg.SignEvery = time.Hour })
			ctx := context.Background()
			_, l := c.leader()
			coops := setupFederation(t, ctx, l, c.fed, 2+r.IntN(4), 1_000_000)
			rule := []*icnv1.SettlementRule{
				{Currency: "hours", Mode: settlement.ModeHoursTransfer},
				{Currency: "hours", Mode: settlement.ModeAssetSwap, Asset: "SOLAR", AssetScale: 0, Rate: "0.25"},
				{Currency: "hours", Mode: settlement.ModeFiat, Asset: "EUR", AssetScale: 2, Rate: "15.50"},
			}[r.IntN(3)]
			mustPropose(t, ctx, l, &icnv1.Command{Cmd: &icnv1.Command_SetSettlementRule{SetSettlementRule: &icnv1.SetSettlementRule{Rule: rule}}})
			exp := time.Now().Add(time.Hour).UnixNano()
			for i := range 5 + r.IntN(20) {
				from, to := r.IntN(len(coops)), r.IntN(len(coops)-1)
				if to >= from {
					to++
				}
				id := fmt.Sprintf("t%d", i)
				mustPropose(t, ctx, l, cmdPrepare(id, coops[from].DID(), coops[to].DID(), 1+r.Int64N(5000), exp))
				mustPropose(t, ctx, l, cmdCommit(id))
			}
			if _, err := l.ClosePeriod(ctx, 0, ""); err != nil {
				t.Fatal(err)
			}
			rep, _, err := l.Report(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := l.fsm.Instructions(1)
			if err != nil || len(recs) != len(rep.Instructions) {
				t.Fatalf("%d records, %d report instructions: %v", len(recs), len(rep.Instructions), err)
			}
			var sum int64
			for i, rec := range recs {
				if got := fsm.InstructionFromProto(rec); got != rep.Instructions[i] || got.Mode != rule.GetMode() {
					t.Fatalf("instruction %d: recorded %+v, report %+v, rule %v", i, got, rep.Instructions[i], rule)
				}
				sum += rec.GetAmountUnits()
			}
			if tot, _ := rep.Totals("hours"); sum != tot.NetDebit {
				t.Fatalf("instructed %d, net debit %d", sum, tot.NetDebit)
			}
			h := rep.Hash()
			mustPropose(t, ctx, l, sigCmd(1, h[:], c.keys[0]))
			key := map[string]*identity.Key{}
			for _, k := range coops {
				key[string(k.DID())] = k
			}
			for i := range rep.Instructions {
				for _, kind := range []string{settlement.KindPaid, settlement.KindReceived} {
					cf, err := settlement.ConfirmationFor(rep, i, kind, rule.GetMode(), "ref "+fmt.Sprint(i))
					if err != nil {
						t.Fatal(err)
					}
					signer := key[string(cf.Signer())]
					mustPropose(t, ctx, l, confirmCmd(kind, identity.SignPayload(signer, identity.TagSettlementConfirmation, cf.Encode())))
				}
			}
			v, err := l.PeriodView(ctx, 1, time.Now())
			if err != nil || v.State != settlement.StateSettled {
				t.Fatalf("after confirming every instruction: %s, %v", v.State, err)
			}
		})
	}
}
