package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// StateMachine is the replicated state (see the package comment for the
// contract). Raft calls it from one goroutine: Apply, Snapshot and Restore
// never run concurrently with each other, but a Snapshot's WriteTo runs
// concurrently with later Applies.
type StateMachine interface {
	// Apply applies the commands of the log entry at index, in order, and
	// returns one result per command.
	Apply(index uint64, cmds [][]byte) []any
	// Snapshot captures the current state.
	Snapshot() (Snapshot, error)
	// Restore replaces the state with an image written by a Snapshot.
	Restore(r io.Reader) error
}

// Snapshot is a point-in-time image of the state. A bbolt store implements
// it with a read transaction: WriteTo is (*bolt.Tx).WriteTo and Release
// its Rollback.
type Snapshot interface {
	io.WriterTo
	// Release frees what the snapshot holds; it is called once, after
	// WriteTo or instead of it.
	Release()
}

// entryVersion leads each entry's data, so the framing can change.
const entryVersion = 1

// encodeEntry frames commands as one log entry's data: a version byte, the
// count, then each command's length and bytes (uvarints).
func encodeEntry(cmds [][]byte) ([]byte, error) {
	size := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		size += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 0, size)
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b, nil
}

// decodeEntry is encodeEntry's inverse; empty data is an entry with no
// command. The commands alias data.
func decodeEntry(data []byte) ([][]byte, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if data[0] != entryVersion {
		return nil, fmt.Errorf("log entry version %d, want %d", data[0], entryVersion)
	}
	data = data[1:]
	n, k := binary.Uvarint(data)
	// Each command takes at least its length byte: a count above what is
	// left is corrupt, and bounding it keeps the allocation honest.
	if k <= 0 || n > uint64(len(data)-k) {
		return nil, errors.New("log entry: bad command count")
	}
	data = data[k:]
	cmds := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(data)
		if k <= 0 || l > uint64(len(data)-k) {
			return nil, fmt.Errorf("log entry: command %d: bad length", i)
		}
		cmds = append(cmds, data[k:k+int(l):k+int(l)])
		data = data[k+int(l):]
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("log entry: %d bytes after the last command", len(data))
	}
	return cmds, nil
}

// fsm adapts a StateMachine to raft.FSM and tracks the applied index.
type fsm struct {
	sm      StateMachine
	applied applied
}

var (
	_ raft.FSM                = (*fsm)(nil)
	_ raft.ConfigurationStore = (*fsm)(nil)
)

// Apply returns the state machine's []any, or an error for an entry that
// does not decode (the same on every node, so still deterministic).
func (f *fsm) Apply(l *raft.Log) any {
	defer f.applied.set(l.Index)
	cmds, err := decodeEntry(l.Data)
	if err != nil {
		return fmt.Errorf("entry %d: %w", l.Index, err)
	}
	if len(cmds) == 0 {
		return []any(nil)
	}
	return f.sm.Apply(l.Index, cmds)
}

// StoreConfiguration moves the applied index past membership changes, which
// raft hands to the FSM goroutine but not to Apply.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) { f.applied.set(index) }

// snapshotHeader leads the image in the file: the applied index it holds.
const snapshotHeader = 8

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.sm.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("state machine snapshot: %w", err)
	}
	return &fsmSnapshot{s: s, index: f.applied.get()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReader(rc)
	var h [snapshotHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	if err := f.sm.Restore(r); err != nil {
		return fmt.Errorf("state machine restore: %w", err)
	}
	f.applied.set(binary.BigEndian.Uint64(h[:]))
	return nil
}

type fsmSnapshot struct {
	s     Snapshot
	index uint64
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriter(sink)
	_, err := w.Write(binary.BigEndian.AppendUint64(nil, s.index))
	if err == nil {
		_, err = s.s.WriteTo(w)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.s.Release() }

// applied is the index of the last entry the state machine has applied,
// with waits for it to reach an index.
type applied struct {
	mu      sync.Mutex
	index   uint64
	changed chan struct{} // closed and replaced at each change
}

func (a *applied) set(i uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.index = i
	if a.changed != nil {
		close(a.changed)
		a.changed = nil
	}
}

func (a *applied) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.index
}

// wait returns once the applied index is at least i.
func (a *applied) wait(ctx context.Context, i uint64, stop <-chan struct{}) error {
	for {
		a.mu.Lock()
		if a.index >= i {
			a.mu.Unlock()
			return nil
		}
		if a.changed == nil {
			a.changed = make(chan struct{})
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrClosed
		}
	}
}
