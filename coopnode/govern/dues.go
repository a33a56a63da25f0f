package govern

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/payment"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// DuesRun is what one collection booked for a period: the payments made,
// and the members skipped with the ledger's reason (insufficient_credit:
// the member's available credit did not cover the dues). A skipped
// member's dues payment is recorded rejected under its id, so it shows in
// the member's history and is never charged later for that period.
type DuesRun struct {
	Period  string    `json:"period"`
	At      time.Time `json:"at"`
	Paid    []string  `json:"paid"`
	Skipped []Skipped `json:"skipped"`
}

// Skipped is a member whose dues were not booked, and why.
type Skipped struct {
	Member  identity.DID `json:"member"`
	Payment string       `json:"payment"`
	Reason  string       `json:"reason"`
}

// Dues is the co-op's dues schedule (nil if none passed yet), the last
// period collected and its run.
type Dues struct {
	Schedule *Schedule `json:"schedule"`
	Last     string    `json:"last_period,omitempty"`
	LastRun  *DuesRun  `json:"last_run,omitempty"`
}

// CollectDues books the dues due now, if any; it returns the runs booked
// (none when nothing was due). Repeating it is harmless: a period is
// collected once (recorded with its payments) and each payment id once.
func (s *Store) CollectDues(ctx context.Context) ([]DuesRun, error) {
	due, err := s.dueNow(s.opts.Clock())
	if err != nil || len(due) == 0 {
		return nil, err
	}
	ids := make([]string, len(due))
	for i, p := range due {
		ids[i] = p.ID
	}
	v, err := s.submit(ctx, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_CollectDues{CollectDues: &icnv1.CollectDues{DueIds: ids}}})
	if err != nil {
		return nil, fmt.Errorf("collect dues: %w", err)
	}
	runs, _ := v.([]DuesRun)
	return runs, nil
}

// dueNow is what DuesDue says is due at now, read from the committed state
// (the handler computes it again inside its transaction).
func (s *Store) dueNow(now time.Time) ([]governance.DuesPayment, error) {
	var due []governance.DuesPayment
	err := s.l.State().View(func(v *store.View) error {
		var sch Schedule
		ok, err := v.Bucket(bktMeta).GetJSON(keyDues, &sch)
		if err != nil || !ok {
			return err
		}
		var payers []governance.Payer
		for _, m := range s.m.Members() {
			if m.Status == "active" {
				payers = append(payers, governance.Payer{Member: m.DID, Since: m.JoinedAt})
			}
		}
		due, _, err = duesDue(s.opts.CoopID, sch, payers, string(v.Bucket(bktMeta).Get(keyDuesLast)), now, s.l.Currencies().Lookup)
		return err
	})
	return due, err
}

func duesDue(coop string, sch Schedule, payers []governance.Payer, last string, now time.Time, cur lookup) ([]governance.DuesPayment, governance.Period, error) {
	ds, err := sch.domain(cur)
	if err != nil {
		return nil, governance.Period{}, err
	}
	var lastP governance.Period
	if last != "" {
		if lastP, err = governance.ParsePeriod(last); err != nil {
			return nil, governance.Period{}, err
		}
	}
	return governance.DuesDue(coop, ds, payers, lastP, now)
}

func (s *Store) applyCollectDues(tx *gtx, _ *icnv1.CoopCommand) (any, error) {
	meta := tx.Bucket(bktMeta)
	var sch Schedule
	ok, err := meta.GetJSON(keyDues, &sch)
	if err != nil || !ok {
		return []DuesRun(nil), err
	}
	ms, err := s.m.ActiveTx(tx.Tx)
	if err != nil {
		return nil, err
	}
	payers := make([]governance.Payer, len(ms))
	for i, m := range ms {
		payers[i] = governance.Payer{Member: m.DID, Since: m.JoinedAt}
	}
	due, period, err := duesDue(s.opts.CoopID, sch, payers, string(meta.Get(keyDuesLast)), tx.Now(), tx.Currency)
	if err != nil {
		return nil, err
	}
	var runs []DuesRun
	for _, p := range due {
		if len(runs) == 0 || runs[len(runs)-1].Period != p.Period.String() {
			runs = append(runs, DuesRun{Period: p.Period.String(), At: tx.Now().UTC(), Paid: []string{}, Skipped: []Skipped{}})
		}
		run := &runs[len(runs)-1]
		t := ledger.Transfer{ID: p.ID, From: ledger.Account(p.From), To: ledger.Account(p.To), FromCoop: s.opts.CoopID,
			ToCoop: s.opts.CoopID, Amount: p.Amount, Memo: "dues " + p.Period.String(), CreatedAt: p.DueAt}
		t.Intent, t.Signature = s.signDues(t)
		pay, err := tx.Pay(t)
		switch {
		case errors.Is(err, ledger.ErrModifiedRequest):
			run.Skipped = append(run.Skipped, Skipped{Member: p.From, Payment: p.ID, Reason: "already_booked"})
		case err != nil:
			return nil, err
		case pay.Status == ledger.StatusCommitted:
			run.Paid = append(run.Paid, p.ID)
		default:
			run.Skipped = append(run.Skipped, Skipped{Member: p.From, Payment: p.ID, Reason: pay.Reason})
		}
	}
	for _, run := range runs {
		if err := tx.Bucket(bktDuesRuns).PutJSON([]byte(run.Period), run); err != nil {
			return nil, err
		}
	}
	if !period.IsZero() {
		if err := meta.Put(keyDuesLast, []byte(period.String())); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// duesOrderLife is how long after its due instant a dues order says it
// expires: the order is a record, booked at once, but an intent has an expiry.
const duesOrderLife = 30 * 24 * time.Hour

// signDues is the co-op's order for dues payment t: a payment intent
// (payment.Intent's form) signed by the node's key under the payment-intent
// tag, kept with the payment for audit. Ed25519 signs deterministically, so
// every node that applies the command writes the same bytes.
func (s *Store) signDues(t ledger.Transfer) (intent, sig []byte) {
	if s.opts.Key == nil {
		return nil, nil
	}
	intent, err := json.Marshal(payment.Intent{ID: t.ID, From: string(t.From), To: string(t.To), ToCoop: t.ToCoop,
		Amount: t.Amount.String(), Currency: t.Amount.Currency().Code, Memo: t.Memo,
		CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339), ExpiresAt: t.CreatedAt.Add(duesOrderLife).UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, nil // a struct of strings always encodes
	}
	return intent, s.opts.Key.Sign(identity.TagPaymentIntent, intent)
}

// Tick does what is due at the store's clock: it closes the proposals past
// their deadline and collects the dues due. The scheduler calls it; it
// submits nothing when nothing is due.
func (s *Store) Tick(ctx context.Context) error {
	now := s.opts.Clock()
	var overdue bool
	err := s.l.State().View(func(v *store.View) error {
		k, _ := v.Bucket(bktDeadlines).Cursor().First()
		overdue = k != nil && string(k[:8]) <= string(deadlineKey(now, ""))
		return nil
	})
	if err != nil {
		return err
	}
	if overdue {
		if err := s.Advance(ctx); err != nil {
			return fmt.Errorf("advance proposals: %w", err)
		}
	}
	runs, err := s.CollectDues(ctx)
	for _, run := range runs {
		s.opts.Logger.Info("dues collected", "period", run.Period, "paid", len(run.Paid), "skipped", len(run.Skipped))
		for _, sk := range run.Skipped {
			s.opts.Logger.Warn("dues skipped", "period", run.Period, "member", sk.Member, "payment", sk.Payment, "reason", sk.Reason)
		}
	}
	return err
}

// Run calls Tick every interval until ctx ends (on a replicated store, only
// the leader should run it; every command is safe to repeat regardless).
func (s *Store) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Error("governance tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
