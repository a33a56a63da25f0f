package govern

import (
	"context"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/store/storetest"
	"github.com/icn-coop/icn/governance"
)

// TestReplayGivesSameState: the command log of a governance run (members
// joining, delegations, votes, a deadline, a removal and its appeal, dues,
// a moderator's role grant, credential renewals)
// applied to a fresh state, in one batch or one command at a time, gives
// the identical state: the handlers read only the state and the command.
func TestReplayGivesSameState(t *testing.T) {
	e := newEnv(t)
	st := e.l.State()
	cmds := storetest.Record(st)
	ctx := context.Background()
	pat := e.add("pat", "proposer", "moderator")
	ann := e.add("ann")
	bob := e.add("bob")
	e.add("cid")
	if err := e.g.Delegate(ctx, bob, ann); err != nil {
		t.Fatal(err)
	}
	p, err := e.g.Open(ctx, Draft{ID: "p-1", Kind: governance.KindEconomic, Title: "Default 20", Proposer: pat,
		Change: Change{DefaultCreditLimit: ptr(hours("20"))}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.g.Open(ctx, Draft{ID: "d-1", Kind: governance.KindDues, Title: "Dues", Proposer: pat,
		Change: Change{Dues: &Schedule{Amount: hours("15"), Day: 1, Treasury: "treasury"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(d.VotingStarts)
	for _, n := range []string{"ann", "pat", "cid"} {
		for _, id := range []string{"p-1", "d-1"} {
			if err := e.vote(n, id, governance.For, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.keys["zed"] = testKey(t, "zed")
	wantCode(t, e.vote("zed", "p-1", governance.For, 1), "not_member") // a failed command is in the log too
	e.clock.Set(p.VotingEnds.Add(time.Minute))
	rm, err := e.g.Open(ctx, Draft{ID: "rm-1", Kind: governance.KindRemoval, Title: "Remove cid", Proposer: pat, Change: Change{Remove: e.keys["cid"].DID()}})
	if err != nil {
		t.Fatal(err)
	}
	eve := e.add("eve") // after the default limit changed: 20, the others keep 10
	e.clock.Set(rm.VotingStarts)
	for _, n := range []string{"ann", "pat", "bob"} {
		if err := e.vote(n, "rm-1", governance.For, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.g.Close(ctx, "rm-1", pat); err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.FileAppeal(ctx, AppealDraft{ID: "ap-1", Title: "Please", Appellant: e.keys["cid"].DID()}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	if err := e.g.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	// Dues of 15: eve (limit 20) pays; the others (limit 10) are skipped,
	// their payments recorded rejected in their history.
	dues, err := e.g.Dues()
	if err != nil || dues.LastRun == nil || len(dues.LastRun.Paid) != 1 || len(dues.LastRun.Skipped) != 3 {
		t.Fatalf("dues %+v %v", dues.LastRun, err)
	}
	for _, sk := range dues.LastRun.Skipped {
		if sk.Reason != "insufficient_credit" || sk.Member == eve {
			t.Fatalf("skipped %+v", sk)
		}
		h, _, err := e.l.History(ledger.Account(sk.Member), 10, 0)
		if err != nil || len(h) == 0 || h[0].ID != sk.Payment || h[0].Status != ledger.StatusRejected {
			t.Fatalf("history of %s: %+v %v", sk.Member.Short(), h, err)
		}
	}
	// Roles by a moderator (one refused in its command: bob moderates
	// nothing) and the credential renewal, whose ids and times are in
	// their commands.
	if _, _, err := e.m.SetRole(ctx, ann, "steward", true, pat); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.m.SetRole(ctx, ann, "steward", false, bob); err == nil {
		t.Fatal("a role revoked by a plain member")
	}
	e.clock.Set(t0.Add(340 * 24 * time.Hour))
	// pat, ann and bob joined at t0; cid is removed; eve joined later,
	// and has more than 30 days left.
	if rs, err := e.m.RenewDue(ctx); err != nil || len(rs) != 3 {
		t.Fatalf("renewals %+v %v", rs, err)
	}
	want, err := st.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	log := cmds.Entries(0)
	for _, size := range []int{len(log), 1, 7} {
		r := newEnv(t)
		if err := storetest.Replay(r.l.State(), log, func() int { return size }); err != nil {
			t.Fatal(err)
		}
		got, err := r.l.State().StateHash()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("replay in batches of %d: state %x, want %x", size, got, want)
		}
	}
}
