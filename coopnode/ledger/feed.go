package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// CoopFeed names the co-op-wide feed; a member's feed is named by its DID.
const CoopFeed = ""

// Event is one message of a feed. Seq rises by exactly one per event within a feed.
type Event struct {
	Seq     uint64          `json:"seq"`
	Type    string          `json:"type"`
	At      time.Time       `json:"at"`
	Payload json.RawMessage `json:"payload"`
}

// MarshalJSON writes At as RFC 3339 UTC, as API.md fixes.
func (e Event) MarshalJSON() ([]byte, error) {
	type wire struct {
		Seq     uint64          `json:"seq"`
		Type    string          `json:"type"`
		At      string          `json:"at"`
		Payload json.RawMessage `json:"payload"`
	}
	return json.Marshal(wire{e.Seq, e.Type, e.At.UTC().Format(time.RFC3339Nano), e.Payload})
}

// EventSpec is an event to append: it goes to the co-op feed and to the feeds
// of Members, or of every member that has a feed when AllMembers is set.
type EventSpec struct {
	Type       string
	Payload    any // marshalled to JSON
	Members    []identity.DID
	AllMembers bool
}

type published struct {
	feed string
	ev   Event
}

// AppendEvent writes ev into the feeds within this transaction; subscribers
// see it once the transaction commits.
func (tx *Tx) AppendEvent(spec EventSpec) error {
	payload, err := json.Marshal(spec.Payload)
	if err != nil {
		return fmt.Errorf("append event %s: %w", spec.Type, err)
	}
	at := tx.Now().UTC()
	feed := tx.Bucket(bktFeed)
	seq, err := feed.NextSequence()
	if err != nil {
		return err
	}
	rec, err := proto.Marshal(&icnv1.FeedEvent{Seq: seq, Type: spec.Type, AtUnixNano: at.UnixNano(), PayloadJson: payload})
	if err != nil {
		return err
	}
	if err := feed.Put(u64(seq), rec); err != nil {
		return err
	}
	ev := Event{Seq: seq, Type: spec.Type, At: at, Payload: payload}
	events := []published{{CoopFeed, ev}}

	members := spec.Members
	if spec.AllMembers {
		members = nil
		if err := tx.Bucket(bktMFeedSeq).ForEach(func(k, _ []byte) error {
			members = append(members, identity.DID(k))
			return nil
		}); err != nil {
			return err
		}
	}
	seqs, index := tx.Bucket(bktMFeedSeq), tx.Bucket(bktMFeed)
	seen := make(map[identity.DID]bool, len(members))
	for _, m := range members {
		if seen[m] {
			continue
		}
		seen[m] = true
		// The member's last seq is its last key in the index (whose page
		// this write dirties anyway); seqs only lists the members with a
		// feed, so it is written once per member, not per event.
		mseq := lastPrefixed(index, string(m)) + 1
		if mseq == 1 && seqs.Get([]byte(m)) == nil {
			if err := seqs.Put([]byte(m), nil); err != nil {
				return err
			}
		}
		if err := index.Put(prefixed(string(m), mseq), u64(seq)); err != nil {
			return err
		}
		mev := ev
		mev.Seq = mseq
		events = append(events, published{string(m), mev})
	}
	feeds := tx.s.feeds
	tx.AfterCommit(func() { feeds.publish(events) })
	return nil
}

// lastPrefixed returns the largest n of a key name 0x00 n in b, or 0.
func lastPrefixed(b *store.Bucket, name string) uint64 {
	c := b.Cursor()
	end := append(prefixed(name, math.MaxUint64), 0) // just past name's last possible key
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	p := len(name) + 1
	if len(k) != p+8 || string(k[:len(name)]) != name || k[len(name)] != 0 {
		return 0
	}
	return binary.BigEndian.Uint64(k[p:])
}

// ReadFeed returns up to limit events of feed with seq > since, oldest first.
func (s *Store) ReadFeed(feed string, since uint64, limit int) ([]Event, error) {
	var out []Event
	err := s.st.View(func(tx *store.View) error {
		events := tx.Bucket(bktFeed)
		load := func(coopSeq, seq uint64) error {
			v := events.Get(u64(coopSeq))
			if v == nil {
				return fmt.Errorf("feed event %d missing", coopSeq)
			}
			var fe icnv1.FeedEvent
			if err := proto.Unmarshal(v, &fe); err != nil {
				return fmt.Errorf("feed event %d: %w", coopSeq, err)
			}
			out = append(out, Event{Seq: seq, Type: fe.Type, At: time.Unix(0, fe.AtUnixNano).UTC(), Payload: fe.PayloadJson})
			return nil
		}
		if feed == CoopFeed {
			c := events.Cursor()
			for k, _ := c.Seek(u64(since + 1)); k != nil && len(out) < limit; k, _ = c.Next() {
				seq := binary.BigEndian.Uint64(k)
				if err := load(seq, seq); err != nil {
					return err
				}
			}
			return nil
		}
		prefix := []byte(feed + "\x00")
		c := tx.Bucket(bktMFeed).Cursor()
		for k, v := c.Seek(prefixed(feed, since+1)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 && len(out) < limit; k, v = c.Next() {
			if err := load(binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(k[len(prefix):])); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Subscription delivers a feed's events as they commit. If the subscriber
// falls more than its buffer behind, C is closed and Lagged reports true: the
// subscriber resumes with ReadFeed from its last seq.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	feed   string
	hub    *feedHub
	lagged bool
}

// Lagged reports whether C was closed because the subscriber fell behind.
func (sub *Subscription) Lagged() bool {
	sub.hub.mu.Lock()
	defer sub.hub.mu.Unlock()
	return sub.lagged
}

// Close ends the subscription.
func (sub *Subscription) Close() { sub.hub.remove(sub) }

// Subscribe starts delivering feed's newly committed events. Subscribe before
// reading the backlog, then skip events at or below the backlog's last seq:
// that way none is lost or repeated at the seam.
func (s *Store) Subscribe(feed string, buffer int) *Subscription {
	c := make(chan Event, buffer)
	sub := &Subscription{C: c, c: c, feed: feed, hub: s.feeds}
	s.feeds.add(sub)
	return sub
}

type feedHub struct {
	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
}

func newFeedHub() *feedHub { return &feedHub{subs: map[string]map[*Subscription]struct{}{}} }

func (h *feedHub) add(sub *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(sub.c) // nothing will ever be published: end at once, don't hang
		return
	}
	m := h.subs[sub.feed]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[sub.feed] = m
	}
	m[sub] = struct{}{}
}

func (h *feedHub) remove(sub *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(sub)
}

func (h *feedHub) dropLocked(sub *Subscription) {
	if m := h.subs[sub.feed]; m != nil {
		if _, ok := m[sub]; ok {
			delete(m, sub)
			close(sub.c)
		}
		if len(m) == 0 {
			delete(h.subs, sub.feed)
		}
	}
}

func (h *feedHub) publish(events []published) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range events {
		for sub := range h.subs[p.feed] {
			select {
			case sub.c <- p.ev:
			default:
				sub.lagged = true
				h.dropLocked(sub)
			}
		}
	}
}

// resync ends every subscription as lagged: its subscriber reads the feed
// again from its last seq (after a snapshot replaced the state).
func (h *feedHub) resync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subs {
		for sub := range m {
			sub.lagged = true
			h.dropLocked(sub)
		}
	}
}

func (h *feedHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, m := range h.subs {
		for sub := range m {
			h.dropLocked(sub)
		}
	}
}
