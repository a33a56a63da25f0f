package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/coopnode/store"
)

// ErrReplayed is the result of a command in an entry the store had already
// applied (a replay after a restart, which nobody waits for).
var ErrReplayed = errors.New("log entry already applied")

// ErrNotStarted: a command was submitted before the cluster was opened.
var ErrNotStarted = errors.New("co-op cluster not started")

// StateMachine is a store as the cluster's state machine.
type StateMachine struct {
	st *store.Store

	mu sync.Mutex
	// applied caches the store's applied index between entries; Restore
	// resets it.
	applied uint64
	known   bool
}

var _ cluster.StateMachine = (*StateMachine)(nil)

// New returns st as a state machine. Register every handler and OnRestore
// function with st before the cluster opens: raft restores its snapshot
// and replays its log from the moment it starts.
func New(st *store.Store) *StateMachine { return &StateMachine{st: st} }

// Apply applies the entry's commands in one transaction and returns a
// store.Result for each. A failure of the file itself stops the node: it
// cannot apply the log any more without diverging from the other nodes,
// and the log it keeps lets it catch up after a restart.
func (m *StateMachine) Apply(index uint64, cmds [][]byte) []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]any, len(cmds))
	applied, err := m.appliedIndex()
	if err != nil {
		panic(fmt.Sprintf("co-op state: read applied index before entry %d: %v", index, err))
	}
	if index <= applied {
		for i := range out {
			out[i] = store.Result{Err: fmt.Errorf("entry %d: %w", index, ErrReplayed)}
		}
		return out
	}
	entries := make([]store.Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = store.Entry{Index: index, Data: c}
	}
	results, err := m.st.ApplyBatch(entries)
	if err != nil {
		panic(fmt.Sprintf("co-op state: apply entry %d: %v", index, err))
	}
	m.applied, m.known = index, true
	for i, r := range results {
		out[i] = r
	}
	return out
}

func (m *StateMachine) appliedIndex() (uint64, error) {
	if m.known {
		return m.applied, nil
	}
	n, err := m.st.AppliedIndex()
	if err != nil {
		return 0, err
	}
	m.applied, m.known = n, true
	return n, nil
}

// Snapshot returns an image of the state written when raft persists it. It
// may hold entries applied after this call; they carry their index in the
// image, so the replay after a restore skips them.
func (m *StateMachine) Snapshot() (cluster.Snapshot, error) { return snapshot{m.st}, nil }

type snapshot struct{ st *store.Store }

func (s snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := s.st.Snapshot(cw)
	return cw.n, err
}

func (snapshot) Release() {}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore replaces the state with an image; the store then runs its
// OnRestore functions (caches rebuilt, live feed subscribers sent back to
// read from the new state).
func (m *StateMachine) Restore(r io.Reader) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known = false
	return m.st.Restore(r)
}

// Proposer sends the store's commands to the cluster's leader (set it with
// store.SetProposer). c is read at each call, so the proposer can be set
// before the cluster opens; until then Submit fails with ErrNotStarted.
func Proposer(c func() *cluster.Cluster) store.Proposer {
	return func(ctx context.Context, data []byte) (any, error) {
		cl := c()
		if cl == nil {
			return nil, ErrNotStarted
		}
		res, err := cl.Propose(ctx, data)
		if err != nil {
			return nil, err
		}
		r, ok := res.(store.Result)
		if !ok {
			return nil, fmt.Errorf("co-op cluster answered %T", res)
		}
		return r.Value, r.Err
	}
}
