// Package peerbench runs ICN's benchmark workloads on the systems an
// engineer would otherwise build them on, so that `icn bench peers` can
// print ratios measured in one run on one machine:
//
//   - the hub's transfer workload (prepare reserves the sender's headroom
//     against its cap, commit moves the positions) on a 3-node etcd cluster,
//     as optimistic etcd transactions (Transfers, EtcdTransfers);
//   - the co-op ledger's internal payment (a double-entry transaction with
//     the payer's limit check) on PostgreSQL (Ledger, PGLedger), and on the
//     co-op node's own ledger without its gateway (ICNLedger);
//   - this machine's Ed25519 sign and verify rates (MeasureEd25519).
//
// The drivers (RunTransfers, RunPayments) load a store the way `icn bench
// hub` and `icn bench coop` load ICN, and the checks (CheckBook,
// CheckLedger) prove afterwards that the store kept its invariants, so a
// faster figure is never a broken one. The stores behind the interfaces are
// the only parts that differ between the peers.
package peerbench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Transfer is one transfer of the hub workload between two participants
// (indexes into the store's participants), in minor units.
type Transfer struct {
	ID       string
	From, To int
	Amount   int64
}

// ErrCapExceeded is what Prepare returns for a transfer the sender's cap
// refuses (its net debit plus reservations plus the amount above the cap).
var ErrCapExceeded = errors.New("debit cap exceeded")

// Transfers is a store of the hub's transfer workload: participants with
// positions (sent, received, reserved) and debit caps, and transfer records.
type Transfers interface {
	// Prepare records transfer t as prepared and reserves its amount
	// against t.From, if t.From's net debit (sent − received) plus its
	// reservations plus t.Amount stays within its cap; otherwise it records
	// t as rejected and returns ErrCapExceeded. It is one atomic step.
	Prepare(ctx context.Context, t Transfer) error
	// Commit moves the positions of prepared transfer t in one atomic step:
	// the reservation is released, t.From's sent and t.To's received grow
	// by t.Amount, and t's record says committed.
	Commit(ctx context.Context, t Transfer) error
	// Book reads every participant's position and the transfer records
	// for CheckBook.
	Book(ctx context.Context) (Book, error)
}

// Position is one participant's figures in a Book.
type Position struct {
	Sent, Received, Reserved, Cap int64
}

// Book is the state of a Transfers store, read after a run.
type Book struct {
	Positions []Position
	// Prepared sums the amounts of the transfers still prepared, by sender.
	Prepared map[int]int64
	// Committed is the number of transfers recorded as committed, and
	// CommittedUnits the sum of their amounts.
	Committed      int
	CommittedUnits int64
}

// CheckBook checks a Transfers store's invariants after a run in which the
// clients saw committed transfers commit: the positions sum to zero (what
// was sent was received), each participant's reservation is exactly the
// sum of its transfers still prepared, no participant's net debit plus
// reservation exceeds its cap, and the store recorded at least the
// commits the clients saw (more if a commit's answer was cut off by the
// end of the run), and their amounts are what the positions moved.
func CheckBook(b Book, committed int) error {
	var errs []error
	var sent, received int64
	for i, p := range b.Positions {
		sent += p.Sent
		received += p.Received
		if p.Reserved != b.Prepared[i] {
			errs = append(errs, fmt.Errorf("participant %d: reserved %d, but its prepared transfers sum to %d", i, p.Reserved, b.Prepared[i]))
		}
		if p.Sent < 0 || p.Received < 0 || p.Reserved < 0 {
			errs = append(errs, fmt.Errorf("participant %d: negative counter (sent %d, received %d, reserved %d)", i, p.Sent, p.Received, p.Reserved))
		}
		if d := p.Sent - p.Received + p.Reserved; d > p.Cap {
			errs = append(errs, fmt.Errorf("participant %d: net debit %d plus reserved %d exceeds its cap %d", i, p.Sent-p.Received, p.Reserved, p.Cap))
		}
	}
	for i := range b.Prepared {
		if i < 0 || i >= len(b.Positions) {
			errs = append(errs, fmt.Errorf("prepared transfers from participant %d, which has no position", i))
		}
	}
	if sent != received {
		errs = append(errs, fmt.Errorf("positions do not sum to zero: sent %d, received %d", sent, received))
	}
	if sent != b.CommittedUnits {
		errs = append(errs, fmt.Errorf("positions moved %d units, the committed transfers sum to %d", sent, b.CommittedUnits))
	}
	if b.Committed < committed {
		errs = append(errs, fmt.Errorf("the store recorded %d committed transfers, the clients saw %d commit", b.Committed, committed))
	}
	return errors.Join(errs...)
}

// TransferOptions shape a RunTransfers load: what `icn bench hub` does.
type TransferOptions struct {
	Clients      int // each with one command in flight
	Participants int // client i pays between participants i and i+1 (mod Participants)
	Amount       int64
	Warmup       time.Duration
	Duration     time.Duration
	// OneWay makes every client pay from participant 0 to participant
	// 1 + i mod (Participants−1), so participant 0's cap binds (tests); by
	// default directions alternate and no cap binds.
	OneWay bool
}

// Run is what a driver measured: commands (or payments) in the window.
type Run struct {
	Ops       int             // commands (prepare + commit) or payments that succeeded in the window
	Transfers int             // transfers prepared and committed in the window (RunTransfers)
	Rejected  int             // refused by a cap or limit in the window (an outcome, not an error)
	Errors    int             // failed otherwise in the window
	Lats      []time.Duration // one per op
	XferLats  []time.Duration // prepare to commit (RunTransfers)
	Window    time.Duration
	// Committed counts every transfer or payment the clients saw commit,
	// warmup and window and past its end alike: what the check expects.
	Committed   int
	ErrorKinds  map[string]int
	ErrorSample map[string]string
	Interrupted bool
}

// OpsPerS is Ops over the window.
func (r *Run) OpsPerS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Window.Seconds()
}

// worker collects one client's measurements.
type worker struct {
	lats, xfer          []time.Duration
	rejected, committed int
	errs                map[string]int
	samples             map[string]string
}

func (w *worker) fail(err error) {
	if w.errs == nil {
		w.errs, w.samples = map[string]int{}, map[string]string{}
	}
	kind := errorKind(err)
	w.errs[kind]++
	if _, ok := w.samples[kind]; !ok {
		w.samples[kind] = err.Error()
	}
}

// errorKind is a short class of err for the error table.
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, ':'); i > 0 && i < 40 {
		return msg[:i]
	}
	if len(msg) > 40 {
		msg = msg[:40]
	}
	return msg
}

// RunTransfers loads s as `icn bench hub` loads a hub cluster: each client
// prepares a transfer, waits for its result, commits it, and starts the
// next. A command counts when it succeeds within the window; its latency
// runs from the call to its answer. At the end of the window commands in
// flight are cut off (as the hub bench cuts off its proposals), so a
// transfer may stay prepared: CheckBook accounts for it.
func RunTransfers(ctx context.Context, s Transfers, o TransferOptions) Run {
	return inWindow(ctx, o.Clients, o.Warmup, o.Duration, func(runCtx context.Context, i int, w *worker, measureStart, measureEnd time.Time) {
		a, b := pair(i, o.Participants, o.OneWay)
		for seq := 0; runCtx.Err() == nil; seq++ {
			t := Transfer{ID: uuid.Must(uuid.NewV7()).String(), From: a, To: b, Amount: o.Amount}
			if seq%2 == 1 && !o.OneWay {
				t.From, t.To = b, a
			}
			t0 := time.Now()
			err := s.Prepare(runCtx, t)
			t1 := time.Now()
			if err != nil && runCtx.Err() != nil {
				return // cut off at the end of the window (or by Ctrl-C)
			}
			counted := !t0.Before(measureStart) && !t1.After(measureEnd)
			switch {
			case errors.Is(err, ErrCapExceeded):
				if counted {
					w.rejected++
				}
				continue
			case err != nil:
				if counted {
					w.fail(fmt.Errorf("prepare: %w", err))
				}
				continue
			}
			if counted {
				w.lats = append(w.lats, t1.Sub(t0))
			}
			err = s.Commit(runCtx, t)
			t2 := time.Now()
			if err != nil && runCtx.Err() != nil {
				return
			}
			if err == nil {
				w.committed++
			}
			if t1.Before(measureStart) || t2.After(measureEnd) {
				continue
			}
			if err != nil {
				w.fail(fmt.Errorf("commit: %w", err))
				continue
			}
			w.lats = append(w.lats, t2.Sub(t1))
			if counted {
				w.xfer = append(w.xfer, t2.Sub(t0))
			}
		}
	})
}

// inWindow runs n clients' loops until the window (warmup, then duration)
// ends and collects what they counted; each loop gets the run's context
// and the measured window.
func inWindow(ctx context.Context, n int, warmup, duration time.Duration, loop func(runCtx context.Context, i int, w *worker, measureStart, measureEnd time.Time)) Run {
	measureStart := time.Now().Add(warmup)
	measureEnd := measureStart.Add(duration)
	runCtx, cancel := context.WithDeadline(ctx, measureEnd)
	defer cancel()
	workers := make([]worker, n)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(runCtx, i, &workers[i], measureStart, measureEnd)
		}()
	}
	wg.Wait()
	return collect(ctx, workers, measureStart, measureEnd)
}

// pair is client i's two parties among n: neighbours (the direction
// alternates), or with oneWay party 0 paying 1 + i mod (n−1).
func pair(i, n int, oneWay bool) (a, b int) {
	if oneWay {
		return 0, 1 + i%(n-1)
	}
	return i % n, (i + 1) % n
}

func collect(ctx context.Context, workers []worker, measureStart, measureEnd time.Time) Run {
	end := measureEnd
	r := Run{Interrupted: ctx.Err() != nil}
	if now := time.Now(); r.Interrupted && now.Before(measureEnd) {
		end = now
	}
	r.Window = max(end.Sub(measureStart), 0)
	for _, w := range workers {
		r.Lats = append(r.Lats, w.lats...)
		r.XferLats = append(r.XferLats, w.xfer...)
		r.Rejected += w.rejected
		r.Committed += w.committed
		kinds := make([]string, 0, len(w.errs))
		for k := range w.errs {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			if r.ErrorKinds == nil {
				r.ErrorKinds, r.ErrorSample = map[string]int{}, map[string]string{}
			}
			r.ErrorKinds[k] += w.errs[k]
			r.Errors += w.errs[k]
			if _, ok := r.ErrorSample[k]; !ok {
				r.ErrorSample[k] = w.samples[k]
			}
		}
	}
	r.Ops, r.Transfers = len(r.Lats), len(r.XferLats)
	return r
}
