// Package keyfile reads and writes key files (docs/API.md "Key files") on
// disk, mode 0600, atomically: the file I/O that package identity, a pure
// domain package, leaves to its callers.
package keyfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/icn-coop/icn/identity"
)

// Write writes k to path with mode 0600, atomically (temp file + link).
// It refuses to overwrite an existing file.
func Write(path string, k *identity.Key) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("write key %s: file exists; remove it first or choose another path", path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful link, path keeps the file
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if _, err := f.Write(identity.MarshalKey(k)); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	// Link, unlike Rename, fails if path appeared since the Stat above, so a
	// concurrent writer can never replace a key that another one returned.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// Read reads and checks a key file. It refuses files readable by group or others.
func Read(path string) (*identity.Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read key %s: mode %o is too open; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	k, err := identity.UnmarshalKey(data)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreate reads the key at path, or generates and writes one if none exists.
func LoadOrCreate(path string, gen func() (*identity.Key, error)) (*identity.Key, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		k, err := gen()
		if err != nil {
			return nil, err
		}
		return k, Write(path, k)
	}
	return Read(path)
}
