package coopnode

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/icn-coop/icn/internal/httpserve"
	"github.com/icn-coop/icn/internal/tomlconf"

	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/vouch"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Config is a co-op node's configuration (coop.toml; see deploy/coop.toml).
type Config struct {
	CoopID     string           `toml:"coop_id"`
	DataDir    string           `toml:"data_dir"`
	KeyFile    string           `toml:"key_file"` // default: <data_dir>/node.key, created if missing
	Admin      string           `toml:"admin"`    // DID of the first moderator
	AdminName  string           `toml:"admin_name"`
	Gateway    GatewayConfig    `toml:"gateway"`
	Currencies []CurrencyConfig `toml:"currencies"`
	Hub        HubConfig        `toml:"hub"`
	Cluster    ClusterConfig    `toml:"cluster"`
	// CreditPolicy gates members' credit by their standing (sponsor and
	// vouches; docs/governance.md, "Trust-gated credit"). Off by default.
	CreditPolicy CreditPolicyConfig `toml:"credit_policy"`
	Membership   MembershipConfig   `toml:"membership"`

	// GatewayListener, if set, is used instead of binding Gateway.Listen
	// (tests bind ":0" first to learn every node's address).
	GatewayListener net.Listener `toml:"-"`
	// GovernancePolicy, if set, replaces governance.DefaultPolicy's rules
	// (tests and demos use short discussion and voting periods).
	GovernancePolicy governance.Policy `toml:"-"`
	Log              LogConfig         `toml:"log"`
}

// MembershipConfig sets how long members' credentials last and when the
// node renews them.
type MembershipConfig struct {
	// CredentialTTL is how long a credential is valid from its issue or
	// renewal (default 365d).
	CredentialTTL Duration `toml:"credential_ttl"`
	// RenewBefore: the node renews each member's credential once it
	// expires within this (default 30d; at least 1h, less than
	// credential_ttl). A single node renews; on a replicated co-op, the
	// leader.
	RenewBefore Duration `toml:"renew_before"`
}

// Defaults of [membership].
const (
	DefaultCredentialTTL = 365 * 24 * time.Hour
	DefaultRenewBefore   = 30 * 24 * time.Hour
	minRenewBefore       = time.Hour
)

func (m *MembershipConfig) setDefaults() {
	if m.CredentialTTL == 0 {
		m.CredentialTTL = Duration(DefaultCredentialTTL)
	}
	if m.RenewBefore == 0 {
		m.RenewBefore = Duration(DefaultRenewBefore)
	}
}

func (m *MembershipConfig) validate() error {
	ttl, before := time.Duration(m.CredentialTTL), time.Duration(m.RenewBefore)
	switch {
	case ttl <= 0:
		return fmt.Errorf("membership.credential_ttl %s: give a positive duration such as \"365d\"", ttl)
	case before < minRenewBefore:
		return fmt.Errorf("membership.renew_before %s: give at least 1h (the node checks every minute), such as \"30d\"", before)
	case before >= ttl:
		return fmt.Errorf("membership.renew_before %s must be shorter than membership.credential_ttl %s, or every check would renew every credential", before, ttl)
	}
	return nil
}

// CreditPolicyConfig is the [credit_policy] table. With enabled = true a
// member's effective credit limit is its set limit × its standing; the
// percentages default to governance.DefaultCreditPolicy's (50, 25, 100).
type CreditPolicyConfig struct {
	Enabled        bool `toml:"enabled"`
	SponsorPercent *int `toml:"sponsor_percent"`
	VouchPercent   *int `toml:"vouch_percent"`
	MaxPercent     *int `toml:"max_percent"`
}

// Policy is the credit policy the table configures, nil when not enabled.
func (c CreditPolicyConfig) Policy() (*governance.CreditPolicy, error) {
	if !c.Enabled {
		return nil, nil
	}
	p := governance.DefaultCreditPolicy()
	for _, f := range []struct {
		v   *int
		dst *int
	}{{c.SponsorPercent, &p.SponsorPercent}, {c.VouchPercent, &p.VouchPercent}, {c.MaxPercent, &p.MaxPercent}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("credit_policy: %w", err)
	}
	return &p, nil
}

// HubConfig names the hub cluster the node peers with (empty: none; payments
// to other co-ops are then rejected with no_route).
type HubConfig struct {
	// Federation is the hub cluster's federation DID.
	Federation string `toml:"federation"`
	// Nodes are the hub cluster's nodes: each one's DID and data-plane
	// (QUIC, UDP) address. The node connects to one and follows the leader.
	Nodes []HubNodeConfig `toml:"nodes"`
}

// HubNodeConfig is one hub node.
type HubNodeConfig struct {
	DID  string `toml:"did"`
	Addr string `toml:"addr"`
}

// GatewayConfig configures the wallet gateway's HTTP listener.
type GatewayConfig struct {
	Listen       string   `toml:"listen"`
	TokenTTL     Duration `toml:"token_ttl"`
	RefreshTTL   Duration `toml:"refresh_ttl"`
	MaxBodyBytes int64    `toml:"max_body_bytes"`
	// ReadTimeout bounds reading a whole request, body included (30 s);
	// WriteTimeout the time from its headers to the end of the answer
	// (60 s; WebSockets are exempt); IdleTimeout a kept-alive connection
	// between requests (2 min). See internal/httpserve.
	ReadTimeout  Duration           `toml:"read_timeout"`
	WriteTimeout Duration           `toml:"write_timeout"`
	IdleTimeout  Duration           `toml:"idle_timeout"`
	RateLimits   gateway.RateLimits `toml:"rate_limits"`
	// Trust is the co-op's trust in its members: trust classes by DID, by
	// role or for every member, and the class policies (gateway.MemberClasses).
	Trust gateway.MemberClasses `toml:"trust"`
	// IntentHorizon refuses payment intents that expire further ahead
	// (default 10m), here and for payments arriving from other co-ops.
	IntentHorizon Duration `toml:"intent_horizon"`
	// TLSCertFile and TLSKeyFile (PEM) make the gateway serve HTTPS (TLS
	// 1.3 only, with Strict-Transport-Security). Both files are read again
	// on SIGHUP and whenever they change, without dropping connections.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// PlainHTTP serves plain HTTP on a non-loopback address: only behind a
	// proxy that terminates TLS. Plain HTTP on a loopback address (dev, or
	// a proxy on the same machine) needs no such setting.
	PlainHTTP bool `toml:"plain_http"`
}

// ServesTLS reports whether the gateway serves HTTPS.
func (g GatewayConfig) ServesTLS() bool { return g.TLSCertFile != "" || g.TLSKeyFile != "" }

// checkTransport refuses plain HTTP that was not asked for: a gateway on a
// non-loopback address serves TLS unless plain_http says a proxy does.
func (g GatewayConfig) checkTransport() error {
	if (g.TLSCertFile == "") != (g.TLSKeyFile == "") {
		return errors.New("gateway: give both tls_cert_file and tls_key_file, or neither")
	}
	if g.ServesTLS() {
		if g.PlainHTTP {
			return errors.New("gateway: plain_http = true and tls_cert_file contradict each other: keep one")
		}
		return nil
	}
	if g.PlainHTTP || isLoopback(g.Listen) {
		return nil
	}
	return fmt.Errorf("gateway.listen %q is not a loopback address, so members would reach it over plain HTTP: "+
		"set tls_cert_file and tls_key_file, or plain_http = true if a proxy in front terminates TLS", g.Listen)
}

// isLoopback reports whether a listen address binds only the loopback
// interface (127.0.0.0/8, ::1 or localhost).
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// limits returns the HTTP server limits the section sets, with maxBody the
// gateway's effective body cap.
func (g GatewayConfig) limits(maxBody int64) httpserve.Limits {
	return httpserve.Limits{ReadTimeout: time.Duration(g.ReadTimeout), WriteTimeout: time.Duration(g.WriteTimeout),
		IdleTimeout: time.Duration(g.IdleTimeout), MaxBody: maxBody}
}

// CurrencyConfig declares a currency and the default credit limit of members.
type CurrencyConfig struct {
	Code               string `toml:"code"`
	Scale              int32  `toml:"scale"`
	DefaultCreditLimit string `toml:"default_credit_limit"`
}

// LogConfig chooses the log level (debug, info, warn, error) and format (text, json).
type LogConfig struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Duration is a time.Duration written as "90s" or "1h" in TOML.
type Duration = tomlconf.Duration

// LoadConfig reads a TOML file strictly: unknown keys are errors, so a typo
// never silently falls back to a default.
func LoadConfig(path string) (Config, error) {
	var c Config
	if err := tomlconf.Load(path, &c); err != nil {
		return Config{}, err
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.Gateway.Listen == "" {
		c.Gateway.Listen = "127.0.0.1:8080"
	}
	if c.KeyFile == "" && c.DataDir != "" {
		c.KeyFile = filepath.Join(c.DataDir, "node.key")
	}
	if len(c.Currencies) == 0 {
		c.Currencies = []CurrencyConfig{{Code: money.Hours.Code, Scale: money.Hours.Scale, DefaultCreditLimit: "100.00"}}
	}
	if c.AdminName == "" {
		c.AdminName = "admin"
	}
	c.Cluster.setDefaults(c.DataDir)
	c.Membership.setDefaults()
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if c.CoopID == "" || len(c.CoopID) > 64 {
		return errors.New("coop_id: set a 1-64 character co-op id, e.g. coop_id = \"riverside\"")
	}
	if c.DataDir == "" {
		return errors.New("data_dir: set the directory that holds the ledger, e.g. data_dir = \"/var/lib/icn\"")
	}
	if _, _, err := identity.ParseDID(c.Admin); err != nil {
		return fmt.Errorf("admin: the first moderator's DID (from icn keygen): %w", err)
	}
	if _, err := c.currencies(); err != nil {
		return err
	}
	if err := c.Gateway.limits(0).Check("gateway"); err != nil {
		return err
	}
	if err := c.Gateway.Trust.Check("gateway.trust"); err != nil {
		return err
	}
	if err := c.Gateway.checkTransport(); err != nil {
		return err
	}
	if err := c.Cluster.validate(); err != nil {
		return err
	}
	if _, err := c.CreditPolicy.Policy(); err != nil {
		return err
	}
	if err := c.Membership.validate(); err != nil {
		return err
	}
	return c.Hub.validate()
}

func (h *HubConfig) validate() error {
	if h.Federation == "" && len(h.Nodes) == 0 {
		return nil
	}
	if _, _, err := identity.ParseDID(h.Federation); err != nil {
		return fmt.Errorf("hub.federation: the federation's DID: %w", err)
	}
	if len(h.Nodes) == 0 {
		return errors.New("hub.nodes: list the hub nodes, e.g. [[hub.nodes]] did = \"did:icn:...\" addr = \"hub1.example:7300\"")
	}
	for i, n := range h.Nodes {
		if _, _, err := identity.ParseDID(n.DID); err != nil {
			return fmt.Errorf("hub.nodes[%d].did: %w", i, err)
		}
		if n.Addr == "" {
			return fmt.Errorf("hub.nodes[%d].addr: set the node's data-plane address (host:port)", i)
		}
	}
	return nil
}

// currencies returns the configured currencies and each one's default member credit limit.
func (c *Config) currencies() (money.Currencies, error) {
	cs := money.Currencies{}
	for _, cc := range c.Currencies {
		cur := money.Currency{Code: cc.Code, Scale: cc.Scale}
		if err := cur.Validate(); err != nil {
			return nil, fmt.Errorf("currencies: %w", err)
		}
		if _, dup := cs[cur.Code]; dup {
			return nil, fmt.Errorf("currencies: %s declared twice", cur.Code)
		}
		cs[cur.Code] = cur
	}
	return cs, nil
}

func (c *Config) limits(cs money.Currencies) (map[string]money.Amount, error) {
	out := map[string]money.Amount{}
	for _, cc := range c.Currencies {
		if cc.DefaultCreditLimit == "" {
			out[cc.Code] = money.Zero(cs[cc.Code])
			continue
		}
		a, err := money.Parse(cc.DefaultCreditLimit, cs[cc.Code])
		if err != nil || a.Sign() < 0 {
			return nil, fmt.Errorf("currencies: %s default_credit_limit %q: give a non-negative amount like \"100.00\"", cc.Code, cc.DefaultCreditLimit)
		}
		out[cc.Code] = a
	}
	return out, nil
}

// LedgerPath is the co-op's state file in the data directory.
func (c *Config) LedgerPath() string { return filepath.Join(c.DataDir, "ledger.db") }

// LedgerOptions returns the ledger options the configuration implies (no path).
func (c *Config) LedgerOptions() (ledger.Options, error) {
	cs, err := c.currencies()
	if err != nil {
		return ledger.Options{}, err
	}
	limits, err := c.limits(cs)
	if err != nil {
		return ledger.Options{}, err
	}
	return ledger.Options{Currencies: cs, DefaultLimits: limits, Buckets: slices.Concat(membership.Buckets, gateway.Buckets, govern.Buckets, vouch.Buckets)}, nil
}
