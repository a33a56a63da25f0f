package systest

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The ledger model the failover tests check their histories against: each
// account that only pays out (the tests give every payer its own account
// and send its payments to members who only receive) holds a balance that
// its committed payments lower and nothing else changes, so every balance
// read must see exactly the payments committed before it, in some order
// consistent with real time. A payment's linearization point is its commit
// at the payer's ledger.

// ledgerIn is an operation on one payer's account.
type ledgerIn struct {
	account string
	pay     bool  // else a balance read
	units   int64 // a payment's amount in minor units
}

// ledgerOut is what the operation came to: a payment's final status, a
// read's balance in minor units.
type ledgerOut struct {
	status  string // committed, rejected
	balance int64
}

var ledgerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range h {
			a := op.Input.(ledgerIn).account
			if _, ok := by[a]; !ok {
				order = append(order, a)
			}
			by[a] = append(by[a], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, a := range order {
			out = append(out, by[a])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, in, out any) (bool, any) {
		bal, i, o := state.(int64), in.(ledgerIn), out.(ledgerOut)
		switch {
		case !i.pay:
			return o.balance == bal, bal
		case o.status == "committed":
			return true, bal - i.units
		default: // rejected: no effect, at any point
			return true, bal
		}
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(ledgerIn), out.(ledgerOut)
		if i.pay {
			return fmt.Sprintf("%s pays %d → %s", i.account, i.units, o.status)
		}
		return fmt.Sprintf("%s balance → %d", i.account, o.balance)
	},
	DescribeState: func(s any) string { return fmt.Sprint(s.(int64)) },
}

// history records the operations of a test's clients with their real-time
// intervals. A payment whose answer did not say how it ended is recorded
// open and closed later with its final status, at the time that status was
// read: it committed or not somewhere in between.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	open  map[string]int  // payment id → index in ops
	late  map[string]bool // payments recorded open → whether they committed
}

func newHistory() *history {
	return &history{start: time.Now(), open: map[string]int{}, late: map[string]bool{}}
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

// read records a balance read of account that returned units.
func (h *history) read(client int, account string, call int64, units int64) {
	h.add(porcupine.Operation{ClientId: client, Input: ledgerIn{account: account}, Call: call,
		Output: ledgerOut{balance: units}, Return: h.now()})
}

// paid records payment id of units from account: status is the answer's
// ("committed", "rejected", or anything else for an open outcome).
func (h *history) paid(client int, account, id string, units int64, call int64, status string) {
	op := porcupine.Operation{ClientId: client, Input: ledgerIn{account: account, pay: true, units: units}, Call: call,
		Output: ledgerOut{status: status}, Return: h.now()}
	h.mu.Lock()
	defer h.mu.Unlock()
	if status != "committed" && status != "rejected" {
		h.open[id] = len(h.ops)
		h.late[id] = false
	}
	h.ops = append(h.ops, op)
}

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// openPayments are the payments recorded without a final status: id →
// the payer's account.
func (h *history) openPayments() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]string, len(h.open))
	for id, i := range h.open {
		out[id] = h.ops[i].Input.(ledgerIn).account
	}
	return out
}

// settle closes open payment id with its final status (committed, or
// anything else for a payment that never committed), read now.
func (h *history) settle(id, status string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, ok := h.open[id]
	if !ok {
		return
	}
	if status != "committed" {
		status = "rejected"
	}
	h.late[id] = status == "committed"
	h.ops[i].Output, h.ops[i].Return = ledgerOut{status: status}, time.Since(h.start).Nanoseconds()
	delete(h.open, id)
}

// check fails t unless the history is linearizable; a failing history is
// written as porcupine's HTML visualization into the test's directory.
func (h *history) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	open, late := len(h.open), 0
	var ops []porcupine.Operation
	for _, op := range h.ops {
		// A payment that never committed changes nothing wherever it is
		// placed: leaving it out keeps the search small.
		if in := op.Input.(ledgerIn); in.pay && op.Output.(ledgerOut).status != "committed" {
			continue
		}
		ops = append(ops, op)
	}
	lateCommitted := 0
	for id := range h.late {
		if h.late[id] {
			lateCommitted++
		}
	}
	late = len(h.late)
	h.mu.Unlock()
	if open != 0 {
		t.Fatalf("linearizability: %d payments still without a final status", open)
	}
	res, info := porcupine.CheckOperationsVerbose(ledgerModel, ops, time.Minute)
	switch res {
	case porcupine.Ok:
		t.Logf("linearizability: %d operations checked against the ledger model (%d payments without a final answer, %d of them committed)", len(ops), late, lateCommitted)
	case porcupine.Illegal:
		path := filepath.Join(t.TempDir(), "history.html")
		if err := porcupine.VisualizePath(ledgerModel, info, path); err != nil {
			t.Logf("visualize: %v", err)
		}
		t.Fatalf("linearizability: the history of %d operations is not linearizable (visualization: %s)", len(ops), path)
	default:
		t.Fatalf("linearizability: the check of %d operations timed out", len(ops))
	}
}

// TestLedgerModel: the model accepts a history that is linearizable and
// refuses ones that are not, so the failover tests' checks can fail.
func TestLedgerModel(t *testing.T) {
	pay := func(call, ret int64, status string) porcupine.Operation {
		return porcupine.Operation{Input: ledgerIn{account: "a", pay: true, units: 5}, Call: call, Output: ledgerOut{status: status}, Return: ret}
	}
	read := func(call, ret, bal int64) porcupine.Operation {
		return porcupine.Operation{ClientId: 1, Input: ledgerIn{account: "a"}, Call: call, Output: ledgerOut{balance: bal}, Return: ret}
	}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"read after commit", []porcupine.Operation{pay(0, 10, "committed"), read(11, 12, -5)}, true},
		{"read during commit sees either", []porcupine.Operation{pay(0, 10, "committed"), read(5, 6, 0), read(7, 8, -5)}, true},
		{"stale read after commit", []porcupine.Operation{pay(0, 10, "committed"), read(11, 12, 0)}, false},
		{"read goes back", []porcupine.Operation{pay(0, 10, "committed"), read(2, 3, -5), read(4, 5, 0)}, false},
		{"rejected payment moved money", []porcupine.Operation{pay(0, 10, "rejected"), read(11, 12, -5)}, false},
		{"read before the payment", []porcupine.Operation{read(0, 1, -5), pay(2, 10, "committed")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(ledgerModel, tc.ops); got != tc.ok {
				t.Fatalf("linearizable = %v, want %v", got, tc.ok)
			}
		})
	}
}
