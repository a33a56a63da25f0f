package hub

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
)

// BackupInfo is a backup's header (see fsm.BackupInfo).
type BackupInfo = fsm.BackupInfo

// ReadBackupHeader reads a backup's header from r, leaving r at the
// snapshot that follows.
func ReadBackupHeader(r io.Reader) (BackupInfo, error) { return fsm.ReadBackupHeader(r) }

// Backup writes a consistent copy of the node's state machine to w: one
// read transaction of its file and the in-memory state as of the same
// applied index, captured together under the state lock (as a raft snapshot
// is). Applies wait only while the in-memory part is encoded; the records
// stream from the read transaction while writes go on.
func (n *Node) Backup(w io.Writer) (BackupInfo, error) { return n.fsm.Backup(w, n.DID(), time.Now()) }

// VerifyBackup restores the backup at path into a scratch state machine in
// a temporary directory and checks that it gives the header's state hash:
// the file is complete, undamaged and what the node had.
func VerifyBackup(path string) (BackupInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	info, err := ReadBackupHeader(r)
	if err != nil {
		return BackupInfo{}, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".verify-")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(dir)
	fsm, err := fsm.OpenFSM(filepath.Join(dir, "fsm.db"))
	if err != nil {
		return BackupInfo{}, err
	}
	defer fsm.Close()
	if err := fsm.Restore(io.NopCloser(r)); err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: %w", path, err)
	}
	sum, err := fsm.StateHash()
	if err != nil {
		return BackupInfo{}, err
	}
	if got := hex.EncodeToString(sum[:]); got != info.StateHash {
		return BackupInfo{}, fmt.Errorf("backup %s: restored state hash %s, the header says %s (damaged or incomplete)", path, got, info.StateHash)
	}
	return info, nil
}

// ErrHasState is returned by RestoreBackup into a data directory that
// already holds raft state.
var ErrHasState = errors.New("the data directory already holds raft state")

// RestoreBackup prepares dataDir (which must hold no raft state) so that a
// node started on it begins from the backup at path: after checking the
// backup (VerifyBackup) it writes it as the node's latest raft snapshot,
// with peers as the cluster. Every node of the restored cluster is restored
// from the same file with the same peers; peers must be the backup's voters
// (the same node keys), at any addresses.
//
// The snapshot's term is 1, as in a cluster that just bootstrapped: the
// restored nodes start with empty logs and elect a leader afresh.
func RestoreBackup(dataDir string, peers []Peer, path string) (BackupInfo, error) {
	info, err := VerifyBackup(path)
	if err != nil {
		return BackupInfo{}, err
	}
	want := slices.Clone(info.Voters)
	var got []identity.DID
	for _, p := range peers {
		got = append(got, p.DID)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		return BackupInfo{}, fmt.Errorf("restore: [[peers]] must be the backup's voters (the same node keys, at any addresses): the backup has %v, the configuration %v", want, got)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	for _, name := range []string{"raft.db", "snapshots"} {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err == nil {
			return BackupInfo{}, fmt.Errorf("restore into %s: %w (%s); restore into an empty directory", dataDir, ErrHasState, name)
		}
	}
	snaps, err := raft.NewFileSnapshotStore(dataDir, 2, io.Discard)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("restore: snapshots: %w", err)
	}
	var conf raft.Configuration
	for _, p := range peers {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.DID), Address: raft.ServerAddress(p.RaftAddr), Suffrage: raft.Voter})
	}
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	sink, err := snaps.Create(raft.SnapshotVersionMax, info.Index, 1, conf, info.Index, trans)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("restore: create snapshot: %w", err)
	}
	if err := copyBackupBody(sink, path); err != nil {
		sink.Cancel()
		return BackupInfo{}, err
	}
	if err := sink.Close(); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: write snapshot: %w", err)
	}
	return info, nil
}

func copyBackupBody(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	if _, err := ReadBackupHeader(r); err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("restore: copy snapshot: %w", err)
	}
	return nil
}
