package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
)

func TestFeedSequences(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 20, 3)
	a, b, c := m[0], m[1], m[2]
	hub := ClearingAccount("hub")

	type want struct {
		typ     string
		members []Account // whose own feeds get the event
	}
	var steps []want
	pay := func(tr Transfer, w want) {
		t.Helper()
		mustPay(t, s, tr)
		steps = append(steps, w)
	}
	pay(xfer(a, b, 100), want{EventPayment, []Account{a, b}})
	pay(xfer(a, c, 3*defaultLimit), want{EventPaymentRejected, []Account{a}})
	pay(xfer(c, b, 100), want{EventPayment, []Account{c, b}})
	pay(xfer(hub, a, 100), want{EventPayment, []Account{a}})
	pay(xfer(b, hub, 100), want{EventPayment, []Account{b}})
	h := xfer(c, a, 50)
	mustHold(t, s, h)
	steps = append(steps, want{EventPaymentPending, []Account{c}})
	if _, err := s.CommitHold(bg, h.ID, hub); err != nil {
		t.Fatal(err)
	}
	steps = append(steps, want{EventPayment, []Account{c}}) // a hold's payee is another co-op's member
	h2 := xfer(b, a, 50)
	mustHold(t, s, h2)
	steps = append(steps, want{EventPaymentPending, []Account{b}})
	if _, err := s.ReleaseHold(bg, h2.ID, "expired"); err != nil {
		t.Fatal(err)
	}
	steps = append(steps, want{EventPaymentRejected, []Account{b}})
	// Repeats add no events.
	mustPay(t, s, xfer(a, b, 1))
	steps = append(steps, want{EventPayment, []Account{a, b}})
	if _, err := s.CommitHold(bg, h.ID, hub); err != nil {
		t.Fatal(err)
	}

	coop := readAll(t, s, CoopFeed, 0)
	if len(coop) != len(steps) {
		t.Fatalf("co-op feed has %d events, want %d", len(coop), len(steps))
	}
	wantMember := map[Account][]string{}
	for i, ev := range coop {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("co-op event %d has seq %d", i, ev.Seq)
		}
		if ev.Type != steps[i].typ {
			t.Fatalf("co-op event %d is %s, want %s", ev.Seq, ev.Type, steps[i].typ)
		}
		var pe PaymentEvent
		if err := json.Unmarshal(ev.Payload, &pe); err != nil || pe.ID == "" {
			t.Fatalf("payload %s: %v", ev.Payload, err)
		}
		for _, acc := range steps[i].members {
			wantMember[acc] = append(wantMember[acc], pe.ID+"/"+ev.Type)
		}
	}
	for _, acc := range []Account{a, b, c} {
		evs := readAll(t, s, string(acc), 0)
		var got []string
		for i, ev := range evs {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d has seq %d", acc, i, ev.Seq)
			}
			var pe PaymentEvent
			if err := json.Unmarshal(ev.Payload, &pe); err != nil {
				t.Fatal(err)
			}
			got = append(got, pe.ID+"/"+ev.Type)
		}
		if fmt.Sprint(got) != fmt.Sprint(wantMember[acc]) {
			t.Fatalf("%s's feed\n got %v\nwant %v", acc, got, wantMember[acc])
		}
	}
	if evs := readAll(t, s, string(hub), 0); len(evs) != 0 {
		t.Fatalf("the clearing account has a feed of %d events", len(evs))
	}

	// ReadFeed(since) returns exactly the events after since.
	for since := 0; since <= len(coop)+1; since++ {
		got, err := s.ReadFeed(CoopFeed, uint64(since), 1000)
		if err != nil {
			t.Fatal(err)
		}
		wantN := max(len(coop)-since, 0)
		if len(got) != wantN {
			t.Fatalf("since %d: %d events, want %d", since, len(got), wantN)
		}
		for i, ev := range got {
			if ev.Seq != uint64(since+i+1) || ev.Type != coop[since+i].Type {
				t.Fatalf("since %d: event %d is seq %d", since, i, ev.Seq)
			}
		}
	}
	if got, _ := s.ReadFeed(CoopFeed, 0, 3); len(got) != 3 || got[2].Seq != 3 {
		t.Fatalf("limit 3: %v", got)
	}
	if got, err := s.ReadFeed("did:icn:nobody", 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("unknown feed: %v %v", got, err)
	}
}

// TestSubscribeSeam: subscribe, let writers run, read the backlog, then follow
// the live channel skipping what the backlog already had. Every seq must be
// seen exactly once, in order, on the co-op feed and on a member's feed.
func TestSubscribeSeam(t *testing.T) {
	seed := testSeed(t, 42)
	s, _ := openStore(t, nil)
	m := memberDIDs(t, seed, 6)
	const writers, perWriter, before = 8, 40, 25

	payOne := func(rng *rand.Rand) error {
		from := m[rng.IntN(len(m))]
		to := m[rng.IntN(len(m))]
		if to == from {
			to = ClearingAccount("hub")
		}
		_, err := s.Pay(bg, xfer(from, to, 1+rng.Int64N(2000)))
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < before; i++ {
		if err := payOne(rng); err != nil {
			t.Fatal(err)
		}
	}

	watched := m[0]
	total := before + writers*perWriter
	coopSub := s.Subscribe(CoopFeed, 4*total)
	defer coopSub.Close()
	memberSub := s.Subscribe(string(watched), 4*total)
	defer memberSub.Close()

	started := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(100+w)))
			for i := 0; i < perWriter; i++ {
				if err := payOne(rng); err != nil {
					t.Error(err)
				}
				if w == 0 && i == 5 {
					close(started)
				}
			}
		}(w)
	}
	<-started // the backlog is read while the writers are still writing

	// Both backlogs are read while the writers are still writing.
	coopF := beginFollow(t, s, CoopFeed, coopSub)
	memberF := beginFollow(t, s, string(watched), memberSub)
	coopF.finish(t, total)
	wg.Wait()
	// Now every write is done: the member feed's final length is known.
	memberF.finish(t, len(readAll(t, s, string(watched), 0)))
	// Nothing more arrives than what was written.
	select {
	case ev := <-coopSub.C:
		t.Fatalf("unexpected extra event %d", ev.Seq)
	default:
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 21, 2)
	slow := s.Subscribe(CoopFeed, 2)
	member := s.Subscribe(string(m[1]), 8)
	defer member.Close()
	for i := 0; i < 5; i++ {
		mustPay(t, s, xfer(m[0], m[1], 10)) // publication precedes Pay's return
	}
	var got []uint64
	for ev := range slow.C { // must end: the channel is closed
		got = append(got, ev.Seq)
	}
	if !slow.Lagged() {
		t.Fatal("Lagged() is false for a dropped subscriber")
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("slow subscriber got %v before the drop, want [1 2]", got)
	}
	slow.Close() // closing a dropped subscription is harmless
	// The subscriber with room is unaffected.
	for i := 1; i <= 5; i++ {
		if ev := <-member.C; ev.Seq != uint64(i) {
			t.Fatalf("member event seq %d, want %d", ev.Seq, i)
		}
	}
	if member.Lagged() {
		t.Fatal("member subscription lagged")
	}
	// Resume after lag with ReadFeed from the last seq seen.
	if rest := readAll(t, s, CoopFeed, got[len(got)-1]); len(rest) != 3 || rest[0].Seq != 3 {
		t.Fatalf("resume: %v", rest)
	}
	// Close ends live subscriptions without marking them lagged.
	live := s.Subscribe(CoopFeed, 8)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-live.C; ok {
		t.Fatal("subscription open after Close")
	}
	if live.Lagged() {
		t.Fatal("Close marked a subscription lagged")
	}
	// Subscribing after Close ends at once instead of waiting forever.
	late := s.Subscribe(CoopFeed, 8)
	if _, ok := <-late.C; ok {
		t.Fatal("event on a subscription made after Close")
	}
	late.Close()
}

func TestEventJSON(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 800, time.FixedZone("x", 3600))
	b, err := json.Marshal(Event{Seq: 9, Type: EventPayment, At: at, Payload: json.RawMessage(`{"id":"p"}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":9,"type":"Payment","at":"2025-03-04T04:06:07.0000008Z","payload":{"id":"p"}}`
	if string(b) != want {
		t.Fatalf("event JSON\n got %s\nwant %s", b, want)
	}
}

// follower is one side of the subscribe-then-read seam.
type follower struct {
	feed     string
	sub      *Subscription
	seqs     []uint64
	last     uint64
	backlogN int
}

// beginFollow reads feed's backlog; sub must already be subscribed.
func beginFollow(t *testing.T, s *Store, feed string, sub *Subscription) *follower {
	t.Helper()
	f := &follower{feed: feed, sub: sub}
	for _, ev := range readAll(t, s, feed, 0) {
		f.seqs = append(f.seqs, ev.Seq)
		f.last = ev.Seq
	}
	f.backlogN = len(f.seqs)
	return f
}

// finish follows the live channel, skipping seqs the backlog had, until want
// events are seen; they must be exactly 1..want in order.
func (f *follower) finish(t *testing.T, want int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for len(f.seqs) < want {
		select {
		case ev, ok := <-f.sub.C:
			if !ok {
				t.Fatalf("feed %q: subscription closed (lagged %v) after %d events", f.feed, f.sub.Lagged(), len(f.seqs))
			}
			if ev.Seq <= f.last {
				continue
			}
			f.seqs = append(f.seqs, ev.Seq)
			f.last = ev.Seq
		case <-timeout:
			t.Fatalf("feed %q: saw %d of %d events", f.feed, len(f.seqs), want)
		}
	}
	for i, seq := range f.seqs {
		if seq != uint64(i+1) {
			t.Fatalf("feed %q: event %d has seq %d (backlog %d events)", f.feed, i, seq, f.backlogN)
		}
	}
	t.Logf("feed %q: %d events from the backlog, %d live", f.feed, f.backlogN, len(f.seqs)-f.backlogN)
}

func TestAppendEventAllMembers(t *testing.T) {
	s, _ := openStore(t, nil)
	m := memberDIDs(t, 22, 3)
	mustPay(t, s, xfer(m[0], m[1], 5)) // m[0] and m[1] now have feeds; m[2] none
	err := s.Update(bg, func(tx *Tx) error {
		return tx.AppendEvent(EventSpec{Type: "Notice", Payload: map[string]string{"text": "hello"}, AllMembers: true})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{2, 2, 0} {
		evs := readAll(t, s, string(m[i]), 0)
		if len(evs) != want {
			t.Fatalf("member %d: %d events, want %d", i, len(evs), want)
		}
		if want > 0 && (evs[1].Type != "Notice" || evs[1].Seq != 2 || string(evs[1].Payload) != `{"text":"hello"}`) {
			t.Fatalf("member %d: %+v", i, evs[1])
		}
	}
	// Duplicate members get the event once; an unmarshalable payload fails the write.
	err = s.Update(bg, func(tx *Tx) error {
		return tx.AppendEvent(EventSpec{Type: "Dup", Payload: 1, Members: []identity.DID{identity.DID(m[2]), identity.DID(m[2])}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if evs := readAll(t, s, string(m[2]), 0); len(evs) != 1 {
		t.Fatalf("duplicate member got %d events", len(evs))
	}
	err = s.Update(bg, func(tx *Tx) error { return tx.AppendEvent(EventSpec{Type: "Bad", Payload: func() {}}) })
	if err == nil {
		t.Fatal("an unmarshalable payload was accepted")
	}
	if evs := readAll(t, s, CoopFeed, 0); len(evs) != 3 {
		t.Fatalf("co-op feed has %d events, want 3", len(evs))
	}
}

// TestLastPrefixed: a member's last feed seq is found among neighbours whose
// names share its prefix or sort next to it.
func TestLastPrefixed(t *testing.T) {
	s, _ := openStore(t, nil)
	keys := map[string][]uint64{"did:icn:A": {1, 2, 3}, "did:icn:AB": {1, 5}, "did:icn:B": {7}, "did:icn:C": {1 << 40}}
	err := s.Update(context.Background(), func(tx *Tx) error {
		for name, ns := range keys {
			for _, n := range ns {
				if err := tx.Bucket(bktMFeed).Put(prefixed(name, n), u64(1)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{"did:icn:A": 3, "did:icn:AB": 5, "did:icn:B": 7, "did:icn:C": 1 << 40,
		"did:icn:AA": 0, "did:icn:0": 0, "did:icn:D": 0, "did:icn:": 0, "": 0} {
		_ = s.View(func(tx *store.View) error {
			if got := lastPrefixed(tx.Bucket(bktMFeed), name); got != want {
				t.Errorf("lastPrefixed(%q) = %d, want %d", name, got, want)
			}
			return nil
		})
	}
}
