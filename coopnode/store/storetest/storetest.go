// Package storetest records the commands a co-op store is asked to apply,
// in order, as a Raft group's log would hold them, and replays them into
// another store: the tests that a state is a function of its command log.
package storetest

import (
	"context"
	"sync"

	"github.com/icn-coop/icn/coopnode/store"
)

// Log is the commands recorded from a store.
type Log struct {
	mu   sync.Mutex
	data [][]byte
}

// Record makes st record every command submitted to it from now on, on
// its way to the local writer.
func Record(st *store.Store) *Log {
	l := &Log{}
	st.SetProposer(func(ctx context.Context, data []byte) (any, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.data = append(l.data, data)
		return st.Propose(ctx, data)
	})
	return l
}

// Entries are the recorded commands at the indexes after after.
func (l *Log) Entries(after uint64) []store.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]store.Entry, len(l.data))
	for i, d := range l.data {
		out[i] = store.Entry{Index: after + uint64(i) + 1, Data: d}
	}
	return out
}

// Replay applies entries to st in batches of the sizes next gives (at
// least 1), as a Raft follower's FSM applies its log.
func Replay(st *store.Store, entries []store.Entry, next func() int) error {
	for i := 0; i < len(entries); {
		n := min(len(entries)-i, max(1, next()))
		if _, err := st.ApplyBatch(entries[i : i+n]); err != nil {
			return err
		}
		i += n
	}
	return nil
}
