package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/devfed"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/money"
)

// walletOpts holds the flags shared by every `icn wallet` subcommand.
type walletOpts struct {
	gateway string
	coop    string
	keyFile string
	dev     string
	output  string
}

func newWalletCmd() *cobra.Command {
	o := &walletOpts{}
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Act as a member through a co-op's wallet gateway: log in, pay, balance, history, events, admit members, govern",
		Long: `icn wallet talks to a co-op node's wallet gateway as a member app does.
Every invocation logs in with the key file (challenge/response) before it acts;
no token is stored on disk.

Point it at a gateway with --gateway URL --coop ID --key FILE, or at a running
"icn dev" with --dev DIR (gateway and co-op come from DIR/dev.json; without
--key the co-op's first member is used).`,
		Example: `  icn wallet login   --dev ./icn-dev
  icn wallet pay     --dev ./icn-dev --key ./icn-dev/coop-a/keys/alice.key --to did:icn:... --amount 2.50
  icn wallet balance --gateway http://127.0.0.1:8080 --coop coop-a --key alice.key
  icn wallet watch   --dev ./icn-dev --since 0
  icn wallet invite  --gateway http://127.0.0.1:8080 --coop coop-a --key admin.key
  icn wallet apply   --gateway http://127.0.0.1:8080 --coop coop-a --key new.key --invite CODE --name Ann --email ann@example.org
  icn wallet approve APPLICATION_ID --gateway http://127.0.0.1:8080 --coop coop-a --key admin.key`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.gateway, "gateway", "", "wallet gateway URL, e.g. http://127.0.0.1:8080 (required unless --dev)")
	pf.StringVar(&o.coop, "coop", "", "co-op id (required unless --dev)")
	pf.StringVar(&o.keyFile, "key", "", "member key file, as written by icn keygen (required unless --dev)")
	pf.StringVar(&o.dev, "dev", "", "data directory (or dev.json) of a running icn dev: fills --gateway and --coop")
	pf.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	cmd.AddCommand(o.loginCmd(), o.payCmd(), o.balanceCmd(), o.historyCmd(), o.watchCmd(),
		o.inviteCmd(), o.applyCmd(), o.approveCmd(), o.revokeCmd(), o.paymentCmd(), o.rolesCmd())
	cmd.AddCommand(o.governanceCmds()...)
	cmd.AddCommand(o.trustCmds()...)
	return cmd
}

// walletTarget is what the shared flags resolve to.
type walletTarget struct {
	gateway  string
	coop     string
	currency string // the dev federation's currency, or money.Hours
	key      *identity.Key
	keyFile  string
	client   *client.Client
}

// resolve checks the shared flags and loads the key and (with --dev) the manifest.
func (o *walletOpts) resolve(stderr io.Writer) (*walletTarget, error) {
	if o.output != "table" && o.output != "json" {
		return nil, fmt.Errorf("--output must be table or json, not %q", o.output)
	}
	t := &walletTarget{gateway: o.gateway, coop: o.coop, currency: money.Hours.Code, keyFile: o.keyFile}
	if o.dev != "" {
		if err := o.fromManifest(t, stderr); err != nil {
			return nil, err
		}
	} else {
		switch {
		case t.gateway == "":
			return nil, errors.New("--gateway is required: pass the co-op node's wallet gateway URL (e.g. http://127.0.0.1:8080), or --dev DIR to use a running icn dev")
		case t.coop == "":
			return nil, errors.New("--coop is required: pass the id of the co-op the gateway serves, or --dev DIR to use a running icn dev")
		case t.keyFile == "":
			return nil, errors.New("--key is required: pass the key file written by icn keygen")
		}
	}
	if err := checkGatewayURL(t.gateway); err != nil {
		return nil, err
	}
	if t.key == nil {
		k, err := keyfile.Read(t.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		t.key = k
	}
	t.client = client.New(t.gateway, client.WithUserAgent("icn-wallet"))
	return t, nil
}

// fromManifest fills t from dev.json: the co-op named by --coop, else the one
// the key belongs to, else the first; the key defaults to that co-op's first member.
func (o *walletOpts) fromManifest(t *walletTarget, stderr io.Writer) error {
	m, dir, err := loadDevManifest(o.dev)
	if err != nil {
		return err
	}
	if m.Currency != "" {
		t.currency = m.Currency
	}
	var coop *devfed.ManifestCoop
	if t.keyFile != "" {
		k, err := keyfile.Read(t.keyFile)
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		t.key = k
	}
	switch {
	case t.coop != "":
		if coop = findCoop(m, t.coop); coop == nil {
			return fmt.Errorf("--coop %s: no such co-op in %s (it has %s)", t.coop, o.dev, coopIDs(m))
		}
	case t.key != nil:
		coop = coopOfMember(m, t.key.DID())
	}
	if coop == nil {
		coop = &m.Coops[0]
	}
	t.coop = coop.ID
	if t.gateway == "" {
		t.gateway = coop.GatewayURL
	}
	if t.key == nil {
		mem := coop.Admin
		if len(coop.Members) > 0 {
			mem = coop.Members[0]
		}
		if mem.KeyFile == "" {
			return fmt.Errorf("--key is required: dev.json names no member key file for co-op %s", coop.ID)
		}
		t.keyFile = resolveKeyPath(dir, mem.KeyFile)
		k, err := keyfile.Read(t.keyFile)
		if err != nil {
			return fmt.Errorf("member %s of %s from dev.json: %w", mem.Name, coop.ID, err)
		}
		t.key = k
		fmt.Fprintf(stderr, "using member %s of %s (%s); pass --key to choose another\n", mem.Name, coop.ID, t.keyFile)
	}
	return nil
}

// loadDevManifest reads dev.json from a data directory or file and returns it
// with the directory relative key-file paths are resolved against.
func loadDevManifest(path string) (*devfed.Manifest, string, error) {
	m, err := devfed.LoadManifest(path)
	if err != nil {
		return nil, "", fmt.Errorf("--dev %s: %w (pass the data directory of a running icn dev)", path, err)
	}
	if len(m.Coops) == 0 {
		return nil, "", fmt.Errorf("--dev %s: dev.json lists no co-ops", path)
	}
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	return m, dir, nil
}

// resolveKeyPath makes a relative key-file path from dev.json relative to its directory.
func resolveKeyPath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	if joined := filepath.Join(dir, p); fileExists(joined) || !fileExists(p) {
		return joined
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func findCoop(m *devfed.Manifest, id string) *devfed.ManifestCoop {
	for i := range m.Coops {
		if m.Coops[i].ID == id {
			return &m.Coops[i]
		}
	}
	return nil
}

func coopOfMember(m *devfed.Manifest, did identity.DID) *devfed.ManifestCoop {
	for i := range m.Coops {
		c := &m.Coops[i]
		if c.Admin.DID == did {
			return c
		}
		for _, mem := range c.Members {
			if mem.DID == did {
				return c
			}
		}
	}
	return nil
}

func coopIDs(m *devfed.Manifest) string {
	ids := make([]string, len(m.Coops))
	for i, c := range m.Coops {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

func checkGatewayURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--gateway %q: want an http:// or https:// URL such as http://127.0.0.1:8080", s)
	}
	return nil
}

// login opens a session for the target.
func (t *walletTarget) login(ctx context.Context) (*client.Session, error) {
	s, err := t.client.Login(ctx, t.key, t.coop)
	if err != nil {
		return nil, fmt.Errorf("log in to co-op %s at %s as %s: %w", t.coop, t.gateway, t.key.DID(), err)
	}
	return s, nil
}

// run resolves the target, logs in and calls fn with a context cancelled by Ctrl-C.
func (o *walletOpts) run(cmd *cobra.Command, fn func(ctx context.Context, t *walletTarget, s *client.Session) error) error {
	t, err := o.resolve(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := t.login(ctx)
	if err != nil {
		return err
	}
	return fn(ctx, t, s)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// kv prints aligned "key  value" rows.
func kv(w io.Writer, rows ...[2]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func leaf(use, short string, run func(cmd *cobra.Command) error) *cobra.Command {
	return &cobra.Command{
		Use:          use,
		Short:        short,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE:         func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
}

func (o *walletOpts) loginCmd() *cobra.Command {
	var showToken bool
	cmd := leaf("login", "Log in and show the roles and token expiry the gateway grants", func(cmd *cobra.Command) error {
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			out := cmd.OutOrStdout()
			exp := s.ExpiresAt()
			if o.output == "json" {
				v := struct {
					DID       identity.DID `json:"did"`
					Coop      string       `json:"coop"`
					Gateway   string       `json:"gateway"`
					Roles     []string     `json:"roles"`
					ExpiresAt string       `json:"expires_at,omitempty"`
					Token     string       `json:"token,omitempty"`
				}{DID: s.DID(), Coop: t.coop, Gateway: t.gateway, Roles: s.Roles()}
				if !exp.IsZero() {
					v.ExpiresAt = client.FormatTime(exp)
				}
				if showToken {
					v.Token = s.Token()
				}
				return printJSON(out, v)
			}
			roles := strings.Join(s.Roles(), ", ")
			if roles == "" {
				roles = "(none: not a member of this co-op; it may apply)"
			}
			expires := "(not given)"
			if !exp.IsZero() {
				expires = fmt.Sprintf("%s (in %s)", client.FormatTime(exp), time.Until(exp).Round(time.Second))
			}
			rows := [][2]string{{"did", string(s.DID())}, {"coop", t.coop}, {"gateway", t.gateway}, {"roles", roles}, {"token expires", expires}}
			if showToken {
				rows = append(rows, [2]string{"token", s.Token()})
			}
			return kv(out, rows...)
		})
	})
	cmd.Flags().BoolVar(&showToken, "show-token", false, "also print the bearer token (a secret: for scripts and curl)")
	return cmd
}

func (o *walletOpts) payCmd() *cobra.Command {
	var to, amount, toCoop, currency, memo, id string
	var ttl time.Duration
	cmd := leaf("pay", "Sign a payment intent and send it", func(cmd *cobra.Command) error {
		if to == "" {
			return errors.New("--to is required: pass the payee's DID (did:icn:...)")
		}
		if _, _, err := identity.ParseDID(to); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		if amount == "" {
			return errors.New(`--amount is required: a positive decimal such as 2.50`)
		}
		if ttl <= 0 {
			return errors.New("--expires-in must be positive, e.g. 5m")
		}
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			cur := currency
			if cur == "" {
				cur = t.currency
			}
			// Check amounts of known currencies here for a clearer message;
			// the gateway checks again and knows currencies this binary may not.
			if c, err := money.DefaultCurrencies().Lookup(cur); err == nil {
				if _, err := money.ParsePayment(amount, c); err != nil {
					return fmt.Errorf("--amount: %w (%s has %d decimal places)", err, c.Code, c.Scale)
				}
			}
			now := time.Now()
			intent := client.PaymentIntent{
				ID: id, From: s.DID(), To: identity.DID(to), ToCoop: toCoop, Amount: amount, Currency: cur, Memo: memo,
				CreatedAt: client.FormatTime(now), ExpiresAt: client.FormatTime(now.Add(ttl)),
			}
			if intent.ID == "" {
				intent.ID = client.NewPaymentID()
			}
			if intent.ToCoop == "" {
				intent.ToCoop = t.coop
			}
			res, err := s.Pay(ctx, intent, t.key)
			if err != nil {
				var ae *client.APIError
				if errors.As(err, &ae) && ae.Status < 500 {
					return err // a definite refusal: nothing moved
				}
				return fmt.Errorf("%w\nthe outcome is unknown: check with the same --id %s (resending it never pays twice)", err, intent.ID)
			}
			out := cmd.OutOrStdout()
			if o.output == "json" {
				if err := printJSON(out, res); err != nil {
					return err
				}
			} else {
				rows := [][2]string{{"payment", res.ID}, {"status", res.Status}}
				if res.Reason != "" {
					rows = append(rows, [2]string{"reason", res.Reason})
				}
				if res.EntryHash != "" {
					rows = append(rows, [2]string{"entry hash", res.EntryHash})
				}
				if err := kv(out, rows...); err != nil {
					return err
				}
			}
			if res.Status == client.StatusRejected {
				return fmt.Errorf("payment %s rejected: %s", res.ID, res.Reason)
			}
			return nil
		})
	})
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "payee DID (required)")
	f.StringVar(&amount, "amount", "", "amount as a decimal string, e.g. 2.50 (required)")
	f.StringVar(&toCoop, "to-coop", "", "payee's co-op id (default: this co-op, an internal payment)")
	f.StringVar(&currency, "currency", "", "currency code (default: the dev federation's currency, else hours)")
	f.StringVar(&memo, "memo", "", "memo shown to both parties")
	f.StringVar(&id, "id", "", "payment id (default: a new UUIDv7); reuse one to retry a payment safely")
	f.DurationVar(&ttl, "expires-in", 5*time.Minute, "how long the signed intent stays valid")
	return cmd
}

func (o *walletOpts) balanceCmd() *cobra.Command {
	var did, currency string
	cmd := leaf("balance", "Show a balance (your own unless --did)", func(cmd *cobra.Command) error {
		if err := checkDIDFlag(did); err != nil {
			return err
		}
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			who := didOr(did, s.DID())
			cur := currency
			if cur == "" {
				cur = t.currency
			}
			b, err := s.Balance(ctx, t.coop, who, cur)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return printJSON(cmd.OutOrStdout(), b)
			}
			return kv(cmd.OutOrStdout(),
				[2]string{"did", string(b.DID)}, [2]string{"currency", b.Currency}, [2]string{"balance", b.Balance},
				[2]string{"available", b.Available}, [2]string{"credit limit", b.CreditLimit})
		})
	})
	cmd.Flags().StringVar(&did, "did", "", "whose balance (default: yours; moderators and treasurers may read anyone's)")
	cmd.Flags().StringVar(&currency, "currency", "", "currency code (default: the dev federation's currency, else hours)")
	return cmd
}

func (o *walletOpts) historyCmd() *cobra.Command {
	var did, before string
	var limit int
	cmd := leaf("history", "List payments, newest first", func(cmd *cobra.Command) error {
		if limit < 1 {
			return errors.New("--limit must be at least 1")
		}
		if err := checkDIDFlag(did); err != nil {
			return err
		}
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			who := didOr(did, s.DID())
			h, err := s.History(ctx, t.coop, who, limit, before)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.output == "json" {
				return printJSON(out, h)
			}
			return printHistory(out, who, h)
		})
	})
	cmd.Flags().StringVar(&did, "did", "", "whose history (default: yours; moderators and treasurers may read anyone's)")
	cmd.Flags().IntVar(&limit, "limit", 50, "entries per page")
	cmd.Flags().StringVar(&before, "before", "", "cursor from a previous page's \"next\", to read older entries")
	return cmd
}

// printHistory prints entries as a table, amounts signed from who's side.
func printHistory(w io.Writer, who identity.DID, h *client.History) error {
	if len(h.Entries) == 0 {
		fmt.Fprintln(w, "no payments")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tAMOUNT\tCURRENCY\tCOUNTERPARTY\tSTATUS\tMEMO\tID")
	for _, e := range h.Entries {
		amount, other := e.Amount, e.To
		switch {
		case e.From == who && e.To == who:
		case e.From == who:
			amount = "-" + e.Amount
		default:
			amount, other = "+"+e.Amount, e.From
		}
		cp := other.Short()
		if coop := counterpartyCoop(e, who); coop != "" {
			cp += " @" + coop
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.CreatedAt, amount, e.Currency, cp, e.Status, oneLine(e.Memo), e.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if h.Next != "" {
		fmt.Fprintf(w, "more: --before %s\n", h.Next)
	}
	return nil
}

func counterpartyCoop(e client.HistoryEntry, who identity.DID) string {
	if e.FromCoop == e.ToCoop {
		return ""
	}
	if e.From == who {
		return e.ToCoop
	}
	return e.FromCoop
}

// oneLine puts s on one line and shortens it to 40 characters.
func oneLine(s string) string { return clip(s, 40) }

// clip puts s on one line and shortens it to n characters.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

func (o *walletOpts) watchCmd() *cobra.Command {
	var since uint64
	var coopFeed bool
	cmd := leaf("watch", "Stream events as JSON lines until Ctrl-C", func(cmd *cobra.Command) error {
		return o.run(cmd, func(ctx context.Context, t *walletTarget, s *client.Session) error {
			if coopFeed && !s.HasRole(client.RoleModerator) && !s.HasRole(client.RoleTreasurer) {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: --coop-feed needs role moderator or treasurer; this session has %v\n", s.Roles())
			}
			events, errs := s.Watch(ctx, t.coop, since, coopFeed)
			enc := json.NewEncoder(cmd.OutOrStdout())
			last := since
			for ev := range events {
				if err := enc.Encode(ev); err != nil {
					return err
				}
				last = ev.Seq
			}
			err := <-errs
			var gap *client.GapError
			var refused *client.APIError
			switch {
			case err == nil:
				fmt.Fprintf(cmd.ErrOrStderr(), "the gateway closed the feed after seq %d; resume with --since %d\n", last, last)
				return nil
			case errors.Is(err, context.Canceled) && ctx.Err() != nil:
				return nil // Ctrl-C
			case errors.As(err, &refused):
				return err
			case errors.As(err, &gap):
				return fmt.Errorf("%w\nevents were lost or repeated; resume with --since %d to replay from there", err, gap.After)
			}
			return fmt.Errorf("%w\n(last event seq %d; resume with --since %d)", err, last, last)
		})
	})
	cmd.Flags().Uint64Var(&since, "since", 0, "replay events after this sequence number first (0: from the start)")
	cmd.Flags().BoolVar(&coopFeed, "coop-feed", false, "the whole co-op's feed (roles moderator, treasurer) instead of your own")
	return cmd
}

// checkDIDFlag validates an optional --did flag.
func checkDIDFlag(did string) error {
	if did == "" {
		return nil
	}
	if _, _, err := identity.ParseDID(did); err != nil {
		return fmt.Errorf("--did: %w", err)
	}
	return nil
}

// didOr returns the --did flag's DID, or self when the flag is empty.
func didOr(did string, self identity.DID) identity.DID {
	if did == "" {
		return self
	}
	return identity.DID(did)
}
