package coopnode_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/coopnodetest"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
)

const day = 24 * time.Hour

// TestMembershipConfig: [membership] credential_ttl and renew_before are
// read from coop.toml (days allowed), default to 365d and 30d, and a bad
// pair fails the load naming the key.
func TestMembershipConfig(t *testing.T) {
	admin := coopnodetest.Key(t, "admin")
	load := func(section string) (coopnode.Config, error) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "coop.toml")
		body := "coop_id = \"riverside\"\ndata_dir = \"" + t.TempDir() + "\"\nadmin = \"" + string(admin.DID()) + "\"\n" + section
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return coopnode.LoadConfig(p)
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Membership.CredentialTTL) != 365*day || time.Duration(c.Membership.RenewBefore) != 30*day {
		t.Fatalf("defaults %+v", c.Membership)
	}
	c, err = load("[membership]\ncredential_ttl = \"90d\"\nrenew_before = \"7d12h\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Membership.CredentialTTL) != 90*day || time.Duration(c.Membership.RenewBefore) != 7*day+12*time.Hour {
		t.Fatalf("read %+v", c.Membership)
	}
	for _, tc := range []struct{ section, want string }{
		{"[membership]\ncredential_ttl = \"30d\"\n", "membership.renew_before 720h0m0s must be shorter than membership.credential_ttl"},
		{"[membership]\ncredential_ttl = \"-1h\"\n", "membership.credential_ttl"},
		{"[membership]\nrenew_before = \"10m\"\n", "membership.renew_before 10m0s: give at least 1h"},
		{"[membership]\nrenew_before = \"soon\"\n", "30d"},
		{"[membership]\nrenew_after = \"1d\"\n", "renew_after"},
	} {
		if _, err := load(tc.section); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.section, err, tc.want)
		}
	}
}

func renewals(t *testing.T, n *coopnode.Node, did identity.DID) int {
	t.Helper()
	evs, err := n.Ledger.ReadFeed(string(did), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, ev := range evs {
		if ev.Type == membership.EventCredentialRenewed {
			c++
		}
	}
	return c
}

// longer is the [membership] section under which the credentials issued
// under the defaults (365 days) are due at once: they expire within 400
// days.
var longer = coopnode.MembershipConfig{CredentialTTL: coopnode.Duration(800 * day), RenewBefore: coopnode.Duration(400 * day)}

func renewed(n *coopnode.Node, did identity.DID) bool {
	m, err := n.Members.Member(did)
	return err == nil && m.CredentialExpiresAt.After(time.Now().Add(700*day))
}

// TestNodeRenewsCredentials: a single node renews, from its own scheduler,
// every member's credential that expires within renew_before, once; a
// removed member's stays as it was.
func TestNodeRenewsCredentials(t *testing.T) {
	admin, member, gone := coopnodetest.Key(t, "admin"), coopnodetest.Key(t, "member"), coopnodetest.Key(t, "gone")
	cfg := coopnode.Config{CoopID: "riverside", DataDir: t.TempDir(), Admin: string(admin.DID()),
		Gateway: coopnode.GatewayConfig{Listen: "127.0.0.1:0"}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := coopnode.Open(t.Context(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*identity.Key{member, gone} {
		if _, err := n.Members.AddMember(t.Context(), k.DID(), "M", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Members.Revoke(t.Context(), gone.DID(), admin.DID()); err != nil {
		t.Fatal(err)
	}
	goneBefore, _ := n.Members.Member(gone.DID())
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.Membership = longer
	n, err = coopnode.Open(t.Context(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Listen(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "the scheduler's renewals", func() bool {
		return renewed(n, member.DID()) && renewed(n, admin.DID())
	})
	if c := renewals(t, n, member.DID()); c != 1 {
		t.Fatalf("%d CredentialRenewed events for the member, want 1", c)
	}
	if _, err := n.Members.Authorize(member.DID(), time.Now().Add(500*day)); err != nil {
		t.Fatalf("the renewed credential: %v", err)
	}
	if m, _ := n.Members.Member(gone.DID()); m.CredentialID != goneBefore.CredentialID || m.Status != membership.StatusRevoked {
		t.Fatalf("the removed member: %+v", m)
	}
	if c := renewals(t, n, gone.DID()); c != 0 {
		t.Fatalf("the removed member was renewed %d times", c)
	}
}

// TestReplicatedRenewsOnLeader: on a replicated co-op the leader's duties
// renew the credentials, and every node applies the one renewal.
func TestReplicatedRenewsOnLeader(t *testing.T) {
	cc := coopnodetest.Start(t, 3)
	member := coopnodetest.Key(t, "member")
	cc.OnLeader(func(i int) error {
		_, err := cc.Nodes[i].Members.AddMember(context.Background(), member.DID(), "Member", nil)
		return err
	})
	testutil.WaitFor(t, 20*time.Second, "the member on every node", func() bool {
		for _, n := range cc.Nodes {
			if _, err := n.Members.Member(member.DID()); err != nil {
				return false
			}
		}
		return true
	})
	for i := range cc.Nodes {
		cc.Stop(i)
	}
	for i := range cc.Configs {
		cc.Configs[i].Membership = longer
		cc.Restart(i)
	}
	testutil.WaitFor(t, 30*time.Second, "the leader's renewal applied on every node", func() bool {
		for _, n := range cc.Nodes {
			if !renewed(n, member.DID()) || !renewed(n, cc.Admin.DID()) {
				return false
			}
		}
		return true
	})
	var ids []string
	for i, n := range cc.Nodes {
		if c := renewals(t, n, member.DID()); c != 1 {
			t.Fatalf("node %d: %d CredentialRenewed events for the member, want 1", i, c)
		}
		m, _ := n.Members.Member(member.DID())
		ids = append(ids, m.CredentialID)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("the nodes hold different credentials: %v", ids)
	}
}
