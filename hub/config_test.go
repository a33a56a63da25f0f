package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/trust"
)

// TestDeployExampleParses keeps deploy/hub.toml loadable (placeholders swapped for real DIDs).
func TestDeployExampleParses(t *testing.T) {
	b, err := os.ReadFile("../deploy/hub.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, ph := range []string{"REPLACE_WITH_AN_OPERATOR_DID", "REPLACE_WITH_THE_FEDERATION_DID",
		"REPLACE_WITH_NODE_1_DID", "REPLACE_WITH_NODE_2_DID", "REPLACE_WITH_NODE_3_DID"} {
		s = strings.Replace(s, "did:icn:"+ph, string(newKey(t).DID()), 1)
	}
	p := filepath.Join(t.TempDir(), "hub.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := LoadConfig(p)
	if err != nil {
		t.Fatalf("deploy/hub.toml: %v", err)
	}
	cfg := fc.NodeConfig(newKey(t))
	if cfg.TrustPolicies == nil || *cfg.TrustPolicies != trust.DefaultPolicies() {
		t.Fatalf("deploy/hub.toml's [trust.policies] %+v, want the defaults it documents", cfg.TrustPolicies)
	}
	if len(cfg.Peers) != 3 || cfg.Federation.MinTrust != "0.1" || len(cfg.Federation.Currencies) != 1 ||
		cfg.Settlement.Interval != 24*time.Hour || cfg.Settlement.Deadline != 72*time.Hour ||
		cfg.HTTP.ReadTimeout != 30*time.Second || cfg.HTTP.WriteTimeout != time.Minute || cfg.HTTP.IdleTimeout != 2*time.Minute {
		t.Fatalf("unexpected config: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`data_dir = "/x"` + "\n" + `bogus = 1`, "unknown keys"},
		{`operators = []`, "data_dir"},
		{`data_dir = "/x"`, "operators"},
		{`data_dir = "/x"` + "\n" + `operators = ["nope"]`, "operators"},
	} {
		p := filepath.Join(t.TempDir(), "hub.toml")
		if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadConfig(%q) = %v, want an error naming %q", tc.body, err, tc.want)
		}
	}
}

func TestParentConfig(t *testing.T) {
	did := func() string { return string(newKey(t).DID()) }
	base := "data_dir = \"/x\"\noperators = [\"" + did() + "\"]\n[federation]\ndid = \"" + did() + "\"\n"
	for _, tc := range []struct{ extra, want string }{
		{"[parent]\nfederation = \"" + did() + "\"\n[[parent.nodes]]\ndid = \"" + did() + "\"\naddr = \"h:1\"\n", "federation.key_file"},
		{"key_file = \"/k\"\n[parent]\nfederation = \"nope\"\n", "parent.federation"},
		{"key_file = \"/k\"\n[parent]\nfederation = \"" + did() + "\"\n", "parent.nodes"},
		{"key_file = \"/k\"\n[parent]\nfederation = \"" + did() + "\"\n[[parent.nodes]]\ndid = \"" + did() + "\"\n", "parent.nodes[0].addr"},
	} {
		p := filepath.Join(t.TempDir(), "hub.toml")
		if err := os.WriteFile(p, []byte(base+tc.extra), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.extra, err, tc.want)
		}
	}
	p := filepath.Join(t.TempDir(), "hub.toml")
	parent, node := did(), did()
	good := base + "key_file = \"/k\"\n[parent]\nfederation = \"" + parent + "\"\n[[parent.nodes]]\ndid = \"" + node + "\"\naddr = \"h:1\"\n"
	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	pls := fc.ParentLinks()
	if len(pls) != 1 || string(pls[0].Federation) != parent || len(pls[0].Hubs) != 1 || string(pls[0].Hubs[0].DID) != node || pls[0].Hubs[0].Addr != "h:1" {
		t.Fatalf("parent links %+v", pls)
	}
	// A second parent (a sector federation beside the region) in [[parents]].
	sector, snode := did(), did()
	two := good + "[[parents]]\nfederation = \"" + sector + "\"\n[[parents.nodes]]\ndid = \"" + snode + "\"\naddr = \"h:2\"\n"
	if err := os.WriteFile(p, []byte(two), 0o600); err != nil {
		t.Fatal(err)
	}
	if fc, err = LoadConfig(p); err != nil {
		t.Fatal(err)
	}
	if pls := fc.ParentLinks(); len(pls) != 2 || string(pls[1].Federation) != sector || pls[1].Hubs[0].Addr != "h:2" {
		t.Fatalf("two parents %+v", pls)
	}
}

// TestDirectoryConfig: [directory] gives the node's directory member; a
// bad address, anchor or key file is refused at load.
func TestDirectoryConfig(t *testing.T) {
	did := func() string { return string(newKey(t).DID()) }
	dir := t.TempDir()
	psk := filepath.Join(dir, "dir.psk")
	if err := os.WriteFile(psk, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "data_dir = \"/x\"\noperators = [\"" + did() + "\"]\n[federation]\ndid = \"" + did() + "\"\n"
	load := func(extra string) (FileConfig, error) {
		p := filepath.Join(t.TempDir(), "hub.toml")
		if err := os.WriteFile(p, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	anchor, peer := did(), did()
	fc, err := load("[directory]\nlisten = \"127.0.0.1:7500\"\npsk_file = \"" + psk + "\"\nanchors = [\"" + anchor + "\"]\n" +
		"[[directory.peers]]\ndid = \"" + peer + "\"\naddr = \"10.0.0.2:7500\"\n")
	if err != nil {
		t.Fatal(err)
	}
	dc, err := fc.DirectoryConfig(newKey(t))
	if err != nil || dc == nil || dc.Listen != "127.0.0.1:7500" || len(dc.PSK) != 32 || len(dc.Anchors) != 1 || len(dc.Bootstrap) != 1 {
		t.Fatalf("directory config %+v, %v", dc, err)
	}
	if fc, _ := load(""); fc.Directory.Listen != "" {
		t.Fatal("no [directory]: a directory")
	}
	for _, bad := range []string{"[directory]\nanchors = [\"" + anchor + "\"]\n", "[directory]\nlisten = \"nope\"\n",
		"[directory]\nlisten = \":7500\"\nanchors = [\"x\"]\n"} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "directory.") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	open := filepath.Join(dir, "open.psk")
	os.WriteFile(open, []byte(strings.Repeat("ab", 32)), 0o644)
	fc, _ = load("[directory]\nlisten = \":7500\"\npsk_file = \"" + open + "\"\n")
	if _, err := fc.DirectoryConfig(newKey(t)); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Errorf("a readable key file: %v", err)
	}
}

func TestSettlementSchedules(t *testing.T) {
	opened := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		cfg  SettlementConfig
		want time.Time // zero: no schedule
		err  string
	}{
		{cfg: SettlementConfig{}},
		{cfg: SettlementConfig{Interval: 24 * time.Hour}, want: opened.Add(24 * time.Hour)},
		{cfg: SettlementConfig{Cron: "0 0 * * *"}, want: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{cfg: SettlementConfig{Cron: "CRON_TZ=Europe/Berlin 0 0 * * *"}, want: time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)},
		{cfg: SettlementConfig{Cron: "0 0 * *"}, err: "cron"},
		{cfg: SettlementConfig{Cron: "0 0 * * *", Interval: time.Hour}, err: "not both"},
		{cfg: SettlementConfig{Interval: time.Millisecond}, err: "too short"},
		{cfg: SettlementConfig{Deadline: -time.Hour}, err: "negative"},
	} {
		s, err := tc.cfg.parseSchedule()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc.cfg, err)
		}
		if tc.want.IsZero() != (s == nil) {
			t.Fatalf("%+v: schedule %v", tc.cfg, s)
		}
		if s != nil && !s.next(opened).Equal(tc.want) {
			t.Errorf("%+v: next %v, want %v", tc.cfg, s.next(opened).UTC(), tc.want)
		}
	}
}

// TestSettlementModeConfig: [[federation.currencies]] names its settlement
// mode; a bad rule is refused when the file loads, naming the currency.
func TestSettlementModeConfig(t *testing.T) {
	did := func() string { return string(newKey(t).DID()) }
	base := "data_dir = \"/x\"\noperators = [\"" + did() + "\"]\n[federation]\ndid = \"" + did() + "\"\n"
	load := func(cur string) (FileConfig, error) {
		p := filepath.Join(t.TempDir(), "hub.toml")
		if err := os.WriteFile(p, []byte(base+"[[federation.currencies]]\ncode = \"hours\"\nscale = 2\n"+cur), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	fc, err := load("settlement = \"fiat\"\nasset = \"EUR\"\nasset_scale = 2\nrate = \"15.50\"\n")
	if err != nil {
		t.Fatal(err)
	}
	rules := fc.NodeConfig(newKey(t)).Federation.Settlement
	if len(rules) != 1 || rules[0].GetMode() != "fiat" || rules[0].GetAsset() != "EUR" || rules[0].GetRate() != "15.50" {
		t.Fatalf("rules %v", rules)
	}
	if fc, err := load(""); err != nil || len(fc.NodeConfig(newKey(t)).Federation.Settlement) != 0 {
		t.Fatalf("default: %v", err)
	}
	for _, bad := range []string{
		"settlement = \"barter\"\n",
		"settlement = \"fiat\"\nasset = \"EUR\"\nrate = \"-1\"\n",
		"settlement = \"asset_swap\"\nrate = \"2\"\n",
	} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "federation.currencies hours: settlement") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestTrustPoliciesConfig: [trust.policies.<class>] overrides the seed's
// table for the data plane; no section keeps the table; a bad class, key or
// value is refused at load, naming the section.
func TestTrustPoliciesConfig(t *testing.T) {
	did := func() string { return string(newKey(t).DID()) }
	base := "data_dir = \"/x\"\noperators = [\"" + did() + "\"]\n[federation]\ndid = \"" + did() + "\"\n"
	load := func(extra string) (FileConfig, error) {
		p := filepath.Join(t.TempDir(), "hub.toml")
		if err := os.WriteFile(p, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	fc, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if p := fc.NodeConfig(newKey(t)).TrustPolicies; p != nil {
		t.Fatalf("no [trust] section: policies %+v, want nil (the table)", p)
	}
	fc, err = load("[trust.policies.federated]\nrequests_per_second = 5000\n[trust.policies.known]\nburst = 7\nmax_payload_bytes = 2048\n")
	if err != nil {
		t.Fatal(err)
	}
	got := fc.NodeConfig(newKey(t)).TrustPolicies
	want := trust.DefaultPolicies()
	want[trust.ClassFederated].RequestsPerSecond, want[trust.ClassFederated].Burst = 5000, 5000
	want[trust.ClassKnown].Burst, want[trust.ClassKnown].MaxPayloadBytes = 7, 2048
	if got == nil || *got != want {
		t.Fatalf("policies %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ extra, want string }{
		{"[trust.policies.trusted]\nburst = 1\n", "trust.policies"},
		{"[trust.policies.known]\ncredit_factor = 1\n", "unknown keys"},
		{"[trust.policies.known]\nrequests_per_second = -1\n", "trust.policies"},
		{"[trust.policies.federated]\nmax_payload_bytes = 2000000\n", "trust.policies"},
	} {
		if _, err := load(tc.extra); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.extra, err, tc.want)
		}
	}
}
