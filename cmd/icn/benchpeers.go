package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/icn-coop/icn/cmd/icn/internal/peerbench"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/devfed"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// The workloads of icn bench peers: three groups (hub and etcd; coop,
// ledger and postgres; crypto and cross), each measured round by round.
var peersWorkloads = []string{"hub", "etcd", "coop", "ledger", "postgres", "crypto", "cross"}

// benchPeersOpts are the flags of `icn bench peers`.
type benchPeersOpts struct {
	duration, warmup, cryptoDur time.Duration
	rounds                      int
	hubClients, coops           int
	coopClients, members        int
	crossClients, crossMembers  int
	etcdBin, pgBin, pgUser      string
	etcdConns                   int
	etcdKeyLocks                bool
	only                        []string
	jsonOut                     bool
	cpuProf                     string
}

func newBenchPeersCmd() *cobra.Command {
	o := &benchPeersOpts{}
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "ICN's workloads beside the same workloads built on etcd and PostgreSQL, and beside the machine's Ed25519 limit, in one run",
		Long: `icn bench peers measures, one after the other on this machine, each ICN
workload and what an engineer would build for it on a well-known system, and
prints their ratios: absolute figures drift between machines and days, ratios
measured in one run hold better. Each system is started once; then the
workload and its peer are measured alternately, --rounds windows each (the
order reversed every other round), so that each ratio compares windows
seconds apart; the table gives the medians and each round's ratio.

  hub       icn bench hub: a 3-node hub cluster in this process, --hub-clients
            clients each proposing a PrepareTransfer then its CommitTransfer.
  etcd      the same transfers on a 3-member etcd cluster on loopback (Debian's
            etcd-server, started from a temporary directory; peers over TLS,
            clients over gRPC from this process): one key per co-op holding
            its position and cap, one per transfer; prepare is one transaction
            that checks and reserves the sender's headroom against its cap,
            commit one that moves both positions, each comparing the revisions
            it read and retrying on a conflict.
  coop      icn bench coop: signed payments through one co-op's HTTP gateway
            (login, JWT, Ed25519 intent, limit check, fsync'd ledger).
  ledger    the co-op node's ledger alone (coopnode/ledger, no gateway): the
            like-for-like counterpart of the PostgreSQL build.
  postgres  the internal payment on PostgreSQL (Debian's, initdb into a
            temporary directory, fsync and synchronous commit on): a READ
            COMMITTED transaction locking both accounts with SELECT … FOR
            UPDATE, checking the payer's limit, writing the payment, two
            postings and both balances.
  crypto    Ed25519 verify and sign rates through the identity package, on one
            core and on all.
  cross     icn bench cross: signed payments between two co-ops through the hub
            cluster, as a fraction of the Ed25519 limit (measured verifications
            per payment, plus 2 signatures: the member's intent and the payee
            co-op's receipt, at the all-core rates).

Every workload checks its result after the run: the hub's and etcd's positions
sum to zero with reservations equal to the transfers still prepared and no cap
exceeded; the ledgers (ICN's, verified entry by entry, and PostgreSQL's) sum to
zero with every balance equal to its postings and no member below its limit.
A failed check is printed and makes the command fail.

PostgreSQL refuses to run as root; as root the server runs as --pg-user (the
user postgres that Debian's package creates) with its temporary directory
handed to it. Install both servers with: make bench-peers-deps
(apt-get install etcd-server postgresql).`,
		Example: `  icn bench peers
  icn bench peers --json                 # the run docs/BENCHMARKS.md records
  icn bench peers --only coop,postgres --rounds 1`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(o.cpuProf, func() error { return o.run(cmd) })
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.rounds, "rounds", 5, "measured windows of each workload, alternating with its peer's (the median of five holds where one of three swings)")
	f.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measured window")
	f.DurationVar(&o.warmup, "warmup", time.Second, "load before each measured window, not counted")
	f.DurationVar(&o.cryptoDur, "crypto-duration", 500*time.Millisecond, "length of each Ed25519 rate measurement (four per round)")
	f.IntVar(&o.hubClients, "hub-clients", 256, "clients of hub and etcd (icn bench hub's default)")
	f.IntVar(&o.coops, "coops", 20, "co-ops of hub and etcd")
	f.IntVar(&o.coopClients, "coop-clients", 32, "clients of coop, ledger and postgres (icn bench coop's default)")
	f.IntVar(&o.members, "members", 8, "members of coop, ledger and postgres")
	f.IntVar(&o.crossClients, "cross-clients", 112, "clients of cross (the run docs/BENCHMARKS.md records)")
	f.IntVar(&o.crossMembers, "cross-members", 16, "members of each co-op of cross")
	f.StringVar(&o.etcdBin, "etcd", "", "etcd server binary (default: etcd on the PATH)")
	f.IntVar(&o.etcdConns, "etcd-conns", 4, "gRPC connections the etcd clients share")
	f.BoolVar(&o.etcdKeyLocks, "etcd-key-locks", true, "serialize the etcd clients' transactions per co-op key in this process (false: optimistic retries alone)")
	f.StringVar(&o.pgBin, "pg-bin", "", "directory of PostgreSQL's initdb and postgres (default: initdb on the PATH, else /usr/lib/postgresql/*/bin)")
	f.StringVar(&o.pgUser, "pg-user", "postgres", "user the PostgreSQL server runs as when icn runs as root")
	f.StringSliceVar(&o.only, "only", nil, "run only these workloads ("+strings.Join(peersWorkloads, ",")+")")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object instead of a table")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of this process (not of the etcd and PostgreSQL servers) to FILE")
	return cmd
}

// peerRun is what a peer workload (etcd, postgres, ledger) measured in one window.
type peerRun struct {
	System        string            `json:"system"`
	Clients       int               `json:"clients"`
	WarmupS       float64           `json:"warmup_s"`
	DurationS     float64           `json:"duration_s"`
	Ops           int               `json:"ops"` // commands (etcd) or payments that succeeded in the window
	OpsPerS       float64           `json:"ops_per_s"`
	P50Ms         float64           `json:"p50_ms"`
	P90Ms         float64           `json:"p90_ms"`
	P99Ms         float64           `json:"p99_ms"`
	MaxMs         float64           `json:"max_ms"`
	MeanMs        float64           `json:"mean_ms"`
	Transfers     int               `json:"transfers,omitempty"`
	TransfersPerS float64           `json:"transfers_per_s,omitempty"`
	TransferP99Ms float64           `json:"transfer_p99_ms,omitempty"`
	Rejected      int               `json:"rejected"`
	Errors        int               `json:"errors"`
	ErrorKinds    map[string]int    `json:"error_kinds,omitempty"`
	ErrorSamples  map[string]string `json:"error_samples,omitempty"`
	// Retries (etcd): optimistic transactions whose comparison failed in
	// the window and its warmup, per command of the window.
	Retries      int64   `json:"retries,omitempty"`
	RetriesPerOp float64 `json:"retries_per_op,omitempty"`
	committed    int     // seen by the clients, warmup and window
}

func newPeerRun(system string, clients int, o *benchPeersOpts, r peerbench.Run) peerRun {
	s, x := summarizeLatencies(r.Lats), summarizeLatencies(r.XferLats)
	p := peerRun{System: system, Clients: clients, WarmupS: o.warmup.Seconds(), DurationS: r.Window.Seconds(),
		Ops: r.Ops, OpsPerS: round2(r.OpsPerS()),
		P50Ms: millis(s.P50), P90Ms: millis(s.P90), P99Ms: millis(s.P99), MaxMs: millis(s.Max), MeanMs: millis(s.Mean),
		Transfers: r.Transfers, TransferP99Ms: millis(x.P99),
		Rejected: r.Rejected, Errors: r.Errors, ErrorKinds: r.ErrorKinds, ErrorSamples: r.ErrorSample, committed: r.Committed}
	if r.Window > 0 {
		p.TransfersPerS = round2(float64(r.Transfers) / r.Window.Seconds())
	}
	return p
}

// peersRow is one line of the table: an ICN workload beside its peer,
// medians over the rounds.
type peersRow struct {
	Workload    string  `json:"workload"`
	Unit        string  `json:"unit"`
	ICNOpsPerS  float64 `json:"icn_ops_per_s"`
	ICNP99Ms    float64 `json:"icn_p99_ms"`
	Peer        string  `json:"peer"`
	PeerOpsPerS float64 `json:"peer_ops_per_s"`
	PeerP99Ms   float64 `json:"peer_p99_ms,omitempty"`
	// Ratio is the median over the rounds of ICN's ops/s over the peer's in
	// the same round (for cross: the fraction of the round's Ed25519
	// limit); Ratios are the rounds' ratios.
	Ratio  float64   `json:"ratio"`
	Ratios []float64 `json:"ratios,omitempty"`
}

// benchPeersResult is what `icn bench peers --json` prints.
type benchPeersResult struct {
	Bench        string     `json:"bench"`
	Started      time.Time  `json:"started"`
	ElapsedS     float64    `json:"elapsed_s"`
	Rounds       int        `json:"rounds"`
	DurationS    float64    `json:"duration_s"`
	WarmupS      float64    `json:"warmup_s"`
	GoVersion    string     `json:"go_version"`
	NumCPU       int        `json:"num_cpu"`
	GOMAXPROCS   int        `json:"gomaxprocs"`
	LoadAvgStart string     `json:"loadavg_start,omitempty"` // /proc/loadavg: 1, 5 and 15 minutes
	LoadAvgEnd   string     `json:"loadavg_end,omitempty"`
	Rows         []peersRow `json:"rows"`
	// Checks maps each workload that ran to "ok" or what its check found.
	Checks map[string]string `json:"checks"`

	// One entry per round.
	Hub      []benchHubResult         `json:"hub,omitempty"`
	Etcd     []peerRun                `json:"etcd,omitempty"`
	Coop     []benchCoopResult        `json:"coop,omitempty"`
	Ledger   []peerRun                `json:"ledger,omitempty"`
	Postgres []peerRun                `json:"postgres,omitempty"`
	Ed25519  []peerbench.Ed25519Rates `json:"ed25519,omitempty"`
	Cross    []benchCoopResult        `json:"cross,omitempty"`
	// Measured over all cross rounds (see icn bench cross); 4 if not measured.
	CrossVerificationsPerPayment float64            `json:"cross_verifications_per_payment,omitempty"`
	CrossVerificationsBy         map[string]float64 `json:"cross_verifications_per_payment_by,omitempty"`
	// CryptoLimits are the cross-co-op payments/s the machine could make in
	// each round doing nothing but their Ed25519 work: the verifications
	// and SignaturesPerPayment at that round's all-core rates.
	CryptoLimitsPerS     []float64 `json:"crypto_limits_per_s,omitempty"`
	SignaturesPerPayment float64   `json:"signatures_per_payment,omitempty"`
}

// crossSignatures are the Ed25519 signatures a cross-co-op payment costs:
// the member signs the intent (coopnode/client), the payee's co-op node
// signs its receipt (routing.SignReceipt). Nothing else on the path signs
// per payment (connections are authenticated once, at their handshake).
const crossSignatures = 2

func (o *benchPeersOpts) validate() error {
	switch {
	case o.duration <= 0:
		return errors.New("--duration must be positive, e.g. 10s")
	case o.warmup < 0:
		return errors.New("--warmup must not be negative")
	case o.rounds < 1:
		return errors.New("--rounds must be at least 1")
	case o.cryptoDur <= 0:
		return errors.New("--crypto-duration must be positive")
	case o.hubClients < 1 || o.coopClients < 1 || o.crossClients < 1:
		return errors.New("--hub-clients, --coop-clients and --cross-clients must be at least 1")
	case o.coops < 2:
		return errors.New("--coops must be at least 2 (transfers go between co-ops)")
	case o.members < 2 || o.crossMembers < 1:
		return errors.New("--members must be at least 2 and --cross-members at least 1")
	case o.etcdConns < 1:
		return errors.New("--etcd-conns must be at least 1")
	}
	for _, w := range o.only {
		if !slices.Contains(peersWorkloads, w) {
			return fmt.Errorf("--only %q: the workloads are %s", w, strings.Join(peersWorkloads, ", "))
		}
	}
	return nil
}

func (o *benchPeersOpts) runs(w string) bool { return len(o.only) == 0 || slices.Contains(o.only, w) }

// peersSide is one system under one workload: started once, measured in
// one window per round, then checked and stopped.
type peersSide struct {
	name   string
	start  func(context.Context) error
	window func(context.Context) error // measures one window and records it
	finish func(context.Context) error // checks the result (stop runs after it)
	stop   func()
}

func (o *benchPeersOpts) run(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	// Find the servers before anything runs, so a missing one fails at once.
	var etcdBin, pgBin string
	var err error
	if o.runs("etcd") {
		if etcdBin, err = peerbench.FindEtcd(o.etcdBin); err != nil {
			return fmt.Errorf("%w (or leave etcd out: --only)", err)
		}
	}
	if o.runs("postgres") {
		if pgBin, err = peerbench.FindPostgres(o.pgBin); err != nil {
			return fmt.Errorf("%w (or leave postgres out: --only)", err)
		}
	}
	logw := cmd.ErrOrStderr()
	ctx, stopSignals := benchContext(cmd)
	defer stopSignals()

	res := &benchPeersResult{Bench: "peers", Started: time.Now().UTC(), Rounds: o.rounds, DurationS: o.duration.Seconds(),
		WarmupS: o.warmup.Seconds(), GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadAvgStart: loadAvg(), Checks: map[string]string{}}
	// The workloads of a group run alternately, round after round, on
	// systems started once: a ratio compares windows minutes apart at most,
	// on a machine whose speed drifts.
	groups := [][]*peersSide{
		{o.hubSide(logw, res), o.etcdSide(logw, etcdBin, res)},
		{o.coopSide(logw, res), o.ledgerSide(logw, res), o.postgresSide(logw, pgBin, res)},
		{o.cryptoSide(logw, res), o.crossSide(logw, res)},
	}
	for _, g := range groups {
		g = slices.DeleteFunc(g, func(s *peersSide) bool { return !o.runs(s.name) })
		if err := o.runGroup(ctx, logw, g, res); err != nil {
			return err
		}
	}
	res.LoadAvgEnd = loadAvg()
	res.ElapsedS = round2(time.Since(res.Started).Seconds())
	res.Rows = peersRows(res)

	out := cmd.OutOrStdout()
	if o.jsonOut {
		err = json.NewEncoder(out).Encode(res)
	} else {
		err = printBenchPeers(out, res)
	}
	if err != nil {
		return err
	}
	var failed []string
	for w, c := range res.Checks {
		if c != "ok" {
			failed = append(failed, w)
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		return fmt.Errorf("bench peers: the check of %s failed (see above)", strings.Join(failed, ", "))
	}
	return nil
}

// runGroup starts the sides, measures them alternately (forwards in even
// rounds, backwards in odd ones, so that a steady drift of the machine
// does not favour one side), then checks and stops them.
func (o *benchPeersOpts) runGroup(ctx context.Context, logw io.Writer, g []*peersSide, res *benchPeersResult) error {
	var started []*peersSide
	defer func() {
		for _, s := range slices.Backward(started) {
			if s.stop != nil {
				s.stop()
			}
		}
	}()
	for _, s := range g {
		fmt.Fprintf(logw, "== %s: starting (load average %s)\n", s.name, loadAvg())
		started = append(started, s)
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("bench peers: %s: %w", s.name, err)
		}
	}
	for round := range o.rounds {
		order := slices.Clone(g)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			fmt.Fprintf(logw, "== %s: round %d of %d (load average %s)\n", s.name, round+1, o.rounds, loadAvg())
			if err := s.window(ctx); err != nil {
				return fmt.Errorf("bench peers: %s: %w", s.name, err)
			}
			if ctx.Err() != nil {
				return errors.New("bench peers: interrupted")
			}
		}
	}
	for _, s := range g {
		if s.finish == nil {
			continue
		}
		if err := s.finish(ctx); err != nil {
			res.Checks[s.name] = err.Error()
			fmt.Fprintf(logw, "%s: CHECK FAILED: %v\n", s.name, err)
		} else {
			res.Checks[s.name] = "ok"
		}
	}
	return nil
}

// loadAvg is the first three fields of /proc/loadavg ("" where there is none).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// tempDir makes a temporary directory and returns its removal.
func tempDir(pattern string) (string, func(), error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func (o *benchPeersOpts) hubSide(logw io.Writer, res *benchPeersResult) *peersSide {
	ho := &benchHubOpts{duration: o.duration, warmup: o.warmup, clients: o.hubClients, coops: o.coops, nodes: 3, ids: "v7"}
	var c *benchCluster
	var coops []identity.DID
	var cleanup []func()
	s := &peersSide{name: "hub", stop: func() {
		for _, f := range slices.Backward(cleanup) {
			f()
		}
	}}
	s.start = func(ctx context.Context) error {
		dir, rm, err := tempDir("icn-bench-hub-")
		if err != nil {
			return err
		}
		cleanup = append(cleanup, rm)
		fmt.Fprintf(logw, "starting a 3-node hub cluster on 127.0.0.1 in %s\n", dir)
		if c, err = startBenchCluster(dir, ho.nodes, 0, 0); err != nil {
			return err
		}
		cleanup = append(cleanup, c.close)
		if err := c.waitLeader(ctx, 30*time.Second); err != nil {
			return err
		}
		coops, err = c.setupCoops(ctx, o.coops)
		return err
	}
	s.window = func(ctx context.Context) error {
		fmt.Fprintf(logw, "%d clients: %s warmup, then %s measured\n", ho.clients, ho.warmup, ho.duration)
		r := ho.measure(ctx, c, coops)
		r.Nodes, r.Coops, r.MaxBatch, r.MaxInflight = ho.nodes, ho.coops, c.maxBatch, c.maxInflight
		r.GoVersion, r.GOMAXPROCS = runtime.Version(), runtime.GOMAXPROCS(0)
		res.Hub = append(res.Hub, r)
		return nil
	}
	s.finish = func(ctx context.Context) error {
		start := time.Now()
		converged, applied := c.converge(ctx, 30*time.Second)
		if n := len(res.Hub); n > 0 { // the last round's result tells
			res.Hub[n-1].Converged, res.Hub[n-1].AppliedIndex, res.Hub[n-1].ConvergeMs = converged, applied, millis(time.Since(start))
		}
		var errs []error
		if !converged {
			errs = append(errs, errors.New("the nodes did not converge on one applied index and state hash"))
		}
		for _, r := range res.Hub {
			if r.Errors > 0 {
				errs = append(errs, fmt.Errorf("%d commands failed: %v", r.Errors, r.ErrorKinds))
			}
		}
		if err := checkHubBook(c, benchHubCap); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	return s
}

func (o *benchPeersOpts) etcdSide(logw io.Writer, bin string, res *benchPeersResult) *peersSide {
	var cleanup []func()
	var st *peerbench.EtcdTransfers
	var system string
	committed := 0
	s := &peersSide{name: "etcd", stop: func() {
		for _, f := range slices.Backward(cleanup) {
			f()
		}
	}}
	s.start = func(ctx context.Context) error {
		dir, rm, err := tempDir("icn-bench-etcd-")
		if err != nil {
			return err
		}
		cleanup = append(cleanup, rm)
		fmt.Fprintf(logw, "starting a 3-member etcd cluster (%s) on 127.0.0.1 in %s\n", bin, dir)
		c, err := peerbench.StartEtcd(ctx, bin, dir, 3)
		if err != nil {
			return err
		}
		cleanup = append(cleanup, c.Close)
		var clis []*clientv3.Client
		for range o.etcdConns {
			cli, err := peerbench.NewEtcdClient(ctx, c.Leader)
			if err != nil {
				return err
			}
			cleanup = append(cleanup, func() { cli.Close() })
			clis = append(clis, cli)
		}
		if st, err = peerbench.NewEtcdTransfers(ctx, clis, o.coops, benchHubCap, peerbench.EtcdOptions{KeyLocks: o.etcdKeyLocks}); err != nil {
			return err
		}
		system = c.Version + ", 3 members, key locks"
		if !o.etcdKeyLocks {
			system = c.Version + ", 3 members, optimistic"
		}
		fmt.Fprintf(logw, "etcd clients on the leader %s over %d connections\n", c.Leader, o.etcdConns)
		return nil
	}
	s.window = func(ctx context.Context) error {
		fmt.Fprintf(logw, "%d clients: %s warmup, then %s measured\n", o.hubClients, o.warmup, o.duration)
		before := st.Retries()
		r := peerbench.RunTransfers(ctx, st, peerbench.TransferOptions{Clients: o.hubClients, Participants: o.coops, Amount: 1,
			Warmup: o.warmup, Duration: o.duration})
		p := newPeerRun(system, o.hubClients, o, r)
		p.Retries = st.Retries() - before
		if r.Ops > 0 {
			p.RetriesPerOp = round2(float64(p.Retries) / float64(r.Ops))
		}
		committed += r.Committed
		res.Etcd = append(res.Etcd, p)
		return nil
	}
	s.finish = func(ctx context.Context) error {
		b, err := st.Book(ctx)
		if err == nil {
			err = peerbench.CheckBook(b, committed)
		}
		return errors.Join(err, runErrors(res.Etcd))
	}
	return s
}

// runErrors reports the windows' failed operations, if any.
func runErrors(runs []peerRun) error {
	var errs []error
	for _, r := range runs {
		if r.Errors > 0 {
			errs = append(errs, fmt.Errorf("%d operations failed: %v", r.Errors, r.ErrorKinds))
		}
	}
	return errors.Join(errs...)
}

// devFedSide is a side on an in-process dev federation: started in a
// temporary directory, its co-op ledgers verified once it has stopped.
func (o *benchPeersOpts) devFedSide(logw io.Writer, name, what string, members, ledgers int,
	start func(context.Context, string, int) (*devfed.Manifest, func(), error),
	setup func(context.Context, *devfed.Manifest, string) error,
	window func(context.Context) (benchCoopResult, error),
	after func(context.Context) error, results *[]benchCoopResult) *peersSide {
	var dir string
	var rm, stopFed func()
	s := &peersSide{name: name, stop: func() {
		if stopFed != nil {
			stopFed()
		}
		if rm != nil {
			rm()
		}
	}}
	s.start = func(ctx context.Context) error {
		var err error
		if dir, rm, err = tempDir("icn-bench-"); err != nil {
			return err
		}
		fmt.Fprintf(logw, "starting %s in %s\n", what, dir)
		m, stop, err := start(ctx, dir, members)
		if err != nil {
			return fmt.Errorf("start %s: %w", what, err)
		}
		stopFed = stop
		return setup(ctx, m, dir)
	}
	s.window = func(ctx context.Context) error {
		r, err := window(ctx)
		if err != nil {
			return err
		}
		*results = append(*results, r)
		return nil
	}
	s.finish = func(ctx context.Context) error {
		var errs []error
		if after != nil {
			errs = append(errs, after(ctx))
		}
		stopFed()
		stopFed = nil
		ok := 0
		for _, r := range *results {
			ok += r.OK
			if r.Errors > 0 {
				errs = append(errs, fmt.Errorf("%d payments failed: %v", r.Errors, r.ErrorKinds))
			}
		}
		errs = append(errs, verifyLedgers(dir, ledgers, ok))
		return errors.Join(errs...)
	}
	return s
}

func (o *benchPeersOpts) coopSide(logw io.Writer, res *benchPeersResult) *peersSide {
	co := &benchCoopOpts{duration: o.duration, warmup: o.warmup, clients: o.coopClients, members: o.members, amount: "0.01"}
	var l *coopLoad
	return o.devFedSide(logw, "coop", fmt.Sprintf("an in-process dev co-op with %d members", o.members), o.members, 1, devfed.StartForBench,
		func(ctx context.Context, m *devfed.Manifest, dir string) (err error) {
			l, err = co.coopSetup(ctx, logw, m, dir)
			return err
		},
		func(ctx context.Context) (benchCoopResult, error) { return co.coopWindow(ctx, logw, l) },
		nil, &res.Coop)
}

func (o *benchPeersOpts) crossSide(logw io.Writer, res *benchPeersResult) *peersSide {
	co := &benchCoopOpts{duration: o.duration, warmup: o.warmup, clients: o.crossClients, members: o.crossMembers, amount: "0.01"}
	var l *crossLoad
	var meter *sigMeter
	var merr error
	return o.devFedSide(logw, "cross", fmt.Sprintf("an in-process dev federation (3 hub nodes, 2 co-ops with %d members each)", o.crossMembers),
		o.crossMembers, 2, devfed.StartCrossForBench,
		func(ctx context.Context, m *devfed.Manifest, dir string) (err error) {
			if l, err = co.crossSetup(ctx, logw, m, dir); err != nil {
				return err
			}
			// The federation is idle now: every verification counted from
			// here on belongs to a payment of the rounds.
			meter, merr = startSigMeter(ctx, m)
			return nil
		},
		func(ctx context.Context) (benchCoopResult, error) { return co.crossWindow(ctx, logw, l) },
		func(ctx context.Context) error {
			var all benchCoopResult
			if merr == nil {
				merr = meter.finish(ctx, &all)
			}
			if merr != nil {
				fmt.Fprintf(logw, "signature verifications not measured (4 per payment assumed): %v\n", merr)
				return nil
			}
			res.CrossVerificationsPerPayment, res.CrossVerificationsBy = all.VerificationsPerPayment, all.VerificationsBy
			return nil
		}, &res.Cross)
}

// verifyLedgers opens the co-op ledgers under dir (at least want of them)
// once their nodes have stopped and runs the ledger's own verification on
// each: the hash chain, postings summing to zero, every balance and hold
// recomputed; each must hold at least the committed payments the clients saw.
func verifyLedgers(dir string, want, committed int) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "ledger.db"))
	if err != nil {
		return err
	}
	if len(paths) < want {
		return fmt.Errorf("found %d co-op ledgers under %s, want %d", len(paths), dir, want)
	}
	var errs []error
	for _, p := range paths {
		s, err := ledger.Open(ledger.Options{Path: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep, err := s.Verify()
		s.Close()
		switch {
		case err != nil:
			errs = append(errs, err)
		case !rep.OK():
			errs = append(errs, fmt.Errorf("%s: %s", p, strings.Join(rep.Mismatches, "; ")))
		case int(rep.Entries) < committed:
			errs = append(errs, fmt.Errorf("%s: %d entries, the clients saw %d payments commit", p, rep.Entries, committed))
		}
	}
	return errors.Join(errs...)
}

// benchLedgerLimit is every member's credit limit in the ledger workloads:
// 1,000.00 hours, as icn bench coop's members are funded.
const benchLedgerLimit = 100000

func (o *benchPeersOpts) paymentOptions() peerbench.PaymentOptions {
	return peerbench.PaymentOptions{Clients: o.coopClients, Members: o.members, Amount: 1, Warmup: o.warmup, Duration: o.duration}
}

// ledgerStoreSide is a side on a peerbench.Ledger.
func (o *benchPeersOpts) ledgerStoreSide(logw io.Writer, name string, open func(context.Context) (peerbench.Ledger, string, error),
	results *[]peerRun, cleanup *[]func()) *peersSide {
	var l peerbench.Ledger
	var system string
	committed := 0
	s := &peersSide{name: name, stop: func() {
		for _, f := range slices.Backward(*cleanup) {
			f()
		}
	}}
	s.start = func(ctx context.Context) (err error) {
		l, system, err = open(ctx)
		return err
	}
	s.window = func(ctx context.Context) error {
		fmt.Fprintf(logw, "%d clients, %d members: %s warmup, then %s measured\n", o.coopClients, o.members, o.warmup, o.duration)
		r := peerbench.RunPayments(ctx, l, o.paymentOptions())
		committed += r.Committed
		*results = append(*results, newPeerRun(system, o.coopClients, o, r))
		return nil
	}
	s.finish = func(ctx context.Context) error {
		st, err := l.State(ctx)
		if err == nil {
			err = peerbench.CheckLedger(st, committed)
		}
		return errors.Join(err, runErrors(*results))
	}
	return s
}

func (o *benchPeersOpts) ledgerSide(logw io.Writer, res *benchPeersResult) *peersSide {
	var cleanup []func()
	return o.ledgerStoreSide(logw, "ledger", func(context.Context) (peerbench.Ledger, string, error) {
		dir, rm, err := tempDir("icn-bench-ledger-")
		if err != nil {
			return nil, "", err
		}
		cleanup = append(cleanup, rm)
		fmt.Fprintf(logw, "opening the co-op ledger alone in %s\n", dir)
		l, err := peerbench.OpenICNLedger(dir, o.members, benchLedgerLimit)
		if err != nil {
			return nil, "", err
		}
		cleanup = append(cleanup, func() { l.Close() })
		return l, "coopnode/ledger (bbolt, fsync'd)", nil
	}, &res.Ledger, &cleanup)
}

func (o *benchPeersOpts) postgresSide(logw io.Writer, bin string, res *benchPeersResult) *peersSide {
	var cleanup []func()
	return o.ledgerStoreSide(logw, "postgres", func(ctx context.Context) (peerbench.Ledger, string, error) {
		dir, rm, err := tempDir("icn-bench-pg-")
		if err != nil {
			return nil, "", err
		}
		cleanup = append(cleanup, rm)
		fmt.Fprintf(logw, "starting PostgreSQL (%s) on 127.0.0.1 in %s\n", bin, dir)
		pg, err := peerbench.StartPostgres(ctx, bin, dir, o.pgUser, o.coopClients)
		if err != nil {
			return nil, "", err
		}
		cleanup = append(cleanup, pg.Close)
		l, err := peerbench.NewPGLedger(ctx, pg.DSN, "bench", o.members, benchLedgerLimit, o.coopClients)
		if err != nil {
			return nil, "", err
		}
		cleanup = append(cleanup, l.Close)
		fmt.Fprintf(logw, "PostgreSQL runs as %s; one connection per client\n", pg.RunAs)
		return l, pg.Version, nil
	}, &res.Postgres, &cleanup)
}

func (o *benchPeersOpts) cryptoSide(logw io.Writer, res *benchPeersResult) *peersSide {
	return &peersSide{name: "crypto",
		start: func(context.Context) error { return nil },
		window: func(ctx context.Context) error {
			fmt.Fprintf(logw, "Ed25519 sign and verify, %s each on one core and on %d\n", o.cryptoDur, runtime.NumCPU())
			r, err := peerbench.MeasureEd25519(ctx, o.cryptoDur, runtime.NumCPU())
			if err != nil {
				return err
			}
			res.Ed25519 = append(res.Ed25519, r)
			return nil
		}}
}

// median of vs (0 if empty).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// peersRows pairs each ICN workload with its peer, round by round; a side
// that did not run (--only) is left at zero, and so is the ratio.
func peersRows(r *benchPeersResult) []peersRow {
	var rows []peersRow
	add := func(row peersRow, icn, icnP99, peer, peerP99 []float64, digits float64) {
		row.ICNOpsPerS, row.ICNP99Ms = round2(median(icn)), median(icnP99)
		row.PeerOpsPerS, row.PeerP99Ms = round2(median(peer)), median(peerP99)
		for i := range min(len(icn), len(peer)) {
			if peer[i] > 0 {
				row.Ratios = append(row.Ratios, float64(int64(icn[i]/peer[i]*digits+0.5))/digits)
			}
		}
		row.Ratio = median(row.Ratios)
		rows = append(rows, row)
	}
	hubOps := func(rs []benchHubResult) (ops, p99 []float64) {
		for _, x := range rs {
			ops, p99 = append(ops, x.OpsPerS), append(p99, x.P99Ms)
		}
		return
	}
	coopOps := func(rs []benchCoopResult) (ops, p99 []float64) {
		for _, x := range rs {
			ops, p99 = append(ops, x.OpsPerS), append(p99, x.P99Ms)
		}
		return
	}
	peerOps := func(rs []peerRun) (ops, p99 []float64) {
		for _, x := range rs {
			ops, p99 = append(ops, x.OpsPerS), append(p99, x.P99Ms)
		}
		return
	}
	pgName := ""
	if len(r.Postgres) > 0 {
		pgName = r.Postgres[0].System
	}
	if len(r.Hub) > 0 || len(r.Etcd) > 0 {
		row := peersRow{Workload: "hub transfers", Unit: "commands/s"}
		if len(r.Hub) > 0 {
			row.Workload = fmt.Sprintf("hub transfers, %d clients", r.Hub[0].Clients)
		}
		if len(r.Etcd) > 0 {
			row.Peer = r.Etcd[0].System
		}
		a, ap := hubOps(r.Hub)
		b, bp := peerOps(r.Etcd)
		add(row, a, ap, b, bp, 100)
	}
	pg, pgp := peerOps(r.Postgres)
	if len(r.Coop) > 0 {
		a, ap := coopOps(r.Coop)
		add(peersRow{Workload: fmt.Sprintf("co-op payments via the gateway, %d clients", r.Coop[0].Clients), Unit: "payments/s", Peer: pgName},
			a, ap, pg, pgp, 100)
	}
	if len(r.Ledger) > 0 || (len(r.Postgres) > 0 && len(r.Coop) == 0) {
		clients := 0
		if len(r.Ledger) > 0 {
			clients = r.Ledger[0].Clients
		} else {
			clients = r.Postgres[0].Clients
		}
		a, ap := peerOps(r.Ledger)
		add(peersRow{Workload: fmt.Sprintf("co-op ledger alone, %d clients", clients), Unit: "payments/s", Peer: pgName}, a, ap, pg, pgp, 100)
	}
	if len(r.Cross) > 0 {
		row := peersRow{Workload: fmt.Sprintf("cross-co-op payments, %d clients", r.Cross[0].Clients), Unit: "payments/s"}
		v := r.CrossVerificationsPerPayment
		if v == 0 {
			v = 4 // not measured: what a payment routed once costs
		}
		r.CryptoLimitsPerS = nil
		for _, e := range r.Ed25519 {
			r.CryptoLimitsPerS = append(r.CryptoLimitsPerS, round2(peerbench.CryptoLimit(e, v, crossSignatures)))
		}
		if len(r.Ed25519) > 0 {
			r.SignaturesPerPayment = crossSignatures
			row.Peer = fmt.Sprintf("Ed25519 limit: %.2f verify + %d sign per payment on %d cores", v, crossSignatures, r.Ed25519[0].Workers)
		}
		a, ap := coopOps(r.Cross)
		add(row, a, ap, r.CryptoLimitsPerS, nil, 1000)
	}
	return rows
}

func printBenchPeers(w io.Writer, r *benchPeersResult) error {
	fmt.Fprintf(w, "icn bench peers: %d CPUs, GOMAXPROCS %d, %s; %d rounds of %gs windows after %gs warmup; load average %s at the start, %s at the end; %.0fs in all\n",
		r.NumCPU, r.GOMAXPROCS, r.GoVersion, r.Rounds, r.DurationS, r.WarmupS, r.LoadAvgStart, r.LoadAvgEnd, r.ElapsedS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tICN\tICN p99\tpeer\tpeer\tpeer p99\tICN / peer\trounds")
	dash := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	for _, row := range r.Rows {
		ratio := dash(row.Ratio, "%.2f×")
		peerP99 := dash(row.PeerP99Ms, "%.1f ms")
		rounds := make([]string, len(row.Ratios))
		for i, x := range row.Ratios {
			rounds[i] = fmt.Sprintf("%.2f", x)
		}
		if strings.HasPrefix(row.Peer, "Ed25519") {
			ratio, peerP99 = dash(100*row.Ratio, "%.1f %% of the limit"), "-"
			for i, x := range row.Ratios {
				rounds[i] = fmt.Sprintf("%.1f %%", 100*x)
			}
		}
		peer := row.Peer
		if peer == "" {
			peer = "(not run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Workload, dash(row.ICNOpsPerS, "%.0f "+row.Unit), dash(row.ICNP99Ms, "%.1f ms"),
			peer, dash(row.PeerOpsPerS, "%.0f "+row.Unit), peerP99, ratio, strings.Join(rounds, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "(medians over the rounds; ICN / peer is the median of the rounds' ratios, each round's ICN window beside its peer window)")
	if len(r.Etcd) > 0 {
		var retries []float64
		for _, e := range r.Etcd {
			retries = append(retries, e.RetriesPerOp)
		}
		fmt.Fprintf(w, "etcd: %.2f retried transactions per command (median over the rounds)\n", median(retries))
	}
	if len(r.Ed25519) > 0 {
		var v, s, v1, s1 []float64
		for _, e := range r.Ed25519 {
			v, s, v1, s1 = append(v, e.VerifyPerS), append(s, e.SignPerS), append(v1, e.VerifyUs1), append(s1, e.SignUs1)
		}
		fmt.Fprintf(w, "Ed25519 (identity package): verify %.0f/s on %d cores (%.1f µs on one), sign %.0f/s (%.1f µs on one), medians\n",
			median(v), r.Ed25519[0].Workers, median(v1), median(s), median(s1))
	}
	names := make([]string, 0, len(r.Checks))
	for w := range r.Checks {
		names = append(names, w)
	}
	slices.SortFunc(names, func(a, b string) int { return slices.Index(peersWorkloads, a) - slices.Index(peersWorkloads, b) })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + r.Checks[n]
	}
	_, err := fmt.Fprintf(w, "checks: %s\n", strings.Join(parts, ", "))
	return err
}

// checkHubBook reads the leader's positions (as its CreditPolicy reads
// give them) and pending transfers after the run and checks them as the
// peers' books are checked.
func checkHubBook(c *benchCluster, cap int64) error {
	f := c.leader.Load().FSM()
	var dids []identity.DID
	for _, p := range f.Participants() {
		if p.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_COOP {
			dids = append(dids, identity.DID(p.GetDid()))
		}
	}
	index := map[identity.DID]int{}
	b := peerbench.Book{Prepared: map[int]int64{}}
	units := func(s string) (int64, error) {
		a, err := money.Parse(s, money.Hours)
		return a.Units(), err
	}
	for i, d := range dids {
		index[d] = i
		pols, err := f.CreditPolicies(d)
		if err != nil {
			return fmt.Errorf("hub: positions of %s: %w", d, err)
		}
		var p peerbench.Position
		for _, pol := range pols {
			if pol.GetCurrency() != money.Hours.Code {
				continue
			}
			var errs [4]error
			p.Sent, errs[0] = units(pol.GetSent())
			p.Received, errs[1] = units(pol.GetReceived())
			p.Reserved, errs[2] = units(pol.GetReserved())
			p.Cap, errs[3] = units(pol.GetEffectiveCap())
			if err := errors.Join(errs[:]...); err != nil {
				return fmt.Errorf("hub: position of %s: %w", d, err)
			}
		}
		if p.Cap > cap {
			return fmt.Errorf("hub: %s has a cap of %d, the bench set %d", d, p.Cap, cap)
		}
		b.Positions = append(b.Positions, p)
		b.CommittedUnits += p.Sent
	}
	for _, t := range f.Pending() {
		i, ok := index[identity.DID(t.GetFrom())]
		if !ok {
			return fmt.Errorf("hub: pending transfer %s from %s, not a bench co-op", t.GetId(), t.GetFrom())
		}
		b.Prepared[i] += t.GetAmountUnits()
	}
	// Every bench transfer moves one unit: the units sent are the commits.
	b.Committed = int(b.CommittedUnits)
	return peerbench.CheckBook(b, 0)
}
