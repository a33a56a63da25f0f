package identity_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/icn-coop/icn/identity"
)

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
	// Whitespace around the object is fine.
	if _, err := identity.UnmarshalKey([]byte("\n " + obj(did, pub, seed) + " \n\n")); err != nil {
		t.Errorf("whitespace around key file: %v", err)
	}
}
