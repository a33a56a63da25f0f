package wallet_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/icn-coop/icn/coopnode/wallet"
	"github.com/icn-coop/icn/identity"
)

// jsTests serves the JS client's tests (testdata/jstest) under
// /wallet-test/, with the wallet's own security headers, and fixture.json:
// the co-op, the admin's key file and vectors made by the Go side.
func jsTests(e *env) http.Handler {
	files := http.StripPrefix("/wallet-test/", http.FileServerFS(os.DirFS("testdata/jstest")))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range wallet.Headers {
			w.Header().Set(k, v)
		}
		if path.Base(r.URL.Path) == "fixture.json" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(fixture(e.t, e.admin))
			return
		}
		files.ServeHTTP(w, r)
	})
}

func fixture(t *testing.T, admin *identity.Key) []byte {
	keyFile := func(k *identity.Key) map[string]string {
		return map[string]string{"did": string(k.DID()), "public_key": identity.B64(k.Public()), "seed": identity.B64(k.Seed())}
	}
	signer := newKey(t)
	payload := []byte(`{"id":"vector","amount":"2.50","memo":"é ü ✓"}`)
	var b58 []map[string]string
	rnd := make([]byte, 32)
	rand.Read(rnd)
	for _, b := range [][]byte{{}, {0}, {0, 0, 1}, {0xff}, make([]byte, 32), append([]byte{0, 0}, rnd[:30]...), rnd, []byte("hello world")} {
		b58 = append(b58, map[string]string{"bytes": identity.B64(b), "text": base58.Encode(b)})
	}
	var dids []map[string]string
	for range 4 {
		k := newKey(t)
		dids = append(dids, map[string]string{"did": string(k.DID()), "public_key": identity.B64(k.Public())})
	}
	// The vote vectors, which governance's TestVoteVector and
	// TestVoteEncodingVectors check on the Go side.
	votes, err := os.ReadFile("../../governance/testdata/vote-vector.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(map[string]any{
		"votes": json.RawMessage(votes),
		"coop":  coopID,
		"admin": keyFile(admin),
		"signature": map[string]string{"did": string(signer.DID()), "public_key": identity.B64(signer.Public()), "seed": identity.B64(signer.Seed()),
			"tag": string(identity.TagPaymentIntent), "payload": identity.B64(payload),
			"signature": identity.B64(signer.Sign(identity.TagPaymentIntent, payload))},
		"base58": b58,
		"dids":   dids,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBrowserJSClient runs icn.js's own tests (testdata/jstest/tests.js) in
// Chromium against a real co-op node: encodings and signatures against the
// Go side's, login and single-use refresh, membership, payments and their
// idempotent repeat, devices, the subscription (live, since, gaps and
// reconnects against a fake feed), the offline queue and the IndexedDB
// store. Each JS test is a subtest here.
func TestBrowserJSClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t)
	tb := b.open("js tests", e.front.URL+"/wallet-test/index.html", "#results")
	tb.waitJS("the JS tests to finish", `document.body.dataset.done === "true"`, 90*time.Second)
	type result struct {
		Name, Error string
		OK          bool
		MS          int
	}
	results := eval[[]result](tb, `window.icnTestResults`)
	if len(results) < 20 {
		t.Errorf("only %d JS tests ran", len(results))
	}
	for _, r := range results {
		t.Run(strings.ReplaceAll(r.Name, " ", "_"), func(t *testing.T) {
			t.Logf("%d ms in the browser", r.MS)
			if !r.OK {
				t.Errorf("%s", r.Error)
			}
		})
	}
	tb.shot("js-tests")
}
