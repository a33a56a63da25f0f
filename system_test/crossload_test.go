package systest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// crossLoad streams cross-co-op payments between two co-ops both ways and
// reads the payers' balances, recording a history for the ledger model:
// each co-op's admin only pays (to the other co-op's payee) and each payee
// only receives, so an admin's balance moves by its own committed payments
// and nothing else.
type crossLoad struct {
	t       *testing.T
	ctx     context.Context
	c       *hubCluster
	coops   []*coopProc
	gw      [2]*gateways // each co-op's admin, at any of its gateways
	payees  [2]*identity.Key
	h       *history
	mu      sync.Mutex
	answers []answered
	done    chan struct{}
	wg      sync.WaitGroup
}

// answered is a payment whose request came back with a status.
type answered struct {
	id, status string
	from       int
}

// newCrossLoad registers both co-ops at the hub through node leader, logs
// their admins in, makes each a payee member, and waits for a first
// cross-co-op payment to commit.
func newCrossLoad(ctx context.Context, t *testing.T, c *hubCluster, coops []*coopProc, leader int) *crossLoad {
	t.Helper()
	l := &crossLoad{t: t, ctx: ctx, c: c, coops: coops, h: newHistory(), done: make(chan struct{})}
	for i, p := range coops {
		c.registerCoop(ctx, p, leader)
		l.gw[i] = newGateways(p.gateways(), p.id, p.admin)
		s, err := l.gw[i].any(ctx)
		if err != nil {
			t.Fatalf("login %s: %v", p.id, err)
		}
		l.payees[i] = joinMember(ctx, t, p, s, "payee")
	}
	// The co-op nodes connect (with backoff) once registered.
	waitFor(t, 60*time.Second, "a first cross-co-op payment", func() bool {
		st, err := l.pay(0)
		return err == nil && st == "committed"
	})
	return l
}

// pay sends one payment of 0.01 from co-op from's admin and records it.
func (l *crossLoad) pay(from int) (string, error) {
	id := client.NewPaymentID()
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second) // a partitioned gateway never answers
	defer cancel()
	call := l.h.now()
	r, err := l.gw[from].pay(ctx, client.PaymentIntent{ID: id, To: l.payees[1-from].DID(), ToCoop: l.coops[1-from].id, Amount: "0.01",
		ExpiresAt: client.FormatTime(time.Now().Add(20 * time.Second))})
	st := "unknown"
	if err == nil {
		st = r.Status
	}
	l.h.paid(from, l.coops[from].id, id, 1, call, st)
	if err == nil {
		l.mu.Lock()
		l.answers = append(l.answers, answered{id, st, from})
		l.mu.Unlock()
	}
	return st, err
}

// start runs two payers per co-op and a balance reader per co-op (every
// 20 ms) until stop.
func (l *crossLoad) start() {
	for w := 0; w < 4; w++ {
		l.wg.Add(1)
		go func(from int) {
			defer l.wg.Done()
			for {
				select {
				case <-l.done:
					return
				default:
				}
				if _, err := l.pay(from); err != nil {
					time.Sleep(50 * time.Millisecond) // back off from a node that is down; pacing only
				}
			}
		}(w % 2)
	}
	for side := range l.coops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-l.done:
					return
				case <-tick.C:
				}
				call := l.h.now()
				if u, err := l.balance(side, l.coops[side].admin.DID()); err == nil {
					l.h.read(2+side, l.coops[side].id, call, u)
				}
			}
		}()
	}
}

// balance reads member m's balance at co-op side, in minor units.
func (l *crossLoad) balance(side int, m identity.DID) (int64, error) {
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	b, err := l.gw[side].balance(ctx, m)
	if err != nil {
		return 0, err
	}
	a, err := money.Parse(b.Balance, money.Hours)
	if err != nil {
		l.t.Errorf("balance %q: %v", b.Balance, err)
		return 0, err
	}
	return a.Units(), nil
}

// count is how many payments have been answered.
func (l *crossLoad) count() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.answers) }

// committed is how many answered payments were answered committed.
func (l *crossLoad) committedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.answers {
		if a.status == "committed" {
			n++
		}
	}
	return n
}

func (l *crossLoad) stop() {
	close(l.done)
	l.wg.Wait()
}

// status is payment id's status at co-op side ("missing" if it has none).
func (l *crossLoad) status(side int, id string) string {
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	r, err := l.gw[side].paymentStatus(ctx, id)
	if err != nil {
		return "missing"
	}
	return r.Status
}

// decided waits until payment id (from co-op from) is decided on both
// sides, fails the test unless they agree, and returns the payer's status.
func (l *crossLoad) decided(from int, id string) string {
	l.t.Helper()
	var payer, payee string
	waitFor(l.t, 90*time.Second, "payment "+id+" decided on both sides", func() bool {
		payer, payee = l.status(from, id), l.status(1-from, id)
		return payer != "pending" && payee != "pending"
	})
	if (payer == "committed") != (payee == "committed") {
		l.t.Fatalf("%s: %s at the payer, %s at the payee", id, payer, payee)
	}
	return payer
}

// verify waits until every payment is decided on both sides and checks:
// both sides agree; what a payer was told is what its ledger says; the
// history is linearizable; each co-op's members' balances sum to its
// position at the hub (read from node hub), and the positions to zero.
func (l *crossLoad) verify(hub int) (answeredN, committed int) {
	t := l.t
	t.Helper()
	l.mu.Lock()
	all := append([]answered(nil), l.answers...)
	l.mu.Unlock()
	for _, a := range all {
		payer := l.decided(a.from, a.id)
		switch {
		case a.status == "committed" && payer != "committed":
			t.Fatalf("%s: the payer was told committed, its ledger says %s", a.id, payer)
		case a.status == "rejected" && payer != "rejected":
			t.Fatalf("%s: the payer was told rejected, its ledger says %s", a.id, payer)
		}
		l.h.settle(a.id, payer)
		if payer == "committed" {
			committed++
		}
	}
	for id, account := range l.h.openPayments() { // requests that failed: decided, or never made
		from := slices.IndexFunc(l.coops, func(p *coopProc) bool { return p.id == account })
		l.h.settle(id, l.decided(from, id))
	}
	l.h.check(t)
	var sum int64
	for i, p := range l.coops {
		var net money.Amount
		var members int64
		waitFor(t, 30*time.Second, p.id+" balances equal to its hub position", func() bool {
			members = 0
			for _, m := range []identity.DID{p.admin.DID(), l.payees[i].DID()} {
				u, err := l.balance(i, m)
				if err != nil {
					return false
				}
				members += u
			}
			var err error
			if net, err = l.c.hubNet(l.ctx, hub, p.key.DID()); err != nil {
				return false
			}
			return members == net.Units()
		})
		sum += net.Units()
	}
	if sum != 0 {
		t.Fatalf("hub positions sum to %d units", sum)
	}
	return len(all), committed
}
