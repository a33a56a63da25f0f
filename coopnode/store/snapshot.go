package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StateHash is a SHA-256 over every key and value of the state (every
// bucket, nested ones included, in key order, with its sequence): equal for
// two files that hold the same data, whatever their page layout.
func (s *Store) StateHash() ([32]byte, error) {
	var sum [32]byte
	err := s.View(func(v *View) error {
		var err error
		sum, err = v.StateHash()
		return err
	})
	return sum, err
}

// StateHash is Store.StateHash of what this view reads.
func (v *View) StateHash() ([32]byte, error) {
	h := sha256.New()
	err := v.tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		writeLenPrefixed(h, name)
		return hashBucket(h, b)
	})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

func hashBucket(h hash.Hash, b *bolt.Bucket) error {
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], b.Sequence())
	h.Write(seq[:])
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

// CopyFile takes a consistent copy of the state file while commands go on:
// one read transaction (bbolt's Tx.WriteTo) into a temporary file beside the
// state, already unlinked, so the transaction lasts only as long as the local
// disk takes. fn, if not nil, runs in that same transaction (to describe the
// copy). The caller reads the returned file from its start and closes it.
func (s *Store) CopyFile(fn func(*View) error) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(s.opts.Path), ".copy-*")
	if err != nil {
		return nil, fmt.Errorf("copy state: %w", err)
	}
	os.Remove(f.Name()) // the open file stays readable; nothing is left behind
	err = s.View(func(v *View) error {
		if fn != nil {
			if err := fn(v); err != nil {
				return err
			}
		}
		_, err := v.tx.WriteTo(f)
		return err
	})
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("copy state: %w", err)
	}
	return f, nil
}

// snapshotMagic starts a snapshot; the file's length follows, then the
// file (bbolt), then its SHA-256: a snapshot cut short or damaged on the way
// is refused before bbolt reads it.
const snapshotMagic = "ICNCOOP1"

// Snapshot writes the whole state to w, for Restore.
func (s *Store) Snapshot(w io.Writer) error {
	f, err := s.CopyFile(nil)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	hdr := binary.BigEndian.AppendUint64([]byte(snapshotMagic), uint64(fi.Size()))
	h := sha256.New()
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := io.Copy(io.MultiWriter(w, h), f); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// ErrBadSnapshot: what Restore was given is not a whole snapshot.
var ErrBadSnapshot = errors.New("not a complete co-op state snapshot")

// Restore replaces the whole state with a Snapshot read from r, then calls
// the OnRestore functions. No command is applied while it runs; the file is
// swapped only once the snapshot is complete and checked.
func (s *Store) Restore(r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(s.opts.Path), ".restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = readSnapshot(r, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ViewFile(tmp.Name(), func(*View) error { return nil })
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err := s.swap(tmp.Name()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	s.hmu.RLock()
	fns := s.onRestore
	s.hmu.RUnlock()
	return s.View(func(v *View) error {
		for _, fn := range fns {
			if err := fn(v); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		}
		return nil
	})
}

// readSnapshot copies the file a snapshot holds from r to w, checking its
// framing and hash.
func readSnapshot(r io.Reader, w io.Writer) error {
	hdr := make([]byte, len(snapshotMagic)+8)
	if _, err := io.ReadFull(r, hdr); err != nil || string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: no header", ErrBadSnapshot)
	}
	n := int64(binary.BigEndian.Uint64(hdr[len(snapshotMagic):]))
	h := sha256.New()
	if got, err := io.CopyN(io.MultiWriter(w, h), r, n); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %d of %d bytes", ErrBadSnapshot, got, n)
		}
		return err
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r, sum); err != nil || !bytes.Equal(sum, h.Sum(nil)) {
		return fmt.Errorf("%w: checksum", ErrBadSnapshot)
	}
	return nil
}

// swap closes the file, puts path in its place and opens it.
func (s *Store) swap(path string) error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := s.db.Close(); err != nil {
		return err
	}
	if err := os.Rename(path, s.opts.Path); err != nil {
		// Reopen what was there: the store stays usable.
		db, oerr := openDB(s.opts)
		if oerr == nil {
			s.db = db
		}
		return errors.Join(err, oerr)
	}
	db, err := openDB(s.opts)
	if err != nil {
		return err
	}
	s.db = db
	return nil
}

// ViewFile opens the state file at path read-only (a copy, a backup) and
// runs fn on it.
func ViewFile(path string, fn func(*View) error) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error { return fn(&View{tx: tx}) })
}
