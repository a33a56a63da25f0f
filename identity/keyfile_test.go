package identity_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/icn-coop/icn/identity"
)

func TestWriteReadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	k := testKey(t, 1)
	if err := identity.WriteKeyFile(path, k); err != nil {
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
	got, err := identity.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.DID() != k.DID() || !bytes.Equal(got.Seed(), k.Seed()) {
		t.Errorf("read %v, want %v", got, k)
	}

	// Refuses to overwrite, and leaves the file as it was.
	before, _ := os.ReadFile(path)
	if err := identity.WriteKeyFile(path, testKey(t, 2)); err == nil {
		t.Errorf("WriteKeyFile overwrote an existing key file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("existing key file changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	if err := identity.WriteKeyFile(filepath.Join(dir, "missing", "k.key"), k); err == nil {
		t.Errorf("WriteKeyFile into a missing directory succeeded")
	}
	if _, err := identity.ReadKeyFile(filepath.Join(dir, "absent.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadKeyFile(absent) = %v", err)
	}
}

// TestWriteKeyFileConcurrent: of several writers racing for one path, exactly
// one wins and the file holds its key.
func TestWriteKeyFileConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.key")
	const n = 8
	errs := make([]error, n)
	keys := make([]*identity.Key, n)
	var wg sync.WaitGroup
	for i := range n {
		keys[i] = testKey(t, byte(10+i))
		wg.Go(func() { errs[i] = identity.WriteKeyFile(path, keys[i]) })
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
	got, err := identity.ReadKeyFile(path)
	if err != nil || got.DID() != keys[winner].DID() {
		t.Errorf("file holds %v, %v; want the winner's key %v", got, err, keys[winner])
	}
}

func TestReadKeyFileMode(t *testing.T) {
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
			if _, err := identity.ReadKeyFile(path); err == nil || !strings.Contains(err.Error(), "too open") {
				t.Errorf("ReadKeyFile accepted mode %o: %v", mode, err)
			}
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(t.TempDir(), "k.key")
		if err := os.WriteFile(path, identity.MarshalKey(k), mode); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.ReadKeyFile(path); err != nil {
			t.Errorf("mode %o: %v", mode, err)
		}
	}
}

func TestMarshalKey(t *testing.T) {
	t.Parallel()
	k, err := identity.KeyFromSeed(vectorSeed())
	if err != nil {
		t.Fatal(err)
	}
	data := identity.MarshalKey(k)
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"did":        vectorDID,
		"public_key": vectorPub,
		"seed":       identity.B64(vectorSeed()),
	}
	if len(fields) != len(want) {
		t.Errorf("key file fields %v, want exactly did, public_key, seed", fields)
	}
	for name, v := range want {
		if fields[name] != v {
			t.Errorf("%s = %v, want %q", name, fields[name], v)
		}
	}
	back, err := identity.UnmarshalKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.DID() != k.DID() || !bytes.Equal(back.Seed(), k.Seed()) || !bytes.Equal(back.Public(), k.Public()) {
		t.Errorf("round trip gave %v, want %v", back, k)
	}
	for i := range 20 {
		k := randKey(t, uint64(100+i))
		back, err := identity.UnmarshalKey(identity.MarshalKey(k))
		if err != nil || back.DID() != k.DID() {
			t.Errorf("round trip of %v: %v, %v", k, back, err)
		}
	}
}

func TestUnmarshalKeyBad(t *testing.T) {
	t.Parallel()
	k, other := testKey(t, 0xff), testKey(t, 2) // 0xff: the seed's encoding has '_'
	did, pub, seed := string(k.DID()), identity.B64(k.Public()), identity.B64(k.Seed())
	obj := func(d, p, s string) string {
		b, _ := json.Marshal(map[string]string{"did": d, "public_key": p, "seed": s})
		return string(b)
	}
	padded := identity.B64(k.Seed()) + "="
	std := strings.NewReplacer("-", "+", "_", "/").Replace(seed)
	if std == seed {
		t.Fatal("seed encoding has no url-specific characters; pick another test key")
	}
	cases := []struct{ name, in string }{
		{"empty", ``},
		{"not json", `did:icn:x`},
		{"array", `[]`},
		{"null", `null`},
		{"empty object", `{}`},
		{"other did", obj(string(other.DID()), pub, seed)},
		{"did missing", `{"public_key":"` + pub + `","seed":"` + seed + `"}`},
		{"other public_key", obj(did, identity.B64(other.Public()), seed)},
		{"public_key missing", `{"did":"` + did + `","seed":"` + seed + `"}`},
		{"seed missing", `{"did":"` + did + `","public_key":"` + pub + `"}`},
		{"other seed", obj(did, pub, identity.B64(other.Seed()))},
		{"short seed", obj(did, pub, identity.B64(k.Seed()[:31]))},
		{"long seed", obj(did, pub, identity.B64(append(k.Seed(), 0)))},
		{"private key as seed", obj(did, pub, identity.B64(k.PrivateKey()))},
		{"padded seed", obj(did, pub, padded)},
		{"std base64 seed", obj(did, pub, std)},
		{"padded public_key", obj(did, pub+"=", seed)},
		{"unknown field", `{"did":"` + did + `","public_key":"` + pub + `","seed":"` + seed + `","private_key":""}`},
		{"trailing data", obj(did, pub, seed) + `x`},
		{"second object", obj(did, pub, seed) + obj(did, pub, seed)},
		{"number field", `{"did":1,"public_key":"` + pub + `","seed":"` + seed + `"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.UnmarshalKey([]byte(tc.in))
			if got != nil {
				t.Errorf("UnmarshalKey returned a key with error %v", err)
			}
			wantErr(t, err, identity.ErrKeyFile, "invalid_key_file")
		})
	}
	// ReadKeyFile reports the same errors for a file.
	path := filepath.Join(t.TempDir(), "k.key")
	if err := os.WriteFile(path, []byte(obj(string(other.DID()), pub, seed)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := identity.ReadKeyFile(path)
	wantErr(t, err, identity.ErrKeyFile, "invalid_key_file")
	// Whitespace around the object is fine.
	if _, err := identity.UnmarshalKey([]byte("\n " + obj(did, pub, seed) + " \n\n")); err != nil {
		t.Errorf("whitespace around key file: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node.key")
	calls := 0
	gen := func() (*identity.Key, error) { calls++; return testKey(t, 7), nil }
	a, err := identity.LoadOrCreateKey(path, gen)
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.LoadOrCreateKey(path, gen)
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
	if _, err := identity.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), func() (*identity.Key, error) { return nil, genErr }); !errors.Is(err, genErr) {
		t.Errorf("generator error lost: %v", err)
	}
}
