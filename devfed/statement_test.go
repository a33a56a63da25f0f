package devfed

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/hubpeer"
)

// TestSettlementStatement: after a period with a cross-co-op payment
// closes and its report is signed, each co-op's treasurer reads the co-op's
// statement through the gateway, and a SettlementReport event reaches the
// co-op feed.
func TestSettlementStatement(t *testing.T) {
	f, ctx := startDev(t)
	a, b := f.Manifest.Coops[0], f.Manifest.Coops[1]
	alice := login(t, ctx, a, a.Members[0])
	bob := login(t, ctx, b, b.Members[0])
	if res := alice.pay(t, ctx, bob, "4.00"); res.Status != "committed" {
		t.Fatalf("payment: %+v", res)
	}
	settledAll(t, f, 10*time.Second)
	l := f.hubs.leader()
	if _, err := l.ClosePeriod(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		rec, ok, _ := f.hubs.leader().FSM().SettlementPeriod(1)
		return ok && rec.GetQuorum() > 0 && len(rec.GetSignatures()) >= int(rec.GetQuorum())
	}, "period 1's report signed by a quorum")

	admin := login(t, ctx, a, a.Admin) // the co-op's first moderator
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	feed, _ := admin.sess.Watch(wctx, a.ID, 0, true)
	if err := f.Nodes[0].Hub.SyncStatements(ctx); err != nil {
		t.Fatal(err)
	}
	var got struct{ Statements []hubpeer.Statement }
	req, _ := http.NewRequestWithContext(ctx, "GET", a.GatewayURL+"/settlement/"+a.ID+"/statements", nil)
	req.Header.Set("Authorization", "Bearer "+admin.sess.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&got) != nil || len(got.Statements) != 1 {
		t.Fatalf("statements: %d %+v", resp.StatusCode, got)
	}
	st := got.Statements[0]
	if st.Period != 1 || st.State != "final" || len(st.Figures) != 1 || st.Figures[0].Sent != "4.00" || st.Figures[0].Net != "-4.00" ||
		len(st.Instructions) != 1 || st.Instructions[0].Amount != "4.00" || st.Instructions[0].From != string(f.Nodes[0].Key.DID()) {
		t.Fatalf("statement: %+v", st)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-feed:
			if e.Type == hubpeer.EventSettlementReport {
				var p hubpeer.Statement
				if err := json.Unmarshal(e.Payload, &p); err != nil || p.Period != 1 {
					t.Fatalf("event payload: %s %v", e.Payload, err)
				}
				return
			}
		case <-deadline:
			t.Fatal("no SettlementReport event on the co-op feed")
		}
	}
}
