package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/icn-coop/icn/money"
)

// Bucket names. Other coopnode packages keep their own buckets in the same
// file by listing them in Options.Buckets.
var (
	bktMeta     = []byte("meta")
	bktEntries  = []byte("entries")  // seq → LedgerEntry bytes
	bktBalances = []byte("balances") // account 0x00 currency → balance record
	bktLimits   = []byte("limits")   // account 0x00 currency → int64 units
	bktPayments = []byte("payments") // payment id → PaymentRecord
	bktHistory  = []byte("history")  // account 0x00 n → payment id (n from the history counter in meta)
	bktFeed     = []byte("feed")     // seq → FeedEvent (the co-op feed)
	bktMFeed    = []byte("mfeed")    // did 0x00 member seq → co-op seq
	bktMFeedSeq = []byte("mfeedseq") // did → nothing (files before 2026-11-30: its last seq, unused): the members with a feed
	// The open two-phase payments (pending holds and credits), kept in the
	// transaction that opens or decides them: n → payment id, in opening
	// order (n from the open counter in meta), and payment id → n.
	bktOpen    = []byte("open")
	bktOpenIDs = []byte("openids")

	keyHeadSeq  = []byte("head_seq")
	keyHeadHash = []byte("head_hash")
	keyVersion  = []byte("version")
	keyHistSeq  = []byte("history_seq")
	keyOpenSeq  = []byte("open_seq")
)

// schemaVersion 2: history and member feeds in flat buckets with composite
// keys. The open-transfer index (bktOpen, bktOpenIDs) came later within
// version 2: Open builds it from the payments when a file lacks it.
const schemaVersion = 2

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("ledger closed")

// Options configure a Store.
type Options struct {
	Path       string
	Currencies money.Currencies
	// DefaultLimits is the credit limit of a member account without its own,
	// per currency code: how far below zero its balance may go.
	DefaultLimits map[string]money.Amount
	// Buckets lists extra top-level buckets other packages keep in this file.
	Buckets [][]byte
	// MaxBatch bounds how many writes share one transaction (default 512).
	MaxBatch int
	// NoSync skips fsync: for benchmarks of everything else only, never production.
	NoSync bool
	Clock  func() time.Time
	Logger *slog.Logger
}

// Store is an open ledger.
type Store struct {
	db       *bolt.DB
	opts     Options
	ops      chan *op
	quit     chan struct{}
	done     chan struct{}
	closeMu  sync.RWMutex
	closed   bool
	feeds    *feedHub
	onCommit atomic.Pointer[func(n int)] // metrics hook: number of ops in a committed batch
}

type op struct {
	fn   func(*Tx) error
	err  error
	done chan struct{}
}

// Open opens (creating if needed) the ledger at opts.Path.
func Open(opts Options) (*Store, error) {
	if opts.Currencies == nil {
		opts.Currencies = money.DefaultCurrencies()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: opts.NoSync,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", opts.Path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		indexOpen := tx.Bucket(bktOpen) == nil
		for _, b := range append([][]byte{bktMeta, bktEntries, bktBalances, bktLimits, bktPayments, bktHistory, bktFeed, bktMFeed, bktMFeedSeq, bktOpen, bktOpenIDs}, opts.Buckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bktMeta)
		if v := meta.Get(keyVersion); v == nil {
			if err := meta.Put(keyVersion, u64(schemaVersion)); err != nil {
				return err
			}
		} else if binary.BigEndian.Uint64(v) != schemaVersion {
			return fmt.Errorf("schema version %d, this binary reads %d", binary.BigEndian.Uint64(v), schemaVersion)
		}
		if indexOpen {
			return buildOpenIndex(tx)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", opts.Path, err)
	}
	s := &Store{
		db: db, opts: opts,
		ops:   make(chan *op, 4*opts.MaxBatch),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		feeds: newFeedHub(),
	}
	go s.writer()
	return s, nil
}

// Close stops the writer after the writes already queued and closes the file.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.closeMu.Unlock()
	<-s.done
	s.feeds.closeAll()
	return s.db.Close()
}

// Currencies returns the currencies this ledger accepts.
func (s *Store) Currencies() money.Currencies { return s.opts.Currencies }

// SetCommitHook registers fn, called by the writer with the size of each committed batch.
func (s *Store) SetCommitHook(fn func(n int)) { s.onCommit.Store(&fn) }

// Update runs fn in a write transaction shared with other concurrent writers,
// and returns once that transaction is durable. If fn fails, nothing it wrote
// is kept (the batch is retried without it), so fn may write before it fails.
// fn may run more than once; it must not have effects outside tx.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	o := &op{fn: fn, done: make(chan struct{})}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	// Once queued, the write will happen: wait for its outcome even if ctx
	// ends, so a caller never reports failure for a write that landed.
	<-o.done
	return o.err
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*bolt.Tx) error) error { return s.db.View(fn) }

func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*op, 0, s.opts.MaxBatch)
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.quit:
			// Drain what was queued before Close.
			for {
				select {
				case o := <-s.ops:
					s.commit([]*op{o})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

var errRetryBatch = errors.New("retry batch")

// appendBuckets take keys in increasing order (per member for history and
// member feeds), so their pages are filled to appendFill when they split
// instead of bbolt's half: a page left behind never gets another key
// (TestAppendBucketsFill). That halves those buckets on disk, and a mix of
// cross-co-op holds, credits and their outcomes wrote 2.7 instead of 3.0
// pages per operation with UUIDv7 payment ids (4.2 instead of 4.4 with
// random ones). etcd does the same for its revisions.
var appendBuckets = [][]byte{bktEntries, bktFeed, bktHistory, bktMFeed, bktOpen}

const appendFill = 0.9

// commit applies a batch in one transaction. An op that fails is taken out and
// the rest retried, as bbolt's own Batch does, so one bad op never rolls back
// or partially applies another.
func (s *Store) commit(batch []*op) {
	for {
		var events []published
		err := s.db.Update(func(btx *bolt.Tx) error {
			events = events[:0]
			for _, name := range appendBuckets {
				btx.Bucket(name).FillPercent = appendFill
			}
			for _, o := range batch {
				if o.err != nil {
					continue
				}
				tx := &Tx{Tx: btx, s: s}
				if err := o.fn(tx); err != nil {
					o.err = err
					return errRetryBatch
				}
				events = append(events, tx.events...)
			}
			return nil
		})
		if errors.Is(err, errRetryBatch) {
			if remaining(batch) == 0 {
				break
			}
			continue
		}
		n := 0
		for _, o := range batch {
			if o.err == nil {
				o.err = err // nil, or the disk error that failed the whole batch
				n++
			}
		}
		if err == nil {
			s.feeds.publish(events)
			if hook := s.onCommit.Load(); hook != nil {
				(*hook)(n)
			}
		} else {
			s.opts.Logger.Error("ledger commit failed", "ops", len(batch), "err", err)
		}
		break
	}
	for _, o := range batch {
		close(o.done)
	}
}

func remaining(batch []*op) int {
	n := 0
	for _, o := range batch {
		if o.err == nil {
			n++
		}
	}
	return n
}

// Tx is a write transaction handed to Update callbacks.
type Tx struct {
	*bolt.Tx
	s      *Store
	events []published
}

// Now returns the store's clock reading.
func (tx *Tx) Now() time.Time { return tx.s.opts.Clock() }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func hashEntry(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
