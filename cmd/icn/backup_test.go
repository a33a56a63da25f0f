package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/internal/testutil"
)

// field returns the value of a "name  value" line of a kv table.
func field(t *testing.T, out, name string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return strings.TrimSpace(strings.TrimPrefix(l, name))
		}
	}
	t.Fatalf("no %q in\n%s", name, out)
	return ""
}

// TestCoopBackupUnderLoadRestores: icn coop backup copies a running node's
// ledger over the gateway while members pay each other; icn coop restore
// puts the copy into a fresh data directory, where it has the state hash
// the node announced, re-walks clean, and ends at an entry the live ledger
// holds with the same hash.
func TestCoopBackupUnderLoadRestores(t *testing.T) {
	dir := t.TempDir()
	admin := genKey(t)
	adminFile := filepath.Join(dir, "admin.key")
	if err := keyfile.Write(adminFile, admin); err != nil {
		t.Fatal(err)
	}
	cfg := coopnode.Config{CoopID: "coop-bk", DataDir: t.TempDir(), Admin: string(admin.DID())}
	n := serveNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keys := []*identity.Key{admin, genKey(t), genKey(t)}
	for i, k := range keys[1:] {
		if _, err := n.Members.Bootstrap(ctx, k.DID(), fmt.Sprintf("member %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var sess []*client.Session
	for _, k := range keys {
		s, err := client.New(n.URL()).Login(ctx, k, cfg.CoopID)
		if err != nil {
			t.Fatal(err)
		}
		sess = append(sess, s)
	}
	var paid atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range keys {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				to := keys[(w+1)%len(keys)].DID()
				if r, err := sess[w].Pay(ctx, client.PaymentIntent{To: to, ToCoop: cfg.CoopID, Amount: "0.01"}, keys[w]); err == nil && r.Status == "committed" {
					paid.Add(1)
				}
			}
		}(w)
	}
	testutil.WaitFor(t, 30*time.Second, "payments before the backup", func() bool { return paid.Load() >= 30 })
	file := filepath.Join(dir, "coop.db")
	out := mustICN(t, "coop", "backup", "--gateway", n.URL(), "--coop", cfg.CoopID, "--key", adminFile, "--out", file)
	during := paid.Load()
	testutil.WaitFor(t, 30*time.Second, "payments after the backup", func() bool { return paid.Load() >= during+30 })
	close(stop)
	wg.Wait()
	hash := field(t, out, "state hash")
	head := strings.Fields(field(t, out, "ledger head")) // "#seq" "hash"
	var seq uint64
	fmt.Sscanf(head[0], "#%d", &seq)
	if seq == 0 || len(head) != 2 {
		t.Fatalf("backup output:\n%s", out)
	}

	if _, err := runICN(t, "coop", "backup", "--gateway", n.URL(), "--coop", cfg.CoopID, "--key", writeKey(t, dir, "stranger.key", genKey(t)), "--out", filepath.Join(dir, "x.db")); err == nil {
		t.Error("a stranger took a backup")
	}

	// Restore into a fresh data directory.
	fresh := t.TempDir()
	cfgFile := filepath.Join(dir, "restored.toml")
	writeFile(t, cfgFile, fmt.Sprintf("coop_id = %q\ndata_dir = %q\nadmin = %q\n", cfg.CoopID, fresh, admin.DID()))
	out = mustICN(t, "coop", "restore", "--config", cfgFile, "--from", file)
	wantContains(t, "restore", out, "ledger OK", hash)
	if _, err := runICN(t, "coop", "restore", "--config", cfgFile, "--from", file); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over a ledger without --force: %v", err)
	}
	got, err := ledger.VerifyBackup(filepath.Join(fresh, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	if got.StateHash != hash || got.Seq != seq || got.Head != head[1] {
		t.Fatalf("restored ledger: #%d %s state %s; the backup said #%d %s state %s", got.Seq, got.Head, got.StateHash, seq, head[1], hash)
	}
	// The live ledger went on past the copy, through the same entry.
	liveSeq, _, _ := n.Ledger.Head()
	if liveSeq <= seq {
		t.Fatalf("live ledger at #%d, not past the backup's #%d", liveSeq, seq)
	}
	var liveHash string
	n.Ledger.State().View(func(tx *store.View) error {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		sum := sha256.Sum256(tx.Bucket([]byte("entries")).Get(k[:]))
		liveHash = hex.EncodeToString(sum[:])
		return nil
	})
	if liveHash != head[1] {
		t.Fatalf("live entry #%d hashes to %s, the restored head is %s", seq, liveHash, head[1])
	}
}
