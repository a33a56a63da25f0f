package fsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

var (
	bucketTransfers = []byte("transfers")
	bucketTrust     = []byte("trust")
	bucketPeriods   = []byte("periods")
	bucketMeta      = []byte("meta")
	keyApplied      = []byte("applied_index")
	allBuckets      = [][]byte{bucketTransfers, bucketTrust, bucketPeriods, bucketMeta,
		bucketPeriodTransfers, bucketSettlements, bucketInstructions}
)

// FSM is the hub's replicated state machine. Raft calls ApplyBatch,
// Snapshot and Restore; the control plane reads through the accessors,
// which take a read lock.
type FSM struct {
	path string

	mu    sync.RWMutex
	db    *bolt.DB
	st    *state
	store *boltStore       // the records the state writes; its tx is set during apply
	cur   money.Currencies // currencies for decoding records, copied from st.fed

	applied  atomic.Uint64
	restores atomic.Uint64 // snapshots restored (tests, metrics)
	// partsGen changes whenever the participants may have changed (a
	// participant command applied, a snapshot restored); it is local, not
	// replicated state: the data plane announces routes when it moves.
	partsGen atomic.Uint64
	// trustGen changes whenever the trust graph may have changed (a trust
	// edge or the federation applied, a snapshot restored): the data plane
	// looks a participant's class up again when it moves. Local, like
	// partsGen; it changes only under mu.
	trustGen atomic.Uint64

	namesMu  sync.Mutex
	names    map[string]identity.DID // co-op name → DID, as of namesGen (CoopNamed)
	namesGen uint64
	waitMu   sync.Mutex
	appliedC chan struct{} // closed at every apply, then replaced

	// observe, if set, is told each applied batch's size and duration.
	observe func(commands int, took time.Duration)
}

// OpenFSM creates the state machine's bbolt file at path, replacing any
// earlier one: Raft rebuilds the state from the snapshot and the log.
func OpenFSM(path string) (*FSM, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove old fsm file: %w", err)
	}
	f := &FSM{path: path, appliedC: make(chan struct{})}
	if err := f.openDB(); err != nil {
		return nil, err
	}
	f.store = &boltStore{f: f}
	f.st = newState(f.store)
	return f, nil
}

func (f *FSM) openDB() error {
	// NoSync: the file is rebuilt from the snapshot and the raft log at every
	// start, so its fsyncs add no durability; they only delayed every command
	// (icn bench hub: 34k → 48k commands/s, docs/BENCHMARKS.md).
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, NoSync: true})
	if err != nil {
		return fmt.Errorf("open fsm %s: %w", f.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("init fsm %s: %w", f.path, err)
	}
	f.db = db
	return nil
}

// Close closes the bbolt file.
func (f *FSM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.db.Close()
}

// Apply applies one log entry (raft.FSM).
func (f *FSM) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed log entries in one bbolt transaction
// (raft.BatchingFSM). Each command entry's response is a
// []*icnv1.CommandResult, one per command of its batch.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	start := time.Now()
	out := make([]interface{}, len(logs))
	f.mu.Lock()
	n, err := f.applyLocked(logs, out)
	f.mu.Unlock()
	if err != nil {
		// The log is durable and the FSM file is rebuilt at start, so
		// stopping here loses nothing; continuing could diverge.
		panic(fmt.Sprintf("hub fsm: apply at index %d: %v", logs[len(logs)-1].Index, err))
	}
	f.setApplied(logs[len(logs)-1].Index)
	if f.observe != nil {
		f.observe(n, time.Since(start))
	}
	return out
}

func (f *FSM) applyLocked(logs []*raft.Log, out []interface{}) (int, error) {
	tx, err := f.db.Begin(true)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	f.store.tx = tx
	defer func() { f.store.tx = nil }()
	n := 0
	for i, l := range logs {
		if l.Type == raft.LogConfiguration {
			f.st.setVoters(raft.DecodeConfiguration(l.Data))
			continue
		}
		if l.Type != raft.LogCommand {
			continue
		}
		var b icnv1.CommandBatch
		if err := proto.Unmarshal(l.Data, &b); err != nil {
			// A leader never proposes undecodable bytes; refuse them alike on every node.
			out[i] = []*icnv1.CommandResult{{ErrorCode: CodeInvalidArgument, ErrorMessage: "undecodable log entry"}}
			continue
		}
		res := make([]*icnv1.CommandResult, len(b.Commands))
		for j, c := range b.Commands {
			if res[j], err = f.st.apply(f.store, c); err != nil {
				return n, err
			}
			f.syncCurrencies()
			switch c.Cmd.(type) {
			case *icnv1.Command_RegisterParticipant, *icnv1.Command_UpdateParticipant, *icnv1.Command_SetParticipantStatus:
				f.partsGen.Add(1)
			case *icnv1.Command_SetTrust, *icnv1.Command_InitFederation:
				f.trustGen.Add(1)
			}
		}
		n += len(b.Commands)
		out[i] = res
	}
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], logs[len(logs)-1].Index)
	if err := tx.Bucket(bucketMeta).Put(keyApplied, idx[:]); err != nil {
		return n, err
	}
	return n, tx.Commit()
}

func (f *FSM) syncCurrencies() {
	if f.cur == nil && f.st.fed != nil {
		f.cur = f.st.fed.Currencies
	}
}

func (f *FSM) setApplied(idx uint64) {
	f.applied.Store(idx)
	f.waitMu.Lock()
	close(f.appliedC)
	f.appliedC = make(chan struct{})
	f.waitMu.Unlock()
}

// ParticipantsGen changes whenever the participants may have changed.
// Restores counts the snapshots restored into f.
func (f *FSM) Restores() uint64 { return f.restores.Load() }

// ForEachTransfer calls fn with every transfer record in f's file, in id
// order, from one read transaction.
func (f *FSM) ForEachTransfer(fn func(*icnv1.Transfer) error) error {
	return f.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTransfers).ForEach(func(_, v []byte) error {
			p := &icnv1.Transfer{}
			if err := proto.Unmarshal(v, p); err != nil {
				return err
			}
			return fn(p)
		})
	})
}

// SetObserver has obs told each applied batch's size and duration (the
// node's metrics); call it before the node starts applying.
func (f *FSM) SetObserver(obs func(commands int, took time.Duration)) { f.observe = obs }

func (f *FSM) ParticipantsGen() uint64 { return f.partsGen.Load() }

// TrustGen changes whenever the trust graph may have changed.
func (f *FSM) TrustGen() uint64 { return f.trustGen.Load() }

// AppliedIndex is the index of the last log entry applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// waitApplied blocks until the FSM has applied idx, or ctx ends.
func (f *FSM) WaitApplied(ctx context.Context, idx uint64) error {
	for {
		f.waitMu.Lock()
		ch := f.appliedC
		f.waitMu.Unlock()
		if f.applied.Load() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", idx, f.applied.Load(), ctx.Err())
		}
	}
}

// boltStore keeps transfer records, trust attestations and closed periods.
// With tx nil it reads in transactions of its own (reads outside Apply).
type boltStore struct {
	f  *FSM
	tx *bolt.Tx
}

func (s *boltStore) view(fn func(tx *bolt.Tx) error) error {
	if s.tx != nil {
		return fn(s.tx)
	}
	return s.f.db.View(fn)
}

// Get implements clearing.Records.
func (s *boltStore) Get(id string) (clearing.Transfer, bool, error) {
	var p icnv1.Transfer
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTransfers).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return proto.Unmarshal(v, &p)
	})
	if err != nil || !found {
		return clearing.Transfer{}, false, err
	}
	cur, ok := s.f.cur[p.GetCurrency()]
	if !ok {
		return clearing.Transfer{}, false, fmt.Errorf("transfer %s: unknown currency %q", id, p.GetCurrency())
	}
	return TransferFromProto(&p, cur), true, nil
}

// Put implements clearing.Records.
func (s *boltStore) Put(t clearing.Transfer) error {
	if s.tx == nil {
		return errors.New("transfer record written outside apply")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(TransferProto(t))
	if err != nil {
		return err
	}
	if err := s.tx.Bucket(bucketTransfers).Put([]byte(t.ID), b); err != nil {
		return err
	}
	return s.indexCommitted(t)
}

// PutTrust stores an edge with its attestation.
func (s *boltStore) PutTrust(e *icnv1.TrustEdge) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		return err
	}
	return s.tx.Bucket(bucketTrust).Put(trustKey(e.GetFrom(), e.GetTo()), b)
}

// PutPeriod stores a closed period's summary (settlement builds on it).
func (s *boltStore) PutPeriod(p clearing.PeriodSummary) error {
	b, err := encodePeriod(p)
	if err != nil {
		return err
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], p.Number)
	return s.tx.Bucket(bucketPeriods).Put(k[:], b)
}

func trustKey(from, to string) []byte { return []byte(from + "\x00" + to) }
