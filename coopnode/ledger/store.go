package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
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
	// keyOpenIndexed marks a file whose open-transfer index is complete.
	keyOpenIndexed = []byte("open_indexed")
)

// schemaVersion 2: history and member feeds in flat buckets with composite
// keys. The open-transfer index (bktOpen, bktOpenIDs) came later within
// version 2: Open builds it from the payments when a file lacks it.
const schemaVersion = 2

// ErrClosed is returned by writes after Close.
var ErrClosed = store.ErrClosed

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
	// Replica: the file is a Raft group's state, rebuilt from its log after
	// a crash (store.Options.Replica).
	Replica bool
	// Clock stamps the commands this store builds (their only time).
	Clock  func() time.Time
	Logger *slog.Logger
}

// Store is the member ledger over a co-op node's state (store.Store).
type Store struct {
	st    *store.Store
	own   bool // opened by Open: Close closes st
	opts  Options
	feeds *feedHub
	// before runs at the top of every ledger command (BeforeCommand).
	before atomic.Pointer[func(*Tx) error]
	// gate adjusts what member accounts may spend (SetGate).
	gate atomic.Pointer[Gate]
	// configured is the currency table of Options; recorded the one last
	// read from the state (currencies.go).
	configured *currencyTable
	recorded   atomic.Pointer[currencyTable]
}

// BeforeCommand registers fn to run at the top of every ledger command's
// handler, in its transaction, before the command's own work; its error
// fails the command. Governance closes the proposals past their deadline
// there, so that a payment sees the credit limits they set. fn must be
// deterministic, as a handler is. A later call replaces fn.
func (s *Store) BeforeCommand(fn func(*Tx) error) { s.before.Store(&fn) }

// first runs the BeforeCommand hook, then h.
func (s *Store) first(h store.Handler) store.Handler {
	return func(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
		if fn := s.before.Load(); fn != nil {
			if err := (*fn)(s.Tx(stx)); err != nil {
				return nil, err
			}
		}
		return h(stx, cmd)
	}
}

// Buckets lists the ledger's buckets and AppendBuckets those of them that
// take keys in increasing order; pass both to store.Open (Open does).
var (
	Buckets       = [][]byte{bktMeta, bktEntries, bktBalances, bktLimits, bktPayments, bktHistory, bktFeed, bktMFeed, bktMFeedSeq, bktOpen, bktOpenIDs}
	AppendBuckets = appendBuckets
)

// Open opens (creating if needed) the state file at opts.Path with the
// ledger's buckets and opts.Buckets, and the ledger over it; Close closes both.
func Open(opts Options) (*Store, error) {
	st, err := store.Open(store.Options{
		Path: opts.Path, Buckets: slices.Concat(Buckets, opts.Buckets), AppendBuckets: appendBuckets,
		MaxBatch: opts.MaxBatch, NoSync: opts.NoSync, Replica: opts.Replica, Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", opts.Path, err)
	}
	s, err := New(st, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// New returns the ledger kept in st (opened with Buckets among its buckets)
// and registers its command handlers there. It upgrades the file's layout
// if needed (deterministically: the same file gives the same result).
func New(st *store.Store, opts Options) (*Store, error) {
	if opts.Currencies == nil {
		opts.Currencies = money.DefaultCurrencies()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	configured, err := tableOf(opts.Currencies, opts.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: currencies: %w", st.Path(), err)
	}
	s := &Store{st: st, opts: opts, feeds: newFeedHub(), configured: configured}
	if err := st.Init(s.migrate); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", st.Path(), err)
	}
	if err := st.View(s.reloadTable); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", st.Path(), err)
	}
	// A restored state may be ahead of or behind what live subscribers were
	// sent: send them back to read from it (Subscription.Lagged).
	st.OnRestore(func(v *store.View) error { s.feeds.resync(); return s.reloadTable(v) })
	st.Handle((*icnv1.CoopCommand_RecordPayment)(nil), s.first(s.applyRecord))
	st.Handle((*icnv1.CoopCommand_DecidePayment)(nil), s.first(s.applyDecide))
	st.Handle((*icnv1.CoopCommand_SetCreditLimit)(nil), s.first(s.applySetCreditLimit))
	st.Handle((*icnv1.CoopCommand_RecordCurrencies)(nil), s.applyRecordCurrencies)
	return s, nil
}

func (s *Store) migrate(stx *store.Tx) error {
	for _, b := range Buckets {
		if stx.Bucket(b) == nil {
			return fmt.Errorf("bucket %s missing: open the state with ledger.Buckets", b)
		}
	}
	meta := stx.Bucket(bktMeta)
	if v := meta.Get(keyVersion); v == nil {
		if err := meta.Put(keyVersion, u64(schemaVersion)); err != nil {
			return err
		}
	} else if binary.BigEndian.Uint64(v) != schemaVersion {
		return fmt.Errorf("schema version %d, this binary reads %d", binary.BigEndian.Uint64(v), schemaVersion)
	}
	if meta.Get(keyOpenIndexed) != nil {
		return nil
	}
	// A file from before the open-transfer index, or one written before
	// this marker (whose index is complete, and rebuilt the same).
	if meta.Get(keyOpenSeq) == nil {
		if err := buildOpenIndex(s.Tx(stx)); err != nil {
			return err
		}
	}
	return meta.Put(keyOpenIndexed, []byte{1})
}

// State is the state the ledger is kept in.
func (s *Store) State() *store.Store { return s.st }

// Tx is the ledger's view of a write transaction, for handlers of other
// packages that append feed events (AppendEvent).
func (s *Store) Tx(stx *store.Tx) *Tx { return &Tx{Tx: stx, s: s} }

// Close ends the feed subscriptions and, if Open opened the state, closes it
// after the writes already queued.
func (s *Store) Close() error {
	var err error
	if s.own {
		err = s.st.Close()
	}
	s.feeds.closeAll()
	return err
}

// Currencies returns the currencies this ledger accepts: those recorded in
// the state (RecordCurrencies), or the configured ones until some are.
func (s *Store) Currencies() money.Currencies { return s.latest().byCode }

// SetCommitHook registers fn, called by the writer with the size of each committed batch.
func (s *Store) SetCommitHook(fn func(n int)) { s.st.SetCommitHook(fn) }

// now is the time of the next command the ledger builds.
func (s *Store) now() int64 { return s.opts.Clock().UnixNano() }

// appendBuckets take keys in increasing order (per member for history and
// member feeds), so their pages are filled to 90 % when they split
// instead of bbolt's half: a page left behind never gets another key
// (TestAppendBucketsFill). That halves those buckets on disk, and a mix of
// cross-co-op holds, credits and their outcomes wrote 2.7 instead of 3.0
// pages per operation with UUIDv7 payment ids (4.2 instead of 4.4 with
// random ones). etcd does the same for its revisions.
var appendBuckets = [][]byte{bktEntries, bktFeed, bktHistory, bktMFeed, bktOpen}

// Tx is a write transaction of the ledger's handlers.
type Tx struct {
	*store.Tx
	s *Store
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func hashEntry(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
