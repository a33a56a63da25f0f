package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// KeyFile is the on-disk and import/export form of a key (API.md "Key files").
type KeyFile struct {
	DID       DID    `json:"did"`
	PublicKey string `json:"public_key"`
	Seed      string `json:"seed"`
}

// MarshalKey returns the key-file JSON of k.
func MarshalKey(k *Key) []byte {
	b, _ := json.MarshalIndent(KeyFile{DID: k.did, PublicKey: B64(k.Public()), Seed: B64(k.Seed())}, "", "  ")
	return append(b, '\n')
}

// UnmarshalKey parses key-file JSON and checks that did, public key and seed agree.
func UnmarshalKey(data []byte) (*Key, error) {
	var kf KeyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrKeyFile)
	}
	// The seed decides the key, and a seed always gives a sound one; a
	// refused did or public_key is said so rather than "does not match".
	if _, _, err := ParseDID(string(kf.DID)); err != nil {
		return nil, fmt.Errorf("%w: did: %w", ErrKeyFile, err)
	}
	if pub, err := DecodeB64(kf.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: public_key: %w", ErrKeyFile, err)
	} else if err := CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("%w: public_key: %w", ErrKeyFile, err)
	}
	seed, err := DecodeB64(kf.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: seed: %w", ErrKeyFile, err)
	}
	k, err := KeyFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: seed: %w", ErrKeyFile, err)
	}
	if kf.PublicKey != B64(k.Public()) {
		return nil, fmt.Errorf("%w: public_key does not match seed", ErrKeyFile)
	}
	if kf.DID != k.did {
		return nil, fmt.Errorf("%w: did does not match seed", ErrKeyFile)
	}
	return k, nil
}

// WriteKeyFile writes k to path with mode 0600, atomically (temp file + link).
// It refuses to overwrite an existing file.
func WriteKeyFile(path string, k *Key) error {
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
	if _, err := f.Write(MarshalKey(k)); err != nil {
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

// ReadKeyFile reads and checks a key file. It refuses files readable by group or others.
func ReadKeyFile(path string) (*Key, error) {
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
	k, err := UnmarshalKey(data)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKey reads the key at path, or generates and writes one if none exists.
func LoadOrCreateKey(path string, gen func() (*Key, error)) (*Key, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		k, err := gen()
		if err != nil {
			return nil, err
		}
		return k, WriteKeyFile(path, k)
	}
	return ReadKeyFile(path)
}
