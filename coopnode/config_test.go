package coopnode

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

// TestDeployExampleParses keeps deploy/coop.toml loadable (placeholders
// swapped for real DIDs).
func TestDeployExampleParses(t *testing.T) {
	b, err := os.ReadFile("../deploy/coop.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, ph := range []string{"REPLACE_WITH_THE_ADMIN_DID", "REPLACE_WITH_THE_FEDERATION_DID",
		"REPLACE_WITH_HUB_NODE_1_DID", "REPLACE_WITH_HUB_NODE_2_DID", "REPLACE_WITH_HUB_NODE_3_DID"} {
		k, err := identity.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s, "did:icn:"+ph) {
			t.Fatalf("deploy/coop.toml lacks the placeholder %s", ph)
		}
		s = strings.Replace(s, "did:icn:"+ph, string(k.DID()), 1)
	}
	p := filepath.Join(t.TempDir(), "coop.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatalf("deploy/coop.toml: %v", err)
	}
	if len(c.Hub.Nodes) != 3 || c.Hub.Nodes[0].Addr != "10.0.0.1:7400" {
		t.Fatalf("hub section: %+v", c.Hub)
	}
	if c.Gateway.ReadTimeout != Duration(30*time.Second) || c.Gateway.WriteTimeout != Duration(time.Minute) ||
		c.Gateway.IdleTimeout != Duration(2*time.Minute) {
		t.Fatalf("gateway timeouts: %+v", c.Gateway)
	}
	if c.Membership.CredentialTTL != Duration(365*24*time.Hour) || c.Membership.RenewBefore != Duration(30*24*time.Hour) {
		t.Fatalf("membership section: %+v", c.Membership)
	}
}

func TestHubConfigErrors(t *testing.T) {
	k, _ := identity.GenerateKey(rand.Reader)
	did := string(k.DID())
	for _, tc := range []struct {
		hub  HubConfig
		want string
	}{
		{HubConfig{Federation: "nope", Nodes: []HubNodeConfig{{DID: did, Addr: "a:1"}}}, "hub.federation"},
		{HubConfig{Federation: did}, "hub.nodes"},
		{HubConfig{Federation: did, Nodes: []HubNodeConfig{{DID: "x", Addr: "a:1"}}}, "hub.nodes[0].did"},
		{HubConfig{Federation: did, Nodes: []HubNodeConfig{{DID: did}}}, "hub.nodes[0].addr"},
	} {
		if err := tc.hub.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.hub, err, tc.want)
		}
	}
	if err := (&HubConfig{}).validate(); err != nil {
		t.Errorf("no hub section: %v", err)
	}
}

func TestGatewayTimeoutErrors(t *testing.T) {
	k, _ := identity.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		gw   GatewayConfig
		want string
	}{
		{GatewayConfig{ReadTimeout: Duration(-time.Second)}, "gateway.read_timeout"},
		{GatewayConfig{WriteTimeout: Duration(-time.Second)}, "gateway.write_timeout"},
		{GatewayConfig{IdleTimeout: Duration(-time.Second)}, "gateway.idle_timeout"},
	} {
		c := Config{CoopID: "c", DataDir: t.TempDir(), Admin: string(k.DID()), Gateway: tc.gw}
		c.setDefaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.gw, err, tc.want)
		}
	}
}

// TestGatewayTrustConfig: [gateway.trust] is read into the gateway's member
// classes, and a bad class or DID fails the load, naming the key.
func TestGatewayTrustConfig(t *testing.T) {
	k, _ := identity.GenerateKey(rand.Reader)
	m, _ := identity.GenerateKey(rand.Reader)
	base := "coop_id = \"c\"\ndata_dir = \"/x\"\nadmin = \"" + string(k.DID()) + "\"\n"
	load := func(extra string) (Config, error) {
		p := filepath.Join(t.TempDir(), "coop.toml")
		if err := os.WriteFile(p, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	c, err := load("[gateway.trust]\ndefault_member_class = \"known\"\n[gateway.trust.roles]\ntreasurer = \"partner\"\n" +
		"[gateway.trust.members]\n\"" + string(m.DID()) + "\" = \"federated\"\n[gateway.trust.policies.known]\nrequests_per_second = 80\n")
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Gateway.Trust
	if tr.DefaultMemberClass != "known" || tr.Roles["treasurer"] != "partner" || tr.Members[string(m.DID())] != "federated" ||
		tr.Policies["known"].RequestsPerSecond != 80 {
		t.Fatalf("gateway.trust: %+v", tr)
	}
	for _, tc := range []struct{ extra, want string }{
		{"[gateway.trust]\ndefault_member_class = \"friend\"\n", "gateway.trust: default_member_class"},
		{"[gateway.trust.members]\n\"did:icn:x\" = \"known\"\n", "gateway.trust: members"},
		{"[gateway.trust.policies.known]\nrate = 5\n", "unknown keys"},
	} {
		if _, err := load(tc.extra); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.extra, err, tc.want)
		}
	}
}

// TestGatewayTransport: plain HTTP is served only on a loopback address or
// when plain_http says a proxy terminates TLS; TLS needs both files.
func TestGatewayTransport(t *testing.T) {
	k, _ := identity.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		gw   GatewayConfig
		want string // "" : valid
	}{
		{GatewayConfig{Listen: "127.0.0.1:8080"}, ""},
		{GatewayConfig{Listen: "127.0.0.53:8080"}, ""},
		{GatewayConfig{Listen: "[::1]:8080"}, ""},
		{GatewayConfig{Listen: "localhost:8080"}, ""},
		{GatewayConfig{Listen: "0.0.0.0:8080"}, "plain_http = true"},
		{GatewayConfig{Listen: ":8080"}, "not a loopback address"},
		{GatewayConfig{Listen: "10.0.0.5:8080"}, "tls_cert_file"},
		{GatewayConfig{Listen: "gw.example:8080"}, "not a loopback address"},
		{GatewayConfig{Listen: "0.0.0.0:8080", PlainHTTP: true}, ""},
		{GatewayConfig{Listen: "0.0.0.0:8443", TLSCertFile: "c.pem", TLSKeyFile: "k.pem"}, ""},
		{GatewayConfig{Listen: "0.0.0.0:8443", TLSCertFile: "c.pem"}, "both tls_cert_file and tls_key_file"},
		{GatewayConfig{Listen: "127.0.0.1:8443", TLSKeyFile: "k.pem"}, "both tls_cert_file and tls_key_file"},
		{GatewayConfig{Listen: "0.0.0.0:8443", TLSCertFile: "c.pem", TLSKeyFile: "k.pem", PlainHTTP: true}, "contradict"},
	} {
		c := Config{CoopID: "c", DataDir: t.TempDir(), Admin: string(k.DID()), Gateway: tc.gw}
		c.setDefaults()
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.gw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error saying %q", tc.gw, err, tc.want)
		}
	}
}

func TestClusterConfigErrors(t *testing.T) {
	dids := make([]string, 3)
	for i := range dids {
		k, _ := identity.GenerateKey(rand.Reader)
		dids[i] = string(k.DID())
	}
	peer := func(i int) ClusterPeerConfig {
		return ClusterPeerConfig{DID: dids[i], Raft: "10.0.0.1:7400", API: "https://coop.example:8443"}
	}
	for _, tc := range []struct {
		name string
		c    ClusterConfig
		want string // "" : valid
	}{
		{"none", ClusterConfig{}, ""},
		{"three", ClusterConfig{Bind: "0.0.0.0:7400", Peers: []ClusterPeerConfig{peer(0), peer(1), peer(2)}}, ""},
		{"no bind", ClusterConfig{Peers: []ClusterPeerConfig{peer(0), peer(1)}}, "cluster.bind"},
		{"one peer", ClusterConfig{Bind: ":7400", Peers: []ClusterPeerConfig{peer(0)}}, "cluster.peers: list 2 to 5"},
		{"twice", ClusterConfig{Bind: ":7400", Peers: []ClusterPeerConfig{peer(0), peer(0)}}, "listed twice"},
		{"bad did", ClusterConfig{Bind: ":7400", Peers: []ClusterPeerConfig{peer(0), {DID: "x", Raft: "a:1", API: "http://a:1"}}}, "cluster.peers[1].did"},
		{"bad raft", ClusterConfig{Bind: ":7400", Peers: []ClusterPeerConfig{peer(0), {DID: dids[1], Raft: "a", API: "http://a:1"}}}, "cluster.peers[1].raft"},
		{"bad api", ClusterConfig{Bind: ":7400", Peers: []ClusterPeerConfig{peer(0), {DID: dids[1], Raft: "a:1", API: "a:1"}}}, "cluster.peers[1].api"},
		{"api with a path", ClusterConfig{Bind: ":7400", Peers: []ClusterPeerConfig{peer(0), {DID: dids[1], Raft: "a:1", API: "http://a:1/x"}}}, "cluster.peers[1].api"},
		{"bad advertise", ClusterConfig{Bind: ":7400", Advertise: "x", Peers: []ClusterPeerConfig{peer(0), peer(1)}}, "cluster.advertise"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid section refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// A data directory holding a single node's ledger is refused under
// [cluster]: its commands are in no raft log the other nodes could replay.
func TestClusterRefusesSingleNodeState(t *testing.T) {
	admin := newKey(t)
	dir := t.TempDir()
	cfg := Config{CoopID: "riverside", DataDir: dir, Admin: string(admin.DID()), Gateway: GatewayConfig{Listen: "127.0.0.1:0"}}
	n, err := Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	other := newKey(t)
	cfg.Cluster = ClusterConfig{Bind: "127.0.0.1:0", Peers: []ClusterPeerConfig{
		{DID: string(newKey(t).DID()), Raft: "127.0.0.1:1", API: "http://127.0.0.1:2"},
		{DID: string(other.DID()), Raft: "127.0.0.1:3", API: "http://127.0.0.1:4"}}}
	_, err = Open(t.Context(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "holds a single node's state") {
		t.Fatalf("open under [cluster]: %v, want a refusal of the single node's state", err)
	}
}

// TestCreditPolicyConfig: [credit_policy] is off by default; enabled = true
// gives the default percentages, which the table may change within 0-100.
func TestCreditPolicyConfig(t *testing.T) {
	k, _ := identity.GenerateKey(rand.Reader)
	base := "coop_id = \"c\"\ndata_dir = \"/x\"\nadmin = \"" + string(k.DID()) + "\"\n"
	load := func(extra string) (Config, error) {
		p := filepath.Join(t.TempDir(), "coop.toml")
		if err := os.WriteFile(p, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.CreditPolicy.Policy(); err != nil || p != nil {
		t.Fatalf("default: %+v %v", p, err)
	}
	c, err = load("[credit_policy]\nenabled = true\n")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.CreditPolicy.Policy(); err != nil || p == nil || *p != governance.DefaultCreditPolicy() {
		t.Fatalf("enabled: %+v %v", p, err)
	}
	c, err = load("[credit_policy]\nenabled = true\nvouch_percent = 10\nsponsor_percent = 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.CreditPolicy.Policy(); p.VouchPercent != 10 || p.SponsorPercent != 0 || p.MaxPercent != 100 {
		t.Fatalf("percentages: %+v", p)
	}
	for _, tc := range []struct{ extra, want string }{
		{"[credit_policy]\nenabled = true\nmax_percent = 150\n", "credit_policy"},
		{"[credit_policy]\nenable = true\n", "unknown keys"},
	} {
		if _, err := load(tc.extra); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.extra, err, tc.want)
		}
	}
}
