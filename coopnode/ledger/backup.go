package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/icn-coop/icn/coopnode/store"
)

// BackupInfo describes a copy of the ledger file.
type BackupInfo struct {
	// Seq and Head are the newest entry's sequence number and hash (hex;
	// all zeros before the first entry), as /readyz shows them.
	Seq  uint64 `json:"ledger_seq"`
	Head string `json:"ledger_head"`
	// StateHash is StateHash of the copy, hex.
	StateHash string `json:"state_hash"`
	// Size is the copy's length in bytes.
	Size int64 `json:"size"`
}

// StateHash is a SHA-256 over every key and value of the state file (see
// store.Store.StateHash).
func (s *Store) StateHash() ([32]byte, error) { return s.st.StateHash() }

func infoOf(tx *store.View) (BackupInfo, error) {
	info := BackupInfo{Size: tx.Size(), Head: hex.EncodeToString(make([]byte, 32))}
	if meta := tx.Bucket(bktMeta); meta != nil {
		if v := meta.Get(keyHeadSeq); len(v) == 8 {
			info.Seq = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyHeadHash); len(v) > 0 {
			info.Head = hex.EncodeToString(v)
		}
	}
	sum, err := tx.StateHash()
	info.StateHash = hex.EncodeToString(sum[:])
	return info, err
}

// BackupFile takes a consistent copy of the ledger file while the node
// runs: one read transaction, so payments go on while it is written. The
// copy goes to a temporary file beside the ledger, already unlinked, so that
// the read transaction lasts only as long as the local disk takes; the caller
// streams the returned file (at its start) wherever it likes, as slowly as it
// likes, and closes it.
func (s *Store) BackupFile() (*os.File, BackupInfo, error) {
	var info BackupInfo
	f, err := s.st.CopyFile(func(tx *store.View) error {
		var err error
		info, err = infoOf(tx)
		return err
	})
	if err != nil {
		return nil, BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	return f, info, nil
}

// VerifyBackup opens a copy of a ledger file read-only and returns what it
// holds, for comparing with what the node said when it made the copy.
func VerifyBackup(path string) (BackupInfo, error) {
	var info BackupInfo
	err := store.ViewFile(path, func(tx *store.View) error {
		if tx.Bucket(bktEntries) == nil || tx.Bucket(bktMeta) == nil {
			return errors.New("not a ledger file (no entries or meta bucket)")
		}
		var err error
		info, err = infoOf(tx)
		return err
	})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("ledger backup %s: %w", path, err)
	}
	return info, nil
}
