package coopnode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/coopnodetest"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

// A co-op that ran on one node moves onto three: its data directory is
// converted into a group of one that keeps every balance and event, then
// the two new nodes are added and copy it.
func TestConvertSingleNodeToCluster(t *testing.T) {
	cc := coopnodetest.StartSingle(t, 3)
	ctx := context.Background()
	member := coopnodetest.Key(t, "member")
	if _, err := cc.Nodes[0].Members.AddMember(ctx, member.DID(), "Member", nil); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cc.URL(0)).Login(ctx, cc.Admin, coopnodetest.CoopID)
	if err != nil {
		t.Fatal(err)
	}
	pay := func(s *client.Session, key *identity.Key, to identity.DID, id string) { payThrough(t, s, key, to, id) }
	for i := range 3 {
		pay(admin, cc.Admin, member.DID(), fmt.Sprint("single-", i))
	}
	before, err := cc.Nodes[0].Ledger.State().AppliedIndex()
	if err != nil {
		t.Fatal(err)
	}

	conv := cc.Convert()
	if self := identity.DID(cc.Configs[0].Cluster.Peers[0].DID); conv.Index != before || conv.Node != self {
		t.Fatalf("converted %+v, want index %d and node %s", conv, before, self)
	}
	if l := cc.Leader(); l != 0 {
		t.Fatalf("node %d leads, want the converted node 0", l)
	}
	admin = cc.Login(0, cc.Admin)
	b, err := admin.Balance(ctx, coopnodetest.CoopID, member.DID(), "")
	if err != nil || b.Balance != "3.00" {
		t.Fatalf("the member's balance after the conversion: %+v %v, want 3.00", b, err)
	}
	pay(admin, cc.Admin, member.DID(), "group-of-one")

	for i := 1; i < 3; i++ {
		did := cc.StartPlanned(i)
		st := clusterCall(t, admin, "POST", "/nodes", map[string]string{"did": string(did), "raft": cc.Configs[i].Cluster.Bind, "api": cc.URL(i)})
		if len(st.Servers) != i+1 {
			t.Fatalf("after adding node %d: %d servers, want %d", i, len(st.Servers), i+1)
		}
	}
	pay(admin, cc.Admin, member.DID(), "group-of-three")
	h0, _ := cc.Nodes[0].Ledger.State().StateHash()
	testutil.WaitFor(t, 20*time.Second, "one state hash on every node", func() bool {
		for _, n := range cc.Nodes[1:] {
			if h, _ := n.Ledger.State().StateHash(); h != h0 {
				h0, _ = cc.Nodes[0].Ledger.State().StateHash()
				return false
			}
		}
		return true
	})
	for i := range 3 {
		if rep, err := cc.Nodes[i].Ledger.Verify(); err != nil || !rep.OK() {
			t.Fatalf("node %d: verify: %v %+v", i, err, rep)
		}
	}
	// The single node's history is on the new nodes too, and the group
	// survives the converted node's loss.
	cc.Stop(0)
	if l := cc.Leader(); l == 0 {
		t.Fatal("the stopped node leads")
	}
	ms := cc.Login(1, member)
	b, err = ms.Balance(ctx, coopnodetest.CoopID, member.DID(), "")
	if err != nil || b.Balance != "5.00" {
		t.Fatalf("the member's balance on the new nodes: %+v %v, want 5.00", b, err)
	}
	var payments []string
	for _, e := range readFeedNow(t, ms) {
		if e.Type == "Payment" {
			var p struct{ ID string }
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				t.Fatal(err)
			}
			payments = append(payments, p.ID)
		}
	}
	want := []string{"single-0", "single-1", "single-2", "group-of-one", "group-of-three"}
	if !slices.Equal(payments, want) {
		t.Fatalf("the member's feed on a new node: payments %v, want %v", payments, want)
	}
}

func TestConvertRefuses(t *testing.T) {
	cc := coopnodetest.StartSingle(t, 2)
	cfg := cc.Configs[0]
	for _, tc := range []struct {
		name string
		edit func(*coopnode.Config)
		want string
	}{
		{"no cluster section", func(c *coopnode.Config) { c.Cluster = coopnode.ClusterConfig{} }, "no [cluster] section"},
		{"this node not listed", func(c *coopnode.Config) { c.Cluster.Peers[0].DID = string(coopnodetest.Key(t, "stranger").DID()) }, "does not list this node"},
		{"no state", func(c *coopnode.Config) { c.DataDir = t.TempDir() }, "nothing to convert"},
		{"no node key", func(c *coopnode.Config) { c.Cluster.NodeKeyFile += ".missing" }, "icn coop cluster id --node-key"},
		{"still running", func(*coopnode.Config) {}, "stop the node first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Cluster.Peers = slices.Clone(cfg.Cluster.Peers)
			tc.edit(&c)
			_, err := coopnode.ConvertToCluster(c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("convert: %v, want an error saying %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(c.DataDir, "raft")); !os.IsNotExist(err) {
				t.Fatalf("a refused convert left a raft directory: %v", err)
			}
		})
	}
}
