package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
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

// StateHash is a SHA-256 over every key and value of the file (every
// bucket, nested ones included, in key order): equal for two files that
// hold the same data, whatever their page layout.
func (s *Store) StateHash() ([32]byte, error) {
	var sum [32]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		sum, err = stateHash(tx)
		return err
	})
	return sum, err
}

func stateHash(tx *bolt.Tx) ([32]byte, error) {
	h := sha256.New()
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		writeLenPrefixed(h, name)
		return hashBucket(h, b)
	})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

func hashBucket(h hash.Hash, b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		writeLenPrefixed(h, k)
		if v == nil { // a nested bucket
			h.Write([]byte{1})
			return hashBucket(h, b.Bucket(k))
		}
		h.Write([]byte{0})
		writeLenPrefixed(h, v)
		return nil
	})
}

func writeLenPrefixed(h hash.Hash, b []byte) {
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(b)))
	h.Write(l[:])
	h.Write(b)
}

func infoOf(tx *bolt.Tx) (BackupInfo, error) {
	info := BackupInfo{Size: tx.Size(), Head: hex.EncodeToString(make([]byte, 32))}
	if meta := tx.Bucket(bktMeta); meta != nil {
		if v := meta.Get(keyHeadSeq); len(v) == 8 {
			info.Seq = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyHeadHash); len(v) > 0 {
			info.Head = hex.EncodeToString(v)
		}
	}
	sum, err := stateHash(tx)
	info.StateHash = hex.EncodeToString(sum[:])
	return info, err
}

// BackupFile takes a consistent copy of the ledger file while the node
// runs: one read transaction (bbolt's Tx.WriteTo), so payments go on while
// it is written. The copy goes to a temporary file beside the ledger, already
// unlinked, so that the read transaction lasts only as long as the local
// disk takes; the caller streams the returned file (at its start) wherever
// it likes, as slowly as it likes, and closes it.
func (s *Store) BackupFile() (*os.File, BackupInfo, error) {
	f, err := os.CreateTemp(filepath.Dir(s.opts.Path), ".backup-*")
	if err != nil {
		return nil, BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	os.Remove(f.Name()) // the open file stays readable; nothing is left behind
	var info BackupInfo
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		if info, err = infoOf(tx); err != nil {
			return err
		}
		_, err = tx.WriteTo(f)
		return err
	})
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	return f, info, nil
}

// VerifyBackup opens a copy of a ledger file read-only and returns what it
// holds, for comparing with what the node said when it made the copy.
func VerifyBackup(path string) (BackupInfo, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("ledger backup %s: %w", path, err)
	}
	defer db.Close()
	var info BackupInfo
	err = db.View(func(tx *bolt.Tx) error {
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
