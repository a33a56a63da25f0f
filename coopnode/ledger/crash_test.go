package ledger

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// The crash test's child process reads these.
const (
	envCrashDB   = "ICN_LEDGER_CRASH_DB"
	envCrashGen  = "ICN_LEDGER_CRASH_GEN"
	envCrashSeed = "ICN_LEDGER_CRASH_SEED"
)

const (
	crashWorkers  = 32
	crashMembers  = 16
	crashLimit    = 5000 // 50.00 hours: enough that some payments are rejected
	crashAcksWant = 2000
	crashRounds   = 3
)

func crashOptions(path string) Options {
	return Options{
		Path:          path,
		DefaultLimits: map[string]money.Amount{money.Hours.Code: hours(crashLimit)},
		Logger:        quietLogger(),
	}
}

func crashAccounts(t testing.TB, seed uint64) []Account {
	return append(memberDIDs(t, seed, crashMembers), ClearingAccount("hub"))
}

// TestCrashChild is the child half of TestCrashRecovery: it skips unless the
// parent named a db in the environment. It pays as fast as it can from many
// goroutines and acknowledges each payment on stdout once Pay has returned,
// until it is killed (or gives up after a minute, should the parent be gone).
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envCrashDB)
	if path == "" {
		t.Skip("the child of TestCrashRecovery; runs only when " + envCrashDB + " is set")
	}
	gen := os.Getenv(envCrashGen)
	seed, err := strconv.ParseUint(os.Getenv(envCrashSeed), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: bad seed:", err)
		os.Exit(3)
	}
	s, err := Open(crashOptions(path))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	accounts := crashAccounts(t, seed)
	var outMu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for w := 0; w < crashWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g, _ := strconv.ParseUint(gen, 10, 64)
			rng := rand.New(rand.NewPCG(seed+g, uint64(w)))
			for n := 0; time.Now().Before(deadline); n++ {
				from := accounts[rng.IntN(len(accounts))]
				to := accounts[rng.IntN(len(accounts))]
				if to == from {
					continue
				}
				tr := Transfer{
					ID:   fmt.Sprintf("g%s-w%02d-%06d", gen, w, n),
					From: from, To: to, Amount: hours(1 + rng.Int64N(crashLimit/2)),
					Memo: "crash", CreatedAt: time.Unix(1700000000, 0),
				}
				p, err := s.Pay(bg, tr)
				if err != nil {
					fmt.Fprintf(os.Stderr, "child: pay %s: %v\n", tr.ID, err)
					os.Exit(2)
				}
				outMu.Lock()
				fmt.Fprintf(out, "ACK %s %s\n", p.ID, p.Status)
				err = out.Flush()
				outMu.Unlock()
				if err != nil {
					os.Exit(4)
				}
			}
		}(w)
	}
	wg.Wait()
	s.Close()
}

// TestCrashRecovery kills a child process that is paying from many goroutines,
// reopens the ledger, and checks that every acknowledged payment is there,
// whole, with the acknowledged status, and that the ledger verifies. Three
// kills on the same file exercise recovery after recovery.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	seed := testSeed(t, 99)
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]Status{}
	for round := 1; round <= crashRounds; round++ {
		start := time.Now()
		got := runCrashChild(t, path, round, seed)
		for id, st := range got {
			acked[id] = st
		}
		killed := time.Now()
		n := checkCrashedLedger(t, path, seed, acked)
		t.Logf("round %d: %d acknowledged before and after the kill, %d entries; child ran %s, check took %s",
			round, len(got), n, killed.Sub(start).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	}
}

// runCrashChild starts a child on path, kills it after crashAcksWant
// acknowledgements, and returns every acknowledgement it wrote.
func runCrashChild(t *testing.T, path string, gen int, seed uint64) map[string]Status {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashGen+"="+strconv.Itoa(gen), envCrashSeed+"="+strconv.FormatUint(seed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	acks := map[string]Status{}
	var mu sync.Mutex
	enough := make(chan struct{})
	readDone := make(chan error, 1)
	go func() {
		r := bufio.NewReader(stdout)
		signalled := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// EOF; a partial last line (no newline) was never acknowledged.
				if err == io.EOF {
					err = nil
				}
				readDone <- err
				return
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ACK" {
				continue // test framework output, if any
			}
			mu.Lock()
			acks[f[1]] = Status(f[2])
			n := len(acks)
			mu.Unlock()
			if n >= crashAcksWant && !signalled {
				signalled = true
				close(enough)
			}
		}
	}()

	select {
	case <-enough:
	case err := <-readDone:
		cmd.Wait()
		killed = true
		t.Fatalf("round %d: child ended after %d acks (read err %v): %s", gen, len(acks), err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("round %d: only %d acks in 60s; child stderr: %s", gen, len(acks), stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Fatalf("reading the child's stdout: %v", err)
	}
	err = cmd.Wait()
	killed = true
	if ee, ok := err.(*exec.ExitError); !ok || ee.Success() {
		t.Fatalf("round %d: child exit %v, want killed; stderr: %s", gen, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("round %d: child stderr: %s", gen, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	return acks
}

// checkCrashedLedger reopens the ledger and checks it against every
// acknowledgement so far; it returns the number of entries.
func checkCrashedLedger(t *testing.T, path string, seed uint64, acked map[string]Status) uint64 {
	t.Helper()
	s, err := Open(crashOptions(path))
	if err != nil {
		t.Fatalf("reopen after the kill: %v", err)
	}
	defer s.Close()
	r := mustVerify(t, s)

	// Every acknowledged payment is there with its status, whole.
	for id, st := range acked {
		p, err := s.Payment(id)
		if err != nil {
			t.Fatalf("acknowledged payment %s: %v", id, err)
		}
		if p.Status != st {
			t.Fatalf("payment %s: status %s, acknowledged %s", id, p.Status, st)
		}
		switch st {
		case StatusCommitted:
			if p.EntrySeq == 0 || !hex64.MatchString(p.EntryHash) {
				t.Fatalf("committed payment %s without an entry: %+v", id, p)
			}
		case StatusRejected:
			if p.EntrySeq != 0 || p.Reason != ReasonInsufficientCredit {
				t.Fatalf("rejected payment %s: %+v", id, p)
			}
		default:
			t.Fatalf("payment %s acknowledged as %s", id, st)
		}
	}

	// Entries and payment records match one to one: no entry without its
	// committed record, no committed record without its entry.
	err = s.View(func(tx *store.View) error {
		payments := tx.Bucket(bktPayments)
		entries := 0
		err := tx.Bucket(bktEntries).ForEach(func(k, v []byte) error {
			entries++
			var e icnv1.LedgerEntry
			if err := proto.Unmarshal(v, &e); err != nil {
				return err
			}
			rv := payments.Get([]byte(e.PaymentId))
			if rv == nil {
				return fmt.Errorf("entry %d: payment %s missing", e.Seq, e.PaymentId)
			}
			rec, err := decodeRecord(rv)
			if err != nil {
				return err
			}
			if rec.Status != icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED || rec.EntrySeq != e.Seq ||
				hex.EncodeToString(rec.EntryHash) != hex.EncodeToString(hashEntry(v)) {
				return fmt.Errorf("entry %d: payment %s is %s with entry %d", e.Seq, e.PaymentId, rec.Status, rec.EntrySeq)
			}
			return nil
		})
		if err != nil {
			return err
		}
		committed := 0
		err = payments.ForEach(func(_, v []byte) error {
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if rec.Status == icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED {
				committed++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if committed != entries {
			return fmt.Errorf("%d committed payments, %d entries", committed, entries)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The balances sum to zero and no member is beyond its limit.
	var sum int64
	for _, a := range crashAccounts(t, seed) {
		b := mustBalance(t, s, a)
		sum += b.Balance.Units()
		if !a.IsSystem() && b.Available.Sign() < 0 {
			t.Fatalf("%s beyond its limit: %+v", a, b)
		}
	}
	if sum != 0 {
		t.Fatalf("balances sum to %d", sum)
	}
	return r.Entries
}
