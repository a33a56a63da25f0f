package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("store closed")

// ErrUnknownCommand: no handler is registered for the command's kind.
var ErrUnknownCommand = errors.New("unknown command")

var (
	bktStore        = []byte("store.meta")
	keyAppliedIndex = []byte("applied_index")
)

// Options configure a Store.
type Options struct {
	Path string
	// Buckets are created at Open if missing.
	Buckets [][]byte
	// AppendBuckets take keys in increasing order: their pages are filled to
	// 90 % when they split instead of bbolt's half, since a page left behind
	// never gets another key.
	AppendBuckets [][]byte
	// MaxBatch bounds how many commands share one transaction (default 512).
	MaxBatch int
	// NoSync skips fsync: for benchmarks of everything else only, never production.
	NoSync bool
	// Replica marks the file as a copy of a Raft log's state, which can be
	// rebuilt from the log's snapshot and entries: commits skip fsync (the
	// log is fsync'd before an entry is applied), Close syncs the file and
	// leaves a marker beside it, and Open removes the marker. After a crash
	// there is no marker: DiscardUnclean moves the file aside before the
	// next Open, and the Raft group restores it.
	Replica bool
	Logger  *slog.Logger
}

// Handler applies one command in tx. Its result goes back to the caller of
// Submit; if it returns an error nothing it wrote is kept. It must be
// deterministic (see the package comment) and must not mutate cmd.
type Handler func(tx *Tx, cmd *icnv1.CoopCommand) (any, error)

// Proposer takes a serialised command to where it is applied and returns
// what its handler returned: a Raft group's leader, for a replicated store.
type Proposer func(ctx context.Context, data []byte) (any, error)

// Entry is a serialised command at its log index.
type Entry struct {
	Index uint64
	Data  []byte
}

// Result is what applying one command gave.
type Result struct {
	Value any
	Err   error
}

// Store is an open state file.
type Store struct {
	opts Options

	// dbMu guards db against Restore swapping it; views and batches hold it shared.
	dbMu sync.RWMutex
	db   *bolt.DB
	// applyMu serialises ApplyBatch and Restore.
	applyMu sync.Mutex

	hmu       sync.RWMutex
	handlers  map[reflect.Type]Handler
	onRestore []func(*View) error
	proposer  Proposer

	ops     chan *op
	quit    chan struct{}
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool
	// onCommit is a metrics hook: the number of commands in a committed batch.
	onCommit func(n int)
}

type op struct {
	data []byte
	res  Result
	done chan struct{}
}

// Open opens (creating if needed) the state file at opts.Path and starts its
// group-commit writer.
func Open(opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Replica {
		if err := removeMarker(opts.Path); err != nil {
			return nil, fmt.Errorf("open state %s: %w", opts.Path, err)
		}
	}
	db, err := openDB(opts)
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts: opts, db: db,
		handlers: map[reflect.Type]Handler{},
		ops:      make(chan *op, 4*opts.MaxBatch),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

func openDB(opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: opts.NoSync || opts.Replica,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", opts.Path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range append([][]byte{bktStore}, opts.Buckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", opts.Path, err)
	}
	return db, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.opts.Path }

// Close stops the writer after the commands already queued and closes the file.
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
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if !s.opts.Replica {
		return s.db.Close()
	}
	// The marker says the file is whole: only once it is on disk.
	err := s.db.Sync()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = writeMarker(s.opts.Path)
	}
	return err
}

// Closed reports whether Close was called.
func (s *Store) Closed() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return s.closed
}

// Handle registers h for the commands whose oneof kind has kind's type (a
// value such as (*icnv1.CoopCommand_RecordPayment)(nil)). A later
// registration for the same kind replaces the earlier one.
func (s *Store) Handle(kind any, h Handler) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	// Copied, not changed in place: a batch being applied keeps the map it read.
	m := maps.Clone(s.handlers)
	m[reflect.TypeOf(kind)] = h
	s.handlers = m
}

// Queued is how many submitted commands wait for the local writer.
func (s *Store) Queued() int { return len(s.ops) }

// OnRestore registers fn, called with the new state after Restore, to
// rebuild what is kept outside the file.
func (s *Store) OnRestore(fn func(*View) error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.onRestore = append(s.onRestore, fn)
}

// SetProposer sends every later Submit to p instead of the local writer.
func (s *Store) SetProposer(p Proposer) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.proposer = p
}

// SetCommitHook registers fn, called with the number of commands applied
// (those whose handler succeeded) in each committed batch of the local writer.
func (s *Store) SetCommitHook(fn func(n int)) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.onCommit = fn
}

// Submit serialises cmd, has it applied, and returns its handler's result
// once it is durable.
func (s *Store) Submit(ctx context.Context, cmd *icnv1.CoopCommand) (any, error) {
	data, err := marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	s.hmu.RLock()
	p := s.proposer
	s.hmu.RUnlock()
	if p != nil {
		return p(ctx, data)
	}
	return s.Propose(ctx, data)
}

// Propose applies a serialised command through the local group-commit
// writer, at the next index.
func (s *Store) Propose(ctx context.Context, data []byte) (any, error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, ErrClosed
	}
	o := &op{data: data, done: make(chan struct{})}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	s.closeMu.RUnlock()
	// Once queued, the command will be applied: wait for its outcome even if
	// ctx ends, so a caller never reports failure for a write that landed.
	<-o.done
	return o.res.Value, o.res.Err
}

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
					s.commitLocal([]*op{o})
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
		s.commitLocal(batch)
	}
}

// commitLocal applies a batch of the local writer at the indexes after the
// last applied one.
func (s *Store) commitLocal(batch []*op) {
	defer func() {
		for _, o := range batch {
			close(o.done)
		}
	}()
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	next, err := s.appliedIndex()
	if err == nil {
		entries := make([]Entry, len(batch))
		for i, o := range batch {
			next++
			entries[i] = Entry{Index: next, Data: o.data}
		}
		var results []Result
		if results, err = s.applyBatch(entries); err == nil {
			applied := 0
			for i, o := range batch {
				if o.res = results[i]; o.res.Err == nil {
					applied++
				}
			}
			s.hmu.RLock()
			hook := s.onCommit
			s.hmu.RUnlock()
			if hook != nil {
				hook(applied)
			}
			return
		}
	}
	s.opts.Logger.Error("state commit failed", "commands", len(batch), "err", err)
	for _, o := range batch {
		o.res = Result{Err: err}
	}
}

// ApplyBatch applies entries, in order, in one transaction, and returns each
// one's result; it is what a Raft FSM calls. A command whose handler fails
// leaves no trace, and the others are applied as if it had not been there;
// the last entry's index is recorded as applied either way. The error is a
// failure of the file itself, which leaves none of the batch applied.
func (s *Store) ApplyBatch(entries []Entry) ([]Result, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.applyBatch(entries)
}

func (s *Store) applyBatch(entries []Entry) ([]Result, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	results := make([]Result, len(entries))
	failed := make([]bool, len(entries))
	s.hmu.RLock()
	handlers := s.handlers
	s.hmu.RUnlock()
	hooks, err := s.update(entries, handlers, results, failed)
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		h()
	}
	return results, nil
}

// update runs the batch's transaction until no command in it fails, and
// returns the after-commit hooks of those that were applied.
func (s *Store) update(entries []Entry, handlers map[reflect.Type]Handler, results []Result, failed []bool) ([]func(), error) {
	var hooks []func()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	for {
		hooks = hooks[:0]
		retry := false
		err := s.db.Update(func(btx *bolt.Tx) error {
			for _, name := range s.opts.AppendBuckets {
				if b := btx.Bucket(name); b != nil {
					b.FillPercent = appendFill
				}
			}
			for i, e := range entries {
				if failed[i] {
					continue
				}
				mark := len(hooks)
				v, err := apply(btx, handlers, e, &hooks)
				if err != nil {
					// Start again without it: bbolt cannot undo part of a
					// transaction.
					results[i], failed[i], retry = Result{Err: err}, true, true
					hooks = hooks[:mark]
					return errRetry
				}
				results[i] = Result{Value: v}
			}
			return btx.Bucket(bktStore).Put(keyAppliedIndex, u64(entries[len(entries)-1].Index))
		})
		if retry {
			continue
		}
		return hooks, err
	}
}

var errRetry = errors.New("retry batch")

// marshal serialises a command as it goes in the log.
func marshal(cmd *icnv1.CoopCommand) ([]byte, error) { return proto.Marshal(cmd) }

const appendFill = 0.9

func apply(btx *bolt.Tx, handlers map[reflect.Type]Handler, e Entry, hooks *[]func()) (any, error) {
	var cmd icnv1.CoopCommand
	if err := proto.Unmarshal(e.Data, &cmd); err != nil {
		return nil, fmt.Errorf("command at %d: %w", e.Index, err)
	}
	h := handlers[reflect.TypeOf(cmd.Kind)]
	if h == nil {
		return nil, fmt.Errorf("command at %d: %w: %T", e.Index, ErrUnknownCommand, cmd.Kind)
	}
	tx := &Tx{View: View{tx: btx}, now: time.Unix(0, cmd.AtUnixNano).UTC(), index: e.Index, hooks: hooks}
	return h(tx, &cmd)
}

// Init runs fn in a write transaction of its own, outside the command log:
// for a package's layout upgrades when it opens the file, which must be
// deterministic functions of the file (every node upgrades its own copy).
func (s *Store) Init(fn func(*Tx) error) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	var hooks []func()
	return s.db.Update(func(btx *bolt.Tx) error {
		return fn(&Tx{View: View{tx: btx}, hooks: &hooks})
	})
}

// AppliedIndex is the index of the last command applied (0 for a new file,
// and for files written before commands had indexes).
func (s *Store) AppliedIndex() (uint64, error) {
	var n uint64
	err := s.View(func(v *View) error {
		n = indexOf(v.tx)
		return nil
	})
	return n, err
}

func (s *Store) appliedIndex() (uint64, error) {
	var n uint64
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		n = indexOf(tx)
		return nil
	})
	return n, err
}

func indexOf(tx *bolt.Tx) uint64 {
	if b := tx.Bucket(bktStore); b != nil {
		if v := b.Get(keyAppliedIndex); len(v) == 8 {
			return binary.BigEndian.Uint64(v)
		}
	}
	return 0
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*View) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(func(tx *bolt.Tx) error { return fn(&View{tx: tx}) })
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
