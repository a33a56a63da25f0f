package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing/directory"
)

func newTestKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestDirectoryLookupCmd: icn directory psk writes a key the directory
// takes; icn directory lookup joins two nodes holding it and prints the
// record a region published for its co-op, and says what to fix when it
// cannot join or the co-op has no record.
func TestDirectoryLookupCmd(t *testing.T) {
	dir := t.TempDir()
	pskFile := filepath.Join(dir, "directory.psk")
	mustICN(t, "directory", "psk", "--out", pskFile)
	if st, err := os.Stat(pskFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("psk file: %v %v", st, err)
	}
	if _, err := runICN(t, "directory", "psk", "--out", pskFile); err == nil {
		t.Fatal("psk overwrote an existing file")
	}
	b, _ := os.ReadFile(pskFile)
	psk := make([]byte, 32)
	if n, err := hex.Decode(psk, []byte(strings.TrimSpace(string(b)))); err != nil || n != 32 {
		t.Fatalf("psk file %q: %v", b, err)
	}

	root, region, coop := newTestKey(t), newTestKey(t), newTestKey(t)
	var peers []string
	var nodes []*directory.Node
	var boot []directory.Peer
	for range 2 {
		k := newTestKey(t)
		n, err := directory.Start(context.Background(), directory.Config{Key: k, Listen: "127.0.0.1:0", PSK: psk,
			Anchors: []identity.DID{root.DID()}, Bootstrap: boot, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
		boot = append(boot, directory.Peer{DID: k.DID(), Addr: n.Addr()})
		peers = append(peers, "--peer", string(k.DID())+"@"+n.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitJoined(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exp := time.Now().Add(time.Hour)
	up, err := directory.SignLink(root, directory.Link{Federation: root.DID(), Member: region.DID(), MemberName: "region", Seq: 1, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	own, err := directory.SignLink(region, directory.Link{Federation: region.DID(), Member: coop.DID(), MemberName: "riverside", Seq: 4, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	v, err := directory.Sign(region, "riverside", false, own, []*icnv1.SignedDirectoryLink{up}, 4, exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].Publish(ctx, directory.CoopKey("riverside"), v); err != nil {
		t.Fatal(err)
	}

	args := append([]string{"directory", "lookup", "riverside", "--psk-file", pskFile, "--anchor", string(root.DID())}, peers...)
	out := mustICN(t, args...)
	wantContains(t, "lookup", out, "riverside ("+string(coop.DID())+")", "seq 4", "admitted by "+string(region.DID()), "admitted by "+string(root.DID()))
	var rec struct {
		Subject identity.DID `json:"subject"`
		Path    []struct {
			Federation identity.DID `json:"federation"`
		} `json:"path"`
	}
	if err := json.Unmarshal([]byte(mustICN(t, append(args, "--json")...)), &rec); err != nil || rec.Subject != coop.DID() ||
		len(rec.Path) != 2 || rec.Path[1].Federation != root.DID() {
		t.Fatalf("--json: %+v %v", rec, err)
	}

	other := filepath.Join(dir, "other.psk")
	mustICN(t, "directory", "psk", "--out", other)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append([]string{"directory", "lookup", "no-such-coop", "--psk-file", pskFile, "--anchor", string(root.DID())}, peers...), "no record under /icn/coop/no-such-coop"},
		{append([]string{"directory", "lookup", "riverside", "--psk-file", other, "--anchor", string(root.DID()), "--timeout", "3s"}, peers...), "no directory node answered"},
		{[]string{"directory", "lookup", "riverside", "--anchor", string(root.DID())}, "--peer DID@HOST:PORT"},
		{append([]string{"directory", "lookup", "riverside"}, peers...), "--anchor"},
		{[]string{"directory", "lookup", "riverside", "--peer", "nope", "--anchor", string(root.DID())}, "want DID@HOST:PORT"},
	} {
		if _, err := runICN(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("icn %s: %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
