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

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/devfed"
	"github.com/icn-coop/icn/internal/peerbench"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// The workloads of icn bench peers, in the order they run.
var peersWorkloads = []string{"hub", "etcd", "coop", "ledger", "postgres", "crypto", "cross"}

// benchPeersOpts are the flags of `icn bench peers`.
type benchPeersOpts struct {
	duration, warmup, cryptoDur time.Duration
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
measured in one run hold better.

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
  icn bench peers --duration 10s --json
  icn bench peers --only coop,postgres --duration 5s`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(o.cpuProf, func() error { return o.run(cmd) })
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 10*time.Second, "measured window of each workload")
	f.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before each measured window, not counted")
	f.DurationVar(&o.cryptoDur, "crypto-duration", time.Second, "length of each Ed25519 rate measurement (four of them)")
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

// peerRun is what a peer workload (etcd, postgres, ledger) measured.
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
	// Retries (etcd): optimistic transactions whose comparison failed, per
	// command that succeeded (in the whole run, warmup included).
	Retries      int64   `json:"retries,omitempty"`
	RetriesPerOp float64 `json:"retries_per_op,omitempty"`
}

func newPeerRun(system string, clients int, o *benchPeersOpts, r peerbench.Run) *peerRun {
	s, x := summarizeLatencies(r.Lats), summarizeLatencies(r.XferLats)
	p := &peerRun{System: system, Clients: clients, WarmupS: o.warmup.Seconds(), DurationS: r.Window.Seconds(),
		Ops: r.Ops, OpsPerS: round2(r.OpsPerS()),
		P50Ms: millis(s.P50), P90Ms: millis(s.P90), P99Ms: millis(s.P99), MaxMs: millis(s.Max), MeanMs: millis(s.Mean),
		Transfers: r.Transfers, TransferP99Ms: millis(x.P99),
		Rejected: r.Rejected, Errors: r.Errors, ErrorKinds: r.ErrorKinds, ErrorSamples: r.ErrorSample}
	if r.Window > 0 {
		p.TransfersPerS = round2(float64(r.Transfers) / r.Window.Seconds())
	}
	return p
}

// peersRow is one line of the table: an ICN workload beside its peer.
type peersRow struct {
	Workload    string  `json:"workload"`
	Unit        string  `json:"unit"`
	ICNOpsPerS  float64 `json:"icn_ops_per_s"`
	ICNP99Ms    float64 `json:"icn_p99_ms"`
	Peer        string  `json:"peer"`
	PeerOpsPerS float64 `json:"peer_ops_per_s"`
	PeerP99Ms   float64 `json:"peer_p99_ms,omitempty"`
	// Ratio is ICN's ops/s over the peer's (for cross: the fraction of the
	// Ed25519 limit).
	Ratio float64 `json:"ratio"`
}

// benchPeersResult is what `icn bench peers --json` prints.
type benchPeersResult struct {
	Bench        string     `json:"bench"`
	Started      time.Time  `json:"started"`
	ElapsedS     float64    `json:"elapsed_s"`
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

	Hub      *benchHubResult         `json:"hub,omitempty"`
	Etcd     *peerRun                `json:"etcd,omitempty"`
	Coop     *benchCoopResult        `json:"coop,omitempty"`
	Ledger   *peerRun                `json:"ledger,omitempty"`
	Postgres *peerRun                `json:"postgres,omitempty"`
	Ed25519  *peerbench.Ed25519Rates `json:"ed25519,omitempty"`
	Cross    *benchCoopResult        `json:"cross,omitempty"`
	// CryptoLimit is the cross-co-op payments/s the machine could make
	// doing nothing but their Ed25519 work: SignaturesPerPayment and the
	// measured verifications per payment at the all-core rates.
	CryptoLimitPerS      float64 `json:"crypto_limit_per_s,omitempty"`
	SignaturesPerPayment float64 `json:"signatures_per_payment,omitempty"`
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

	res := &benchPeersResult{Bench: "peers", Started: time.Now().UTC(), DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(),
		GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadAvgStart: loadAvg(), Checks: map[string]string{}}
	check := func(w string, err error) {
		if err != nil {
			res.Checks[w] = err.Error()
			fmt.Fprintf(logw, "%s: CHECK FAILED: %v\n", w, err)
		} else {
			res.Checks[w] = "ok"
		}
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"hub", func() error { return o.hub(ctx, logw, res, check) }},
		{"etcd", func() error { return o.etcd(ctx, logw, etcdBin, res, check) }},
		{"coop", func() error { return o.coop(ctx, logw, res, check) }},
		{"ledger", func() error { return o.ledger(ctx, logw, res, check) }},
		{"postgres", func() error { return o.postgres(ctx, logw, pgBin, res, check) }},
		{"crypto", func() error { return o.crypto(ctx, logw, res) }},
		{"cross", func() error { return o.cross(ctx, logw, res, check) }},
	}
	for _, s := range steps {
		if !o.runs(s.name) {
			continue
		}
		fmt.Fprintf(logw, "== %s (load average %s)\n", s.name, loadAvg())
		if err := s.fn(); err != nil {
			return fmt.Errorf("bench peers: %s: %w", s.name, err)
		}
		if ctx.Err() != nil {
			return errors.New("bench peers: interrupted")
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

func (o *benchPeersOpts) hub(ctx context.Context, logw io.Writer, res *benchPeersResult, check func(string, error)) error {
	ho := &benchHubOpts{duration: o.duration, warmup: o.warmup, clients: o.hubClients, coops: o.coops, nodes: 3, ids: "v7"}
	var checkErr error
	r, err := ho.result(ctx, logw, func(c *benchCluster) error { checkErr = checkHubBook(c, benchHubCap); return nil })
	if err != nil {
		return err
	}
	if !r.Converged && checkErr == nil {
		checkErr = errors.New("the nodes did not converge on one applied index and state hash")
	}
	if checkErr == nil && r.Errors > 0 {
		checkErr = fmt.Errorf("%d commands failed: %v", r.Errors, r.ErrorKinds)
	}
	check("hub", checkErr)
	res.Hub = &r
	return nil
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

func (o *benchPeersOpts) etcd(ctx context.Context, logw io.Writer, bin string, res *benchPeersResult, check func(string, error)) error {
	dir, err := os.MkdirTemp("", "icn-bench-etcd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(logw, "starting a 3-member etcd cluster (%s) on 127.0.0.1 in %s\n", bin, dir)
	c, err := peerbench.StartEtcd(ctx, bin, dir, 3)
	if err != nil {
		return err
	}
	defer c.Close()
	var clis []*clientv3.Client
	defer func() {
		for _, cli := range clis {
			cli.Close()
		}
	}()
	for range o.etcdConns {
		cli, err := peerbench.NewEtcdClient(ctx, c.Leader)
		if err != nil {
			return err
		}
		clis = append(clis, cli)
	}
	s, err := peerbench.NewEtcdTransfers(ctx, clis, o.coops, benchHubCap, peerbench.EtcdOptions{KeyLocks: o.etcdKeyLocks})
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "%d clients on the leader %s (%d connections): %s warmup, then %s measured\n", o.hubClients, c.Leader, o.etcdConns, o.warmup, o.duration)
	r := peerbench.RunTransfers(ctx, s, peerbench.TransferOptions{Clients: o.hubClients, Participants: o.coops, Amount: 1,
		Warmup: o.warmup, Duration: o.duration})
	system := c.Version + ", 3 members, key locks"
	if !o.etcdKeyLocks {
		system = c.Version + ", 3 members, optimistic"
	}
	p := newPeerRun(system, o.hubClients, o, r)
	p.Retries = s.Retries()
	if r.Committed > 0 {
		p.RetriesPerOp = round2(float64(p.Retries) / float64(2*r.Committed))
	}
	res.Etcd = p
	b, err := s.Book(ctx)
	if err == nil {
		err = peerbench.CheckBook(b, r.Committed)
	}
	if err == nil && r.Errors > 0 {
		err = fmt.Errorf("%d commands failed: %v", r.Errors, r.ErrorKinds)
	}
	check("etcd", err)
	return nil
}

func (o *benchPeersOpts) coop(ctx context.Context, logw io.Writer, res *benchPeersResult, check func(string, error)) error {
	co := &benchCoopOpts{duration: o.duration, warmup: o.warmup, clients: o.coopClients, members: o.members, amount: "0.01"}
	r, err := withDevFed(ctx, logw, fmt.Sprintf("an in-process dev co-op with %d members", o.members), o.members, devfed.StartForBench,
		co.coopResult, func(dir string, r benchCoopResult) error { return verifyLedgers(dir, 1, r.OK) })
	if err != nil {
		return err
	}
	res.Coop = &r.res
	check("coop", r.checkErr)
	return nil
}

func (o *benchPeersOpts) cross(ctx context.Context, logw io.Writer, res *benchPeersResult, check func(string, error)) error {
	co := &benchCoopOpts{duration: o.duration, warmup: o.warmup, clients: o.crossClients, members: o.crossMembers, amount: "0.01"}
	r, err := withDevFed(ctx, logw, fmt.Sprintf("an in-process dev federation (3 hub nodes, 2 co-ops with %d members each)", o.crossMembers),
		o.crossMembers, devfed.StartCrossForBench, co.crossResult, func(dir string, r benchCoopResult) error { return verifyLedgers(dir, 2, r.OK) })
	if err != nil {
		return err
	}
	res.Cross = &r.res
	check("cross", r.checkErr)
	return nil
}

type devFedRun struct {
	res      benchCoopResult
	checkErr error
}

// withDevFed starts a dev federation in a temporary directory, measures it
// with measure, stops it, and runs check on its directory before removing it.
func withDevFed(ctx context.Context, logw io.Writer, what string, members int,
	start func(context.Context, string, int) (*devfed.Manifest, func(), error),
	measure func(context.Context, io.Writer, *devfed.Manifest, string) (benchCoopResult, error),
	check func(string, benchCoopResult) error) (devFedRun, error) {
	dir, err := os.MkdirTemp("", "icn-bench-")
	if err != nil {
		return devFedRun{}, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(logw, "starting %s in %s\n", what, dir)
	m, stop, err := start(ctx, dir, members)
	if err != nil {
		return devFedRun{}, fmt.Errorf("start %s: %w", what, err)
	}
	r, err := measure(ctx, logw, m, dir)
	stop()
	if err != nil {
		return devFedRun{}, err
	}
	out := devFedRun{res: r, checkErr: check(dir, r)}
	if out.checkErr == nil && r.Errors > 0 {
		out.checkErr = fmt.Errorf("%d payments failed: %v", r.Errors, r.ErrorKinds)
	}
	return out, nil
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

func (o *benchPeersOpts) ledger(ctx context.Context, logw io.Writer, res *benchPeersResult, check func(string, error)) error {
	dir, err := os.MkdirTemp("", "icn-bench-ledger-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := peerbench.OpenICNLedger(dir, o.members, benchLedgerLimit)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(logw, "%d clients on the co-op ledger alone (%d members, %s): %s warmup, then %s measured\n", o.coopClients, o.members, dir, o.warmup, o.duration)
	r := peerbench.RunPayments(ctx, l, o.paymentOptions())
	res.Ledger = newPeerRun("coopnode/ledger (bbolt, fsync'd)", o.coopClients, o, r)
	s, err := l.State(ctx)
	if err == nil {
		err = peerbench.CheckLedger(s, r.Committed)
	}
	if err == nil && r.Errors > 0 {
		err = fmt.Errorf("%d payments failed: %v", r.Errors, r.ErrorKinds)
	}
	check("ledger", err)
	return nil
}

// benchLedgerLimit is every member's credit limit in the ledger workloads:
// 1,000.00 hours, as icn bench coop's members are funded.
const benchLedgerLimit = 100000

func (o *benchPeersOpts) paymentOptions() peerbench.PaymentOptions {
	return peerbench.PaymentOptions{Clients: o.coopClients, Members: o.members, Amount: 1, Warmup: o.warmup, Duration: o.duration}
}

func (o *benchPeersOpts) postgres(ctx context.Context, logw io.Writer, bin string, res *benchPeersResult, check func(string, error)) error {
	dir, err := os.MkdirTemp("", "icn-bench-pg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(logw, "starting PostgreSQL (%s) on 127.0.0.1 in %s\n", bin, dir)
	pg, err := peerbench.StartPostgres(ctx, bin, dir, o.pgUser, o.coopClients)
	if err != nil {
		return err
	}
	defer pg.Close()
	l, err := peerbench.NewPGLedger(ctx, pg.DSN, "bench", o.members, benchLedgerLimit, o.coopClients)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(logw, "%d clients (one connection each, server as %s): %s warmup, then %s measured\n", o.coopClients, pg.RunAs, o.warmup, o.duration)
	r := peerbench.RunPayments(ctx, l, o.paymentOptions())
	res.Postgres = newPeerRun(pg.Version, o.coopClients, o, r)
	s, err := l.State(ctx)
	if err == nil {
		err = peerbench.CheckLedger(s, r.Committed)
	}
	if err == nil && r.Errors > 0 {
		err = fmt.Errorf("%d payments failed: %v", r.Errors, r.ErrorKinds)
	}
	check("postgres", err)
	return nil
}

func (o *benchPeersOpts) crypto(ctx context.Context, logw io.Writer, res *benchPeersResult) error {
	fmt.Fprintf(logw, "Ed25519 sign and verify, %s each on one core and on %d\n", o.cryptoDur, runtime.NumCPU())
	r, err := peerbench.MeasureEd25519(ctx, o.cryptoDur, runtime.NumCPU())
	if err != nil {
		return err
	}
	res.Ed25519 = &r
	return nil
}

// peersRows pairs each ICN workload with its peer; a side that did not
// run (--only) is left at zero, and so is the ratio.
func peersRows(r *benchPeersResult) []peersRow {
	var rows []peersRow
	add := func(row peersRow) {
		if row.ICNOpsPerS > 0 && row.PeerOpsPerS > 0 {
			row.Ratio = round2(row.ICNOpsPerS / row.PeerOpsPerS)
		}
		if row.Unit == "payments/s" && strings.HasPrefix(row.Workload, "cross") {
			row.Ratio = float64(int64(row.Ratio*1000+0.5)) / 1000 // a fraction: keep three digits
		}
		rows = append(rows, row)
	}
	if r.Hub != nil || r.Etcd != nil {
		row := peersRow{Workload: fmt.Sprintf("hub transfers, %d clients", max(r.hubClients(), r.etcdClients())), Unit: "commands/s"}
		if r.Hub != nil {
			row.ICNOpsPerS, row.ICNP99Ms = r.Hub.OpsPerS, r.Hub.P99Ms
		}
		if r.Etcd != nil {
			row.Peer, row.PeerOpsPerS, row.PeerP99Ms = r.Etcd.System, r.Etcd.OpsPerS, r.Etcd.P99Ms
		}
		add(row)
	}
	pgRow := func(row *peersRow) {
		if r.Postgres != nil {
			row.Peer, row.PeerOpsPerS, row.PeerP99Ms = r.Postgres.System, r.Postgres.OpsPerS, r.Postgres.P99Ms
		}
	}
	if r.Coop != nil {
		row := peersRow{Workload: fmt.Sprintf("co-op payments via the gateway, %d clients", r.Coop.Clients), Unit: "payments/s",
			ICNOpsPerS: round2(r.Coop.OpsPerS), ICNP99Ms: r.Coop.P99Ms}
		pgRow(&row)
		add(row)
	}
	if r.Ledger != nil || (r.Postgres != nil && r.Coop == nil) {
		row := peersRow{Workload: fmt.Sprintf("co-op ledger alone, %d clients", r.pgClients()), Unit: "payments/s"}
		if r.Ledger != nil {
			row.ICNOpsPerS, row.ICNP99Ms = r.Ledger.OpsPerS, r.Ledger.P99Ms
		}
		pgRow(&row)
		add(row)
	}
	if r.Cross != nil {
		row := peersRow{Workload: fmt.Sprintf("cross-co-op payments, %d clients", r.Cross.Clients), Unit: "payments/s",
			ICNOpsPerS: round2(r.Cross.OpsPerS), ICNP99Ms: r.Cross.P99Ms}
		if r.Ed25519 != nil {
			v := r.Cross.VerificationsPerPayment
			if v == 0 {
				v = 4 // not measured: what a payment routed once costs
			}
			r.SignaturesPerPayment = crossSignatures
			r.CryptoLimitPerS = round2(peerbench.CryptoLimit(*r.Ed25519, v, crossSignatures))
			row.Peer = fmt.Sprintf("Ed25519 limit: %.2f verify + %d sign per payment on %d cores", v, crossSignatures, r.Ed25519.Workers)
			row.PeerOpsPerS = r.CryptoLimitPerS
		}
		add(row)
	}
	return rows
}

func (r *benchPeersResult) hubClients() int {
	if r.Hub == nil {
		return 0
	}
	return r.Hub.Clients
}

func (r *benchPeersResult) etcdClients() int {
	if r.Etcd == nil {
		return 0
	}
	return r.Etcd.Clients
}

func (r *benchPeersResult) pgClients() int {
	switch {
	case r.Ledger != nil:
		return r.Ledger.Clients
	case r.Postgres != nil:
		return r.Postgres.Clients
	}
	return 0
}

func printBenchPeers(w io.Writer, r *benchPeersResult) error {
	fmt.Fprintf(w, "icn bench peers: %d CPUs, GOMAXPROCS %d, %s; each window %gs after %gs warmup; load average %s at the start, %s at the end; %.0fs in all\n",
		r.NumCPU, r.GOMAXPROCS, r.GoVersion, r.DurationS, r.WarmupS, r.LoadAvgStart, r.LoadAvgEnd, r.ElapsedS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tICN\tICN p99\tpeer\tpeer\tpeer p99\tICN / peer")
	dash := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	for _, row := range r.Rows {
		ratio := dash(row.Ratio, "%.2f×")
		peerP99 := dash(row.PeerP99Ms, "%.1f ms")
		if strings.HasPrefix(row.Peer, "Ed25519") {
			ratio, peerP99 = dash(100*row.Ratio, "%.1f %% of the limit"), "-"
		}
		peer := row.Peer
		if peer == "" {
			peer = "(not run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Workload, dash(row.ICNOpsPerS, "%.0f "+row.Unit), dash(row.ICNP99Ms, "%.1f ms"),
			peer, dash(row.PeerOpsPerS, "%.0f "+row.Unit), peerP99, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Etcd != nil {
		fmt.Fprintf(w, "etcd: %.2f retried transactions per command (optimistic conflicts on the co-ops' position keys), %d rejected, %d errors\n",
			r.Etcd.RetriesPerOp, r.Etcd.Rejected, r.Etcd.Errors)
	}
	if e := r.Ed25519; e != nil {
		fmt.Fprintf(w, "Ed25519 (identity package): verify %.0f/s on %d cores (%.1f µs on one), sign %.0f/s (%.1f µs on one)\n",
			e.VerifyPerS, e.Workers, e.VerifyUs1, e.SignPerS, e.SignUs1)
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
