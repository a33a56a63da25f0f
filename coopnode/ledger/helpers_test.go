package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// defaultLimit is the members' default credit limit in the tests: 100.00 hours.
const defaultLimit = 10000

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

var bg = context.Background()

func hours(units int64) money.Amount { return money.FromUnits(units, money.Hours) }

// testSeed returns the seed a randomised test uses: def, or ICN_TEST_SEED when
// set (to replay a failure). The seed is logged.
func testSeed(t testing.TB, def uint64) uint64 {
	t.Helper()
	seed := def
	if v := os.Getenv("ICN_TEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ICN_TEST_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with ICN_TEST_SEED=%d)", seed, seed)
	return seed
}

// seededReader is a deterministic byte stream for identity.GenerateKey.
func seededReader(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	copy(s[8:], "icn ledger tests")
	return rand.NewChaCha8(s)
}

// memberDIDs makes n member DIDs from keys generated with a seeded reader.
func memberDIDs(t testing.TB, seed uint64, n int) []Account {
	t.Helper()
	r := seededReader(seed)
	out := make([]Account, n)
	for i := range out {
		k, err := identity.GenerateKey(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = Account(k.DID())
	}
	return out
}

// stepClock is a deterministic clock: each reading is 1 ms after the one before.
func stepClock() func() time.Time {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testOptions are the options the tests use unless they say otherwise. NoSync
// is on: these tests are about the ledger's logic; the crash test and the
// reopen tests use real fsyncs.
func testOptions(path string) Options {
	return Options{
		Path:          path,
		DefaultLimits: map[string]money.Amount{money.Hours.Code: hours(defaultLimit)},
		NoSync:        true,
		Clock:         stepClock(),
		Logger:        quietLogger(),
	}
}

// openStore opens a store in a fresh temp dir; mod may adjust the options.
// The store is closed when the test ends.
func openStore(t testing.TB, mod func(*Options)) (*Store, Options) {
	t.Helper()
	opts := testOptions(filepath.Join(t.TempDir(), "ledger.db"))
	if mod != nil {
		mod(&opts)
	}
	return mustOpen(t, opts), opts
}

func mustOpen(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var idSeq atomic.Uint64

// xfer builds a transfer with a fresh id.
func xfer(from, to Account, units int64) Transfer {
	return Transfer{
		ID: fmt.Sprintf("p-%d", idSeq.Add(1)), From: from, To: to, Amount: hours(units),
		Memo: "test", CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func mustPay(t testing.TB, s *Store, tr Transfer) Payment {
	t.Helper()
	p, err := s.Pay(bg, tr)
	if err != nil {
		t.Fatalf("pay %s: %v", tr.ID, err)
	}
	return p
}

func mustHold(t testing.TB, s *Store, tr Transfer) Payment {
	t.Helper()
	p, err := s.Hold(bg, tr)
	if err != nil {
		t.Fatalf("hold %s: %v", tr.ID, err)
	}
	return p
}

func mustBalance(t testing.TB, s *Store, a Account) Balance {
	t.Helper()
	b, err := s.Balance(a, money.Hours)
	if err != nil {
		t.Fatalf("balance of %s: %v", a, err)
	}
	return b
}

// wantBalance checks an account's balance and held amount in minor units.
func wantBalance(t testing.TB, s *Store, a Account, balance, held int64) {
	t.Helper()
	b := mustBalance(t, s, a)
	if b.Balance.Units() != balance || b.Held.Units() != held {
		t.Fatalf("%s: balance %d held %d, want %d held %d", a, b.Balance.Units(), b.Held.Units(), balance, held)
	}
}

func mustVerify(t testing.TB, s *Store) *VerifyReport {
	t.Helper()
	r, err := s.Verify()
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !r.OK() {
		t.Fatalf("verify found %d mismatches: %v", len(r.Mismatches), r.Mismatches)
	}
	return r
}

func headSeq(t testing.TB, s *Store) uint64 {
	t.Helper()
	seq, _, err := s.Head()
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// entryAt reads the raw ledger entry with seq, and its decoded form.
func entryAt(t testing.TB, s *Store, seq uint64) ([]byte, *icnv1.LedgerEntry) {
	t.Helper()
	var raw []byte
	if err := s.View(func(tx *store.View) error {
		raw = append([]byte(nil), tx.Bucket(bktEntries).Get(u64(seq))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 {
		t.Fatalf("entry %d missing", seq)
	}
	var e icnv1.LedgerEntry
	if err := proto.Unmarshal(raw, &e); err != nil {
		t.Fatalf("entry %d: %v", seq, err)
	}
	return raw, &e
}

// readAll pages through a feed from since to its end.
func readAll(t testing.TB, s *Store, feed string, since uint64) []Event {
	t.Helper()
	var out []Event
	for {
		page, err := s.ReadFeed(feed, since, 7)
		if err != nil {
			t.Fatalf("read feed %q: %v", feed, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		since = page[len(page)-1].Seq
	}
}

// testFns holds the functions Update runs, named by the number its command carries.
var (
	testFns   sync.Map // uint64 → func(*Tx) error
	testFnSeq atomic.Uint64
)

// Update runs fn as a command through the store's real group commit, for the
// tests of the writer itself (batching, failure isolation, feeds) that need
// writes other than the ledger's own. The command (a PutStatement, whose
// handler is not registered in these tests) carries only a number naming fn;
// like every handler, fn may run more than once.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	s.st.Handle((*icnv1.CoopCommand_PutStatement)(nil), func(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
		f, ok := testFns.Load(cmd.GetPutStatement().GetPeriod())
		if !ok {
			return nil, errors.New("test: no function for this command")
		}
		return nil, f.(func(*Tx) error)(s.Tx(stx))
	})
	n := testFnSeq.Add(1)
	testFns.Store(n, fn)
	defer testFns.Delete(n)
	_, err := s.st.Submit(ctx, &icnv1.CoopCommand{AtUnixNano: s.now(), Kind: &icnv1.CoopCommand_PutStatement{PutStatement: &icnv1.PutStatement{Period: n}}})
	return err
}

// View runs fn in a read-only transaction of the ledger's state.
func (s *Store) View(fn func(*store.View) error) error { return s.st.View(fn) }
