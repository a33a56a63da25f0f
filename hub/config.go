package hub

import (
	"encoding/hex"
	"net"
	"os"
	"strings"

	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/icn-coop/icn/hub/fsm"
	"github.com/icn-coop/icn/routing/directory"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/httpserve"
	"github.com/icn-coop/icn/internal/tomlconf"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
	"github.com/icn-coop/icn/settlement"
	"github.com/icn-coop/icn/trust"
)

// FileConfig is a hub node's configuration file (hub.toml; see deploy/hub.toml).
type FileConfig struct {
	DataDir    string         `toml:"data_dir"`
	KeyFile    string         `toml:"key_file"` // default <data_dir>/node.key, created if missing
	Operators  []string       `toml:"operators"`
	Raft       RaftFile       `toml:"raft"`
	GRPC       ListenFile     `toml:"grpc"`
	HTTP       HTTPFile       `toml:"http"`
	Data       ListenFile     `toml:"data"` // the QUIC data plane (UDP)
	Federation FederationFile `toml:"federation"`
	Peers      []PeerFile     `toml:"peers"`
	Parent     ParentFile     `toml:"parent"`  // one parent federation
	Parents    []ParentFile   `toml:"parents"` // more: [[parents]] (a regional and a sector federation)
	Directory  DirectoryFile  `toml:"directory"`
	Settlement SettlementFile `toml:"settlement"`
	Trust      TrustFile      `toml:"trust"`
	Log        LogFile        `toml:"log"`
}

// TrustFile tunes the trust-class policies the data plane enforces per
// participant: [trust.policies.<class>] with requests_per_second, burst
// and max_payload_bytes, each overriding the seed's table (isolated 10/s
// 1 KiB, known 50/s 10 KiB, partner 100/s 100 KiB, federated 200/s 1 MiB;
// bursts of one second's worth). Read by each node at start, not
// replicated: keep it alike on every node.
type TrustFile struct {
	Policies map[string]trust.PolicyOverride `toml:"policies"`
}

// policies returns the table with the file's overrides.
func (t TrustFile) policies() (trust.Policies, error) {
	p, err := trust.DefaultPolicies().Override(t.Policies, routing.DefaultMaxFrameSize)
	if err != nil {
		return p, fmt.Errorf("trust.policies: %w (classes: isolated, known, partner, federated; max_payload_bytes at most %d, the data plane's frame limit)", err, routing.DefaultMaxFrameSize)
	}
	return p, nil
}

// ParentFile links the cluster to a parent federation (nested federations).
type ParentFile struct {
	// Federation is the parent's federation DID; register it here as a
	// participant of kind federation, with trust and a cap.
	Federation string           `toml:"federation"`
	Nodes      []ParentNodeFile `toml:"nodes"`
}

// DirectoryFile configures this node's member of the federation directory
// (a kad-dht among the participating federations' hub nodes). Empty listen:
// none; the cluster then routes by route announcements only.
type DirectoryFile struct {
	// Listen is the TCP address of the directory node, e.g. "0.0.0.0:7500".
	Listen string `toml:"listen"`
	// PSKFile holds the participating federations' shared private network
	// key: 64 hex digits (32 bytes), mode 0600. Without it any libp2p node
	// that finds this one may join (records are still checked).
	PSKFile string `toml:"psk_file"`
	// Anchors are the root federations' DIDs every record's path must reach.
	Anchors []string `toml:"anchors"`
	// Peers are other hub nodes' directory addresses to join through.
	Peers []DirectoryPeerFile `toml:"peers"`
	// AnnounceRoutes (default true) keeps announcing this cluster's co-ops
	// to its parents beside publishing them; false leaves them to the
	// directory alone (no fallback when it is down).
	AnnounceRoutes *bool `toml:"announce_routes"`
}

// DirectoryPeerFile is another hub node's directory address.
type DirectoryPeerFile struct {
	DID  string `toml:"did"`
	Addr string `toml:"addr"`
}

// ParentNodeFile is one parent hub node's DID and data-plane address.
type ParentNodeFile struct {
	DID  string `toml:"did"`
	Addr string `toml:"addr"`
}

// RaftFile configures raft's listener and log compaction.
type RaftFile struct {
	Listen            string            `toml:"listen"`
	Advertise         string            `toml:"advertise"`
	SnapshotThreshold uint64            `toml:"snapshot_threshold"`
	SnapshotInterval  tomlconf.Duration `toml:"snapshot_interval"`
	TrailingLogs      uint64            `toml:"trailing_logs"`
	HeartbeatTimeout  tomlconf.Duration `toml:"heartbeat_timeout"`
}

// ListenFile is a listener and the address others use to reach it.
type ListenFile struct {
	Listen    string `toml:"listen"`
	Advertise string `toml:"advertise"`
}

// HTTPFile is the HTTP listener (/metrics, /healthz, /readyz, the
// treasurer pages) and its timeouts (see Config.HTTP; zero: the defaults).
type HTTPFile struct {
	Listen       string            `toml:"listen"`
	Advertise    string            `toml:"advertise"`
	ReadTimeout  tomlconf.Duration `toml:"read_timeout"`
	WriteTimeout tomlconf.Duration `toml:"write_timeout"`
	IdleTimeout  tomlconf.Duration `toml:"idle_timeout"`
}

func (h HTTPFile) limits() httpserve.Limits {
	return httpserve.Limits{ReadTimeout: time.Duration(h.ReadTimeout), WriteTimeout: time.Duration(h.WriteTimeout),
		IdleTimeout: time.Duration(h.IdleTimeout)}
}

// FederationFile is what the first leader records as the federation.
type FederationFile struct {
	DID string `toml:"did"`
	// KeyFile holds the federation's own key (0600), needed when the
	// cluster is part of a federation tree: it signs receipts to and
	// connects to other federations' hubs as the federation.
	KeyFile    string         `toml:"key_file"`
	Name       string         `toml:"name"`
	MinTrust   string         `toml:"min_trust"`
	MaxHops    int            `toml:"max_hops"`
	Currencies []CurrencyFile `toml:"currencies"`
	// IntentHorizon: each node's data plane refuses payment intents that
	// expire further ahead (default 10m); not replicated, so set it alike
	// on every node, and no shorter than the co-ops' [gateway] intent_horizon.
	IntentHorizon tomlconf.Duration `toml:"intent_horizon"`
}

// CurrencyFile declares a cleared currency.
type CurrencyFile struct {
	Code  string `toml:"code"`
	Scale int32  `toml:"scale"`
	// How its settlement instructions are carried out (settlement modes):
	// "hours_transfer" (the default), "asset_swap" or "fiat", the last two
	// with the asset paid, its scale and the rate in asset units per unit.
	Settlement string `toml:"settlement"`
	Asset      string `toml:"asset"`
	AssetScale int32  `toml:"asset_scale"`
	Rate       string `toml:"rate"`
}

// rule is the currency's settlement rule, nil for the default.
func (c CurrencyFile) rule() *icnv1.SettlementRule {
	if c.Settlement == "" || c.Settlement == settlement.ModeHoursTransfer && c.Asset == "" && c.Rate == "" {
		return nil
	}
	return &icnv1.SettlementRule{Currency: c.Code, Mode: c.Settlement, Asset: c.Asset, AssetScale: uint32(c.AssetScale), Rate: c.Rate}
}

// PeerFile is one node of the initial cluster.
type PeerFile struct {
	DID  string `toml:"did"`
	Raft string `toml:"raft"`
	GRPC string `toml:"grpc"`
}

// SettlementFile is when settlement periods close and when their
// instructions are due (see SettlementConfig).
type SettlementFile struct {
	Interval tomlconf.Duration `toml:"interval"` // e.g. "24h"
	Cron     string            `toml:"cron"`     // e.g. "0 0 * * *" (UTC unless CRON_TZ=…)
	Deadline tomlconf.Duration `toml:"deadline"` // e.g. "72h"
}

func (f SettlementFile) config() SettlementConfig {
	return SettlementConfig{Interval: time.Duration(f.Interval), Cron: f.Cron, Deadline: time.Duration(f.Deadline)}
}

// LogFile chooses the log level and format.
type LogFile struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// LoadConfig reads and checks hub.toml.
func LoadConfig(path string) (FileConfig, error) {
	var c FileConfig
	if err := tomlconf.Load(path, &c); err != nil {
		return FileConfig{}, err
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return FileConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func (c *FileConfig) setDefaults() {
	if c.KeyFile == "" && c.DataDir != "" {
		c.KeyFile = filepath.Join(c.DataDir, "node.key")
	}
	if c.Raft.Listen == "" {
		c.Raft.Listen = "127.0.0.1:7100"
	}
	if c.GRPC.Listen == "" {
		c.GRPC.Listen = "127.0.0.1:7200"
	}
	if c.GRPC.Advertise == "" {
		c.GRPC.Advertise = c.GRPC.Listen
	}
	if c.Data.Listen == "" {
		c.Data.Listen = "127.0.0.1:7400"
	}
	if len(c.Federation.Currencies) == 0 {
		c.Federation.Currencies = []CurrencyFile{{Code: money.Hours.Code, Scale: money.Hours.Scale}}
	}
}

// Validate checks the configuration and says what to fix.
func (c *FileConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New(`data_dir: set the directory for raft's log, snapshots and state, e.g. data_dir = "/var/lib/icn-hub"`)
	}
	if len(c.Operators) == 0 {
		return errors.New(`operators: list the DIDs allowed to run operator commands (icn keygen prints one)`)
	}
	for _, o := range c.Operators {
		if _, _, err := identity.ParseDID(o); err != nil {
			return fmt.Errorf("operators: %q: %w", o, err)
		}
	}
	if _, _, err := identity.ParseDID(c.Federation.DID); err != nil {
		return fmt.Errorf("federation.did: the federation's DID (icn keygen): %w", err)
	}
	if c.Federation.MinTrust != "" {
		if _, err := trust.ParseWeight(c.Federation.MinTrust); err != nil {
			return fmt.Errorf("federation.min_trust: %w", err)
		}
	}
	if c.Federation.MaxHops < 0 || c.Federation.MaxHops > 8 {
		return errors.New("federation.max_hops: give 1..8 (0 means the default, 3)")
	}
	for _, cf := range c.Federation.Currencies {
		if err := (money.Currency{Code: cf.Code, Scale: cf.Scale}).Validate(); err != nil {
			return fmt.Errorf("federation.currencies: %w", err)
		}
		if r := cf.rule(); r != nil {
			if _, err := fsm.RuleFromProto(r); err != nil {
				return fmt.Errorf("federation.currencies %s: settlement: %w", cf.Code, err)
			}
		}
	}
	if _, err := c.Trust.policies(); err != nil {
		return err
	}
	for i, p := range c.parents() {
		if err := p.validate(c.Federation.KeyFile); err != nil {
			if len(c.Parents) > 0 {
				return fmt.Errorf("parents[%d]: %w", i, err)
			}
			return err
		}
	}
	if err := c.Directory.Validate(); err != nil {
		return err
	}
	if _, err := c.Settlement.config().parseSchedule(); err != nil {
		return err
	}
	if err := c.HTTP.limits().Check("http"); err != nil {
		return err
	}
	for i, p := range c.Peers {
		if _, _, err := identity.ParseDID(p.DID); err != nil {
			return fmt.Errorf("peers[%d].did: %w", i, err)
		}
		if p.Raft == "" || p.GRPC == "" {
			return fmt.Errorf("peers[%d]: set both raft and grpc addresses", i)
		}
	}
	return nil
}

func (p *ParentFile) validate(keyFile string) error {
	if p.Federation == "" && len(p.Nodes) == 0 {
		return nil
	}
	if _, _, err := identity.ParseDID(p.Federation); err != nil {
		return fmt.Errorf("parent.federation: the parent federation's DID: %w", err)
	}
	if keyFile == "" {
		return errors.New("federation.key_file: a cluster with a parent connects to it as its federation; give the federation's key file")
	}
	if len(p.Nodes) == 0 {
		return errors.New("parent.nodes: list the parent's hub nodes ([[parent.nodes]] did, addr)")
	}
	for i, n := range p.Nodes {
		if _, _, err := identity.ParseDID(n.DID); err != nil {
			return fmt.Errorf("parent.nodes[%d].did: %w", i, err)
		}
		if n.Addr == "" {
			return fmt.Errorf("parent.nodes[%d].addr: the node's data-plane address", i)
		}
	}
	return nil
}

// parents are [parent] (if set) and [[parents]].
func (c *FileConfig) parents() []ParentFile {
	var out []ParentFile
	if c.Parent.Federation != "" || len(c.Parent.Nodes) > 0 {
		out = append(out, c.Parent)
	}
	return append(out, c.Parents...)
}

// ParentLinks returns the parent links the file configures.
func (c *FileConfig) ParentLinks() []ParentLink {
	var out []ParentLink
	for _, p := range c.parents() {
		pl := ParentLink{Federation: identity.DID(p.Federation)}
		for _, n := range p.Nodes {
			pl.Hubs = append(pl.Hubs, ParentHub{DID: identity.DID(n.DID), Addr: n.Addr})
		}
		out = append(out, pl)
	}
	return out
}

// Validate checks the section: addresses HOST:PORT, anchors and peers DIDs.
func (d *DirectoryFile) Validate() error {
	if d.Listen == "" {
		if d.PSKFile != "" || len(d.Anchors) > 0 || len(d.Peers) > 0 {
			return errors.New("directory.listen: give the directory node's address, or remove the [directory] section")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(d.Listen); err != nil {
		return fmt.Errorf("directory.listen %q: want HOST:PORT", d.Listen)
	}
	for i, a := range d.Anchors {
		if _, _, err := identity.ParseDID(a); err != nil {
			return fmt.Errorf("directory.anchors[%d]: %w", i, err)
		}
	}
	for i, p := range d.Peers {
		if _, _, err := identity.ParseDID(p.DID); err != nil {
			return fmt.Errorf("directory.peers[%d].did: %w", i, err)
		}
		if _, _, err := net.SplitHostPort(p.Addr); err != nil {
			return fmt.Errorf("directory.peers[%d].addr %q: want HOST:PORT", i, p.Addr)
		}
	}
	return nil
}

// DirectoryConfig is the directory node the file configures for key (nil:
// none). It reads the private network key file.
func (c *FileConfig) DirectoryConfig(key *identity.Key) (*directory.Config, error) {
	d := c.Directory
	if d.Listen == "" {
		return nil, nil
	}
	dc := &directory.Config{Key: key, Listen: d.Listen}
	for _, a := range d.Anchors {
		dc.Anchors = append(dc.Anchors, identity.DID(a))
	}
	for _, p := range d.Peers {
		dc.Bootstrap = append(dc.Bootstrap, directory.Peer{DID: identity.DID(p.DID), Addr: p.Addr})
	}
	if d.PSKFile != "" {
		psk, err := readPSK(d.PSKFile)
		if err != nil {
			return nil, fmt.Errorf("directory.psk_file: %w", err)
		}
		dc.PSK = psk
	}
	return dc, nil
}

// readPSK reads 64 hex digits from a file no one else may read.
func readPSK(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %o is too open; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	psk, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(psk) != 32 {
		return nil, fmt.Errorf("%s: want 64 hex digits (32 bytes), e.g. from: head -c 32 /dev/urandom | xxd -p -c 64", path)
	}
	return psk, nil
}

// NodeConfig turns the file into a node configuration for key.
func (c *FileConfig) NodeConfig(key *identity.Key) Config {
	cfg := Config{
		DataDir: c.DataDir, Key: key, RaftBind: c.Raft.Listen, RaftAdvertise: c.Raft.Advertise,
		GRPCAddr: c.GRPC.Advertise, DataAddr: c.Data.Listen,
		SnapshotThreshold: c.Raft.SnapshotThreshold, SnapshotInterval: time.Duration(c.Raft.SnapshotInterval),
		TrailingLogs: c.Raft.TrailingLogs, HeartbeatTimeout: time.Duration(c.Raft.HeartbeatTimeout),
		Federation: FederationConfig{DID: identity.DID(c.Federation.DID), Name: c.Federation.Name,
			MinTrust: c.Federation.MinTrust, MaxHops: c.Federation.MaxHops},
		Settlement: c.Settlement.config(), HTTP: c.HTTP.limits(),
		NoRouteAnnouncements: c.Directory.Listen != "" && c.Directory.AnnounceRoutes != nil && !*c.Directory.AnnounceRoutes,
		IntentHorizon:        time.Duration(c.Federation.IntentHorizon),
	}
	if len(c.Trust.Policies) > 0 {
		if p, err := c.Trust.policies(); err == nil { // Validate has refused the bad ones
			cfg.TrustPolicies = &p
		}
	}
	for _, cf := range c.Federation.Currencies {
		cfg.Federation.Currencies = append(cfg.Federation.Currencies, money.Currency{Code: cf.Code, Scale: cf.Scale})
		if r := cf.rule(); r != nil {
			cfg.Federation.Settlement = append(cfg.Federation.Settlement, r)
		}
	}
	for _, p := range c.Peers {
		cfg.Peers = append(cfg.Peers, Peer{DID: identity.DID(p.DID), RaftAddr: p.Raft, GRPCAddr: p.GRPC})
	}
	return cfg
}

// OperatorDIDs returns the configured operators.
func (c *FileConfig) OperatorDIDs() []identity.DID {
	out := make([]identity.DID, len(c.Operators))
	for i, o := range c.Operators {
		out[i] = identity.DID(o)
	}
	return out
}
