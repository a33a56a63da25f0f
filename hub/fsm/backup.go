package fsm

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/icn-coop/icn/identity"
)

// A backup file is backupMagic, the length of the JSON header (8 bytes, big
// endian), the header (BackupInfo), then the state machine's snapshot exactly
// as raft's snapshots hold it (fsmSnapshot.Persist).
const backupMagic = "ICNHUBBK"

// BackupInfo is a backup's header.
type BackupInfo struct {
	Version    int          `json:"version"` // 1
	Federation identity.DID `json:"federation,omitempty"`
	Node       identity.DID `json:"node"`       // the node that wrote it
	CreatedAt  time.Time    `json:"created_at"` // by that node's clock
	// Index is the last raft log index the copy includes.
	Index uint64 `json:"index"`
	// Voters are the cluster's voting members as of Index: a restore
	// brings back a cluster of these nodes (their keys).
	Voters []identity.DID `json:"voters"`
	// StateHash is FSM.StateHash of the copy, hex: a restore must give
	// the same.
	StateHash string `json:"state_hash"`
}

// Backup writes a consistent copy of the state machine to w, headed by
// its BackupInfo (node and now are recorded in it).
func (f *FSM) Backup(w io.Writer, node identity.DID, now time.Time) (BackupInfo, error) {
	f.mu.RLock()
	mem, err := f.st.encodeMem()
	if err != nil {
		f.mu.RUnlock()
		return BackupInfo{}, fmt.Errorf("backup: state: %w", err)
	}
	info := BackupInfo{Version: 1, Node: node, CreatedAt: now.UTC(), Voters: slices.Clone(f.st.voters)}
	if f.st.fed != nil {
		info.Federation = f.st.fed.DID
	}
	tx, err := f.db.Begin(false)
	f.mu.RUnlock()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: records: %w", err)
	}
	snap := &fsmSnapshot{mem: mem, tx: tx}
	defer snap.Release()
	info.Index = appliedInTx(tx)
	sum, err := hashState(mem, tx)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: state hash: %w", err)
	}
	info.StateHash = hex.EncodeToString(sum[:])
	head, err := json.Marshal(info)
	if err != nil {
		return BackupInfo{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(backupMagic)
	bw.Write(be64(uint64(len(head))))
	bw.Write(head)
	if err := bw.Flush(); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: write: %w", err)
	}
	sink := &writerSink{w: w}
	if err := snap.Persist(sink); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if sink.cancelled {
		return BackupInfo{}, errors.New("backup: cancelled")
	}
	return info, nil
}

func appliedInTx(tx *bolt.Tx) uint64 {
	if b := tx.Bucket(bucketMeta); b != nil {
		if v := b.Get(keyApplied); len(v) == 8 {
			return binary.BigEndian.Uint64(v)
		}
	}
	return 0
}

// writerSink lets fsmSnapshot.Persist write to a plain writer.
type writerSink struct {
	w         io.Writer
	cancelled bool
}

func (s *writerSink) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *writerSink) Close() error                { return nil }
func (s *writerSink) ID() string                  { return "backup" }
func (s *writerSink) Cancel() error               { s.cancelled = true; return nil }

// ReadBackupHeader reads a backup's header from r, leaving r at the
// snapshot that follows.
func ReadBackupHeader(r io.Reader) (BackupInfo, error) {
	head := make([]byte, len(backupMagic)+8)
	if _, err := io.ReadFull(r, head); err != nil {
		return BackupInfo{}, fmt.Errorf("backup header: %w", err)
	}
	if string(head[:len(backupMagic)]) != backupMagic {
		return BackupInfo{}, errors.New("not a hub backup (bad magic): make one with icn hub backup")
	}
	n := binary.BigEndian.Uint64(head[len(backupMagic):])
	if n > 1<<20 {
		return BackupInfo{}, fmt.Errorf("backup header of %d bytes is implausible", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return BackupInfo{}, fmt.Errorf("backup header: %w", err)
	}
	var info BackupInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return BackupInfo{}, fmt.Errorf("backup header: %w", err)
	}
	if info.Version != 1 {
		return BackupInfo{}, fmt.Errorf("backup version %d: this binary reads version 1", info.Version)
	}
	return info, nil
}
