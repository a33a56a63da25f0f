package main

import (
	"os"

	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/icn-coop/icn/coopnode/coopnodetest"
	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/internal/keyfile"
)

// icn coop cluster status asks one node, as a moderator, and shows the
// group; id creates a node key once and prints the same DID after.
func TestCoopClusterCommands(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	l := cc.Leader()
	adminKey := filepath.Join(t.TempDir(), "admin.key")
	if err := keyfile.Write(adminKey, cc.Admin); err != nil {
		t.Fatal(err)
	}
	cc.Login((l+1)%3, cc.Admin) // the admin's bootstrap has landed
	flags := []string{"--gateway", cc.URL((l + 1) % 3), "--coop", coopnodetest.CoopID, "--key", adminKey}
	// An election may move the leader between Leader() and the call (it
	// did under -race on a loaded machine): assert what holds either way.
	out := mustICN(t, append([]string{"coop", "cluster", "status"}, flags...)...)
	wantContains(t, "cluster status", out, append(cc.URLs(), "leader", "voter")...)
	if !regexp.MustCompile(`(?m)^node +did:icn:\S+ \((leader|follower|candidate)\)$`).MatchString(out) {
		t.Fatalf("cluster status names no role for the node asked:\n%s", out)
	}
	var st gateway.ClusterStatus
	if err := json.Unmarshal([]byte(mustICN(t, append([]string{"coop", "cluster", "status", "-o", "json"}, flags...)...)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 3 || !slices.Contains(cc.URLs(), st.LeaderAPI) {
		t.Fatalf("status: %+v", st)
	}
	if _, err := runICN(t, append([]string{"coop", "cluster", "add", "--did", "nope", "--raft", "127.0.0.1:1"}, flags...)...); err == nil ||
		!strings.Contains(err.Error(), "--did") {
		t.Fatalf("add with a bad DID: %v", err)
	}

	nk := filepath.Join(t.TempDir(), "cluster.key")
	first := strings.TrimSpace(mustICN(t, "coop", "cluster", "id", "--node-key", nk))
	if again := strings.TrimSpace(mustICN(t, "coop", "cluster", "id", "--node-key", nk)); again != first || !strings.HasPrefix(first, "did:icn:") {
		t.Fatalf("cluster id: %q then %q", first, again)
	}
}

// icn coop cluster convert turns a stopped single node's directory into a
// group of one and names the nodes left to add; run again, it refuses.
func TestCoopClusterConvert(t *testing.T) {
	cc := coopnodetest.StartSingle(t, 3)
	cc.Stop(0)
	b, err := toml.Marshal(cc.Configs[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "coop.toml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustICN(t, "coop", "cluster", "convert", "--config", path)
	wantContains(t, "convert", out, "converted", "group of one", "icn coop cluster add --did "+cc.Configs[0].Cluster.Peers[1].DID+" --raft "+cc.Configs[1].Cluster.Bind)
	if _, err := runICN(t, "coop", "cluster", "convert", "--config", path); err == nil || !strings.Contains(err.Error(), "cluster node already") {
		t.Fatalf("convert again: %v, want a refusal", err)
	}
}
