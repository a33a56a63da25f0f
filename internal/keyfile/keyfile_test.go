package keyfile_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

// testKey returns a deterministic key; different n give different keys.
func testKey(t testing.TB, n byte) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestReadReportsKeyFileErrors: a malformed file is refused with the key
// file error and its wire code.
func TestReadReportsKeyFileErrors(t *testing.T) {
	k, other := testKey(t, 0xff), testKey(t, 2)
	b, _ := json.Marshal(map[string]string{"did": string(other.DID()), "public_key": identity.B64(k.Public()), "seed": identity.B64(k.Seed())})
	path := filepath.Join(t.TempDir(), "k.key")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := keyfile.Read(path)
	if !errors.Is(err, identity.ErrKeyFile) || identity.Code(err) != "invalid_key_file" {
		t.Fatalf("Read of a mismatched file: %v", err)
	}
}

func TestWriteRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	k := testKey(t, 1)
	if err := keyfile.Write(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %o, want 600", perm)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	got, err := keyfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.DID() != k.DID() || !bytes.Equal(got.Seed(), k.Seed()) {
		t.Errorf("read %v, want %v", got, k)
	}

	// Refuses to overwrite, and leaves the file as it was.
	before, _ := os.ReadFile(path)
	if err := keyfile.Write(path, testKey(t, 2)); err == nil {
		t.Errorf("WriteKeyFile overwrote an existing key file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("existing key file changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	if err := keyfile.Write(filepath.Join(dir, "missing", "k.key"), k); err == nil {
		t.Errorf("WriteKeyFile into a missing directory succeeded")
	}
	if _, err := keyfile.Read(filepath.Join(dir, "absent.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadKeyFile(absent) = %v", err)
	}
}

// TestWriteConcurrent: of several writers racing for one path, exactly
// one wins and the file holds its key.
func TestWriteConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.key")
	const n = 8
	errs := make([]error, n)
	keys := make([]*identity.Key, n)
	var wg sync.WaitGroup
	for i := range n {
		keys[i] = testKey(t, byte(10+i))
		wg.Go(func() { errs[i] = keyfile.Write(path, keys[i]) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("writers %d and %d both succeeded", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no writer succeeded: %v", errs)
	}
	got, err := keyfile.Read(path)
	if err != nil || got.DID() != keys[winner].DID() {
		t.Errorf("file holds %v, %v; want the winner's key %v", got, err, keys[winner])
	}
}

func TestReadMode(t *testing.T) {
	t.Parallel()
	k := testKey(t, 1)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o666, 0o700 | 0o004} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "k.key")
			if err := os.WriteFile(path, identity.MarshalKey(k), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if _, err := keyfile.Read(path); err == nil || !strings.Contains(err.Error(), "too open") {
				t.Errorf("ReadKeyFile accepted mode %o: %v", mode, err)
			}
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(t.TempDir(), "k.key")
		if err := os.WriteFile(path, identity.MarshalKey(k), mode); err != nil {
			t.Fatal(err)
		}
		if _, err := keyfile.Read(path); err != nil {
			t.Errorf("mode %o: %v", mode, err)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node.key")
	calls := 0
	gen := func() (*identity.Key, error) { calls++; return testKey(t, 7), nil }
	a, err := keyfile.LoadOrCreate(path, gen)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keyfile.LoadOrCreate(path, gen)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || a.DID() != b.DID() || a.DID() != testKey(t, 7).DID() {
		t.Errorf("calls=%d, a=%v, b=%v", calls, a, b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	genErr := errors.New("no entropy")
	if _, err := keyfile.LoadOrCreate(filepath.Join(t.TempDir(), "k"), func() (*identity.Key, error) { return nil, genErr }); !errors.Is(err, genErr) {
		t.Errorf("generator error lost: %v", err)
	}
}
