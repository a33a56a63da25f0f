package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// View is a read-only transaction over the state.
type View struct {
	tx *bolt.Tx
}

// Bucket returns the top-level bucket name, or nil if the file has none.
func (v *View) Bucket(name []byte) *Bucket {
	b := v.tx.Bucket(name)
	if b == nil {
		return nil
	}
	return &Bucket{b: b}
}

// Require fails naming the first of a package's buckets the file lacks: it
// was opened without them, so Options.Buckets must list pkg.Buckets.
func (v *View) Require(pkg string, names [][]byte) error {
	for _, b := range names {
		if v.tx.Bucket(b) == nil {
			return fmt.Errorf("bucket %s missing: open the ledger with %s.Buckets in Options.Buckets", b, pkg)
		}
	}
	return nil
}

// ForEach calls fn for every top-level bucket, in name order.
func (v *View) ForEach(fn func(name []byte, b *Bucket) error) error {
	return v.tx.ForEach(func(name []byte, b *bolt.Bucket) error { return fn(name, &Bucket{b: b}) })
}

// Size is the size of the file this view reads, in bytes.
func (v *View) Size() int64 { return v.tx.Size() }

// Tx is the write transaction a Handler applies its command in.
type Tx struct {
	View
	now   time.Time
	index uint64
	hooks *[]func()
}

// Now is the time the command carries (UTC): the only clock a handler may read.
func (tx *Tx) Now() time.Time { return tx.now }

// Index is the log index of the command being applied.
func (tx *Tx) Index() uint64 { return tx.index }

// AfterCommit runs fn once the transaction is durable, after the hooks
// registered before it; it never runs if this command fails or the
// transaction rolls back. Hooks change what lives outside the file (caches,
// subscribers), on every node that applies the command.
func (tx *Tx) AfterCommit(fn func()) { *tx.hooks = append(*tx.hooks, fn) }

// CreateBucketIfNotExists returns the top-level bucket name, creating it if needed.
func (tx *Tx) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	b, err := tx.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return &Bucket{b: b}, nil
}

// Bucket is a key/value bucket; writes fail in a View.
type Bucket struct {
	b *bolt.Bucket
}

// Get returns the value of key, or nil; it is valid until the transaction ends.
func (b *Bucket) Get(key []byte) []byte { return b.b.Get(key) }

// Put sets key to value.
func (b *Bucket) Put(key, value []byte) error { return b.b.Put(key, value) }

// GetJSON decodes key's value into v and reports whether key was there.
func (b *Bucket) GetJSON(key []byte, v any) (bool, error) {
	raw := b.b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("record %.60s: %w", key, err)
	}
	return true, nil
}

// PutJSON sets key to v encoded as JSON.
func (b *Bucket) PutJSON(key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.b.Put(key, raw)
}

// Delete removes key.
func (b *Bucket) Delete(key []byte) error { return b.b.Delete(key) }

// NextSequence returns the bucket's next sequence number (from 1).
func (b *Bucket) NextSequence() (uint64, error) { return b.b.NextSequence() }

// ForEach calls fn for every key in order; v is nil for a nested bucket.
func (b *Bucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }

// Bucket returns the nested bucket name, or nil.
func (b *Bucket) Bucket(name []byte) *Bucket {
	nb := b.b.Bucket(name)
	if nb == nil {
		return nil
	}
	return &Bucket{b: nb}
}

// Sequence is the bucket's last sequence number (NextSequence).
func (b *Bucket) Sequence() uint64 { return b.b.Sequence() }

// KeyN is the number of keys in the bucket.
func (b *Bucket) KeyN() int { return b.b.Stats().KeyN }

// Cursor returns a cursor over the bucket's keys.
func (b *Bucket) Cursor() *Cursor { return &Cursor{c: b.b.Cursor()} }

// Cursor walks a bucket's keys in order.
type Cursor struct {
	c *bolt.Cursor
}

// First moves to the first key.
func (c *Cursor) First() (k, v []byte) { return c.c.First() }

// Last moves to the last key.
func (c *Cursor) Last() (k, v []byte) { return c.c.Last() }

// Next moves to the next key.
func (c *Cursor) Next() (k, v []byte) { return c.c.Next() }

// Prev moves to the previous key.
func (c *Cursor) Prev() (k, v []byte) { return c.c.Prev() }

// Seek moves to key, or the first key after it.
func (c *Cursor) Seek(key []byte) (k, v []byte) { return c.c.Seek(key) }
