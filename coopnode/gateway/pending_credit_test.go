package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/money"
)

// TestBalanceShowsPendingCredits: the "pending" figure of a balance is the
// member's incoming credits not yet spendable (the ledger's PendingIn), and
// "held" its outgoing holds; committing a credit moves it into the balance.
func TestBalanceShowsPendingCredits(t *testing.T) {
	_, e := newTestGateway(t, nil)
	ctx := context.Background()
	adminS := e.login(e.admin)
	did := e.admin.DID()
	in := ledger.Transfer{
		ID: "incoming-1", From: ledger.ClearingAccount("hub"), To: ledger.Account(did),
		FromCoop: "coop-a", ToCoop: testCoop, Amount: money.FromUnits(1250, money.Hours),
		Memo: "from afar", CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if _, err := e.ledger.CreditPending(ctx, in); err != nil {
		t.Fatal(err)
	}
	balance := func() balanceResp {
		t.Helper()
		st, body := e.do("GET", "/ledger/"+testCoop+"/balance/"+string(did), adminS.Token(), nil)
		var b balanceResp
		if st != http.StatusOK || json.Unmarshal(body, &b) != nil {
			t.Fatalf("balance: %d %s", st, body)
		}
		return b
	}
	if b := balance(); b.Pending != "12.50" || b.Balance != "0.00" || b.Held != "0.00" || b.Available != "100.00" {
		t.Fatalf("balance with a pending credit: %+v", b)
	}
	if _, err := e.ledger.CommitCredit(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if b := balance(); b.Pending != "0.00" || b.Balance != "12.50" || b.Available != "112.50" {
		t.Fatalf("balance after commit: %+v", b)
	}
	st, body := e.do("GET", "/payments/"+testCoop+"/"+in.ID, adminS.Token(), nil)
	var ps struct {
		Status string `json:"status"`
	}
	if st != http.StatusOK || json.Unmarshal(body, &ps) != nil || ps.Status != "committed" {
		t.Fatalf("payment status: %d %s", st, body)
	}
}
