package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/raftutil"
)

// ErrHasRaftState: Seed found a raft log, stable store or snapshot in the
// directory already.
var ErrHasRaftState = errors.New("already holds raft state")

// Seed readies dataDir (raft's directory) so that a node opened on it leads
// a group of one — itself, self at raftAddr — whose state starts as sm's:
// it writes a raft snapshot of sm taken as if the entries up to index (the
// state's applied index) had been applied, in term 1, with that
// configuration. Raft restores it as the node starts, and new entries
// follow it at index+1; nodes added with AddVoter catch up from it. This is
// how a single node's existing state becomes a replicated co-op's: nothing
// may be running on dataDir or on sm's store.
func Seed(dataDir string, self identity.DID, raftAddr string, index uint64, sm StateMachine, log *slog.Logger) (err error) {
	if index == 0 {
		return errors.New("cluster: seed: the state is empty: start the nodes on empty data directories instead")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("cluster: seed: %w", err)
	}
	logs, err := raftutil.OpenLogStore(filepath.Join(dataDir, "raft.db"))
	if err != nil {
		return fmt.Errorf("cluster: seed: %w", err)
	}
	defer func() { err = errors.Join(err, logs.Close()) }()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, 2, raftutil.NewHclog(log, "snapshots", hclog.Info))
	if err != nil {
		return fmt.Errorf("cluster: seed: open snapshots: %w", err)
	}
	if has, err := raft.HasExistingState(logs, logs, snaps); err != nil || has {
		return errors.Join(fmt.Errorf("cluster: seed: %s %w", dataDir, ErrHasRaftState), err)
	}
	addr := raft.ServerAddress(raftAddr)
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(self), Address: addr}}}
	_, trans := raft.NewInmemTransport(addr) // encodes the snapshot's legacy peer list; never listens
	defer trans.Close()
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, index, trans)
	if err != nil {
		return fmt.Errorf("cluster: seed: %w", err)
	}
	s, err := sm.Snapshot()
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("cluster: seed: state machine snapshot: %w", err)
	}
	defer s.Release()
	if err := (&fsmSnapshot{s: s, index: index}).Persist(sink); err != nil {
		return fmt.Errorf("cluster: seed: %w", err)
	}
	return nil
}
