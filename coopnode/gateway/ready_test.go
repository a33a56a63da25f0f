package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/money"
)

// TestReadyzReportsHubLink: /readyz says how the hub link stands. A node
// without a hub is ready; one whose link is not connected is "degraded"
// but still 200 (it serves its members and holds payments to other co-ops),
// with the link's state, node, leader and failures in the body, the open
// transfers and the ledger head. Before, /readyz said "ready" whatever the
// link did.
func TestReadyzReportsHubLink(t *testing.T) {
	var mu sync.Mutex
	link := HubLink{State: "disconnected", Node: "did:icn:hub1", Addr: "10.0.0.1:7400", Leader: "did:icn:hub2",
		Registered: true, Since: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), FailedAttempts: 7, LastError: "timeout"}
	_, e := newTestGateway(t, func(c *Config) {
		c.HubLink = func() HubLink { mu.Lock(); defer mu.Unlock(); return link }
	})
	_, none := newTestGateway(t, nil)
	read := func(env *testEnv) Readiness {
		t.Helper()
		code, body := env.do("GET", "/readyz", "", nil)
		if code != http.StatusOK {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		var rd Readiness
		if err := json.Unmarshal(body, &rd); err != nil {
			t.Fatalf("/readyz body %s: %v", body, err)
		}
		return rd
	}

	if rd := read(none); rd.Status != "ready" || rd.Hub != "none" || rd.Registered != nil || rd.Coop != testCoop {
		t.Errorf("without a hub: %+v", rd)
	}
	// An open transfer and an entry, so the body has something to show.
	if _, err := e.ledger.CreditPending(context.Background(), ledger.Transfer{ID: "in-1", From: ledger.ClearingAccount("fed"),
		To: ledger.Account(e.admin.DID()), FromCoop: "x", ToCoop: testCoop, Amount: money.FromUnits(100, money.Hours), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	seq, _, _ := e.ledger.Head()
	rd := read(e)
	want := Readiness{Status: "degraded", Coop: testCoop, LedgerSeq: seq, LedgerHead: rd.LedgerHead, OpenTransfers: 1,
		Hub: "disconnected", HubNode: "did:icn:hub1", HubAddr: "10.0.0.1:7400", Leader: "did:icn:hub2",
		HubSince: "2026-12-01T10:00:00Z", FailedAttempts: 7, LastError: "timeout"}
	if rd.Registered == nil || !*rd.Registered {
		t.Errorf("registered %v, want true", rd.Registered)
	}
	rd.Registered = nil
	if rd != want {
		t.Errorf("degraded:\n got %+v\nwant %+v", rd, want)
	}
	for _, state := range []string{"refused", "connecting"} {
		mu.Lock()
		link.State = state
		mu.Unlock()
		if rd := read(e); rd.Status != "degraded" || rd.Hub != state {
			t.Errorf("link %s: %+v", state, rd)
		}
	}
	mu.Lock()
	link = HubLink{State: "connected", Node: "did:icn:hub2", Leader: "did:icn:hub2", Registered: true}
	mu.Unlock()
	if rd := read(e); rd.Status != "ready" || rd.Hub != "connected" || rd.FailedAttempts != 0 || rd.LastError != "" {
		t.Errorf("connected: %+v", rd)
	}
}
