package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/devfed"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
	"github.com/icn-coop/icn/internal/proccpu"
	"github.com/icn-coop/icn/money"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test the whole system and report throughput and latency",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchCoopCmd(), newBenchHubCmd(), newBenchCrossCmd(), newBenchNettingCmd(), newBenchPeersCmd(), newBenchScaleCmd(), newBenchDirectoryCmd())
	return cmd
}

// benchCoopOpts are the flags of `icn bench coop`.
type benchCoopOpts struct {
	dev      string
	duration time.Duration
	warmup   time.Duration
	clients  int
	members  int
	amount   string
	jsonOut  bool
	cpuProf  string
	regions  bool // icn bench cross: across regions
	replicas int  // icn bench coop: also a replicated co-op of this many nodes
	rounds   int  // with replicas: alternating windows of each
}

func newBenchCoopCmd() *cobra.Command {
	o := &benchCoopOpts{}
	cmd := &cobra.Command{
		Use:   "coop",
		Short: "Signed internal payments through one co-op's HTTP gateway, from N concurrent clients",
		Long: `icn bench coop drives one co-op node's wallet gateway the way member apps do:
each client logs in (before the measured window), then sends signed payment
intents back to back, one at a time, signing each one afresh.

Client i logs in as member i mod M and as member (i+1) mod M of the co-op and
pays between the two, alternating direction, so balances stay within a few
hundredths of zero however long the run: the figures measure the payment
path, not credit limits.

A payment's latency runs from the start of signing to the gateway's 2xx
answer. Payments that committed count as operations; failures (transport
errors, non-2xx answers, or a status other than "committed") count as errors.
Payments that start during the warmup or end after the window are not counted.

With --dev DIR the bench targets the first co-op of a running "icn dev" and its
members; without it, it starts its own in-process dev co-op in a temporary
directory (it then shares the machine's CPUs with the clients).`,
		Example: `  icn bench coop
  icn bench coop --dev ./icn-dev --clients 64 --duration 30s --json`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(o.cpuProf, func() error { return o.run(cmd) })
		},
	}
	o.flags(cmd.Flags(), "an in-process dev co-op", "members of the in-process dev co-op (without --dev)")
	cmd.Flags().IntVar(&o.replicas, "replicas", 1, "also measure the co-op replicated over this many nodes (one Raft group), in windows alternating with the single node's")
	cmd.Flags().IntVar(&o.rounds, "rounds", 3, "with --replicas: rounds of a single-node window then a replicated one; the ratio is the rounds' median")
	return cmd
}

// flags registers the load options icn bench coop and icn bench cross share;
// target and members say what the in-process federation is.
func (o *benchCoopOpts) flags(f *pflag.FlagSet, target, members string) {
	f.StringVar(&o.dev, "dev", "", "data directory (or dev.json) of a running icn dev to target (default: start "+target+")")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "length of the measured window")
	f.DurationVar(&o.warmup, "warmup", time.Second, "load before the measured window, not counted")
	f.IntVar(&o.clients, "clients", 32, "concurrent clients, each with one payment in flight")
	f.IntVar(&o.members, "members", 8, members)
	f.StringVar(&o.amount, "amount", "0.01", "amount of each payment")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object instead of a table")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of this process (clients and, in-process, the nodes) to FILE")
}

// benchCoopResult is what `icn bench coop --json` prints.
type benchCoopResult struct {
	Bench      string         `json:"bench"`
	Coop       string         `json:"coop"`
	Gateway    string         `json:"gateway"`
	InProcess  bool           `json:"in_process"`
	Clients    int            `json:"clients"`
	Members    int            `json:"members"`
	WarmupS    float64        `json:"warmup_s"`
	DurationS  float64        `json:"duration_s"`
	Total      int            `json:"total"` // payments finished in the window: ok + errors
	OK         int            `json:"ok"`    // committed payments
	Errors     int            `json:"errors"`
	OpsPerS    float64        `json:"ops_per_s"` // committed payments per second
	P50Ms      float64        `json:"p50_ms"`
	P90Ms      float64        `json:"p90_ms"`
	P99Ms      float64        `json:"p99_ms"`
	MaxMs      float64        `json:"max_ms"`
	MeanMs     float64        `json:"mean_ms"`
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	// ErrorSamples holds one message per error kind, for diagnosis.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Interrupted  bool              `json:"interrupted,omitempty"`
	// VerificationsPerPayment (icn bench cross): Ed25519 signature
	// verifications per payment, measured: SignatureVerifications, the
	// growth of icn_signature_verifications_total summed over every node
	// between the idle federation before the warmup and after the last
	// payment, over PaymentsDecided, the growth of
	// icn_hub_routed_transfers_total over the hub nodes. VerificationsBy
	// splits it by "component/kind". Absent if not measured.
	VerificationsPerPayment float64            `json:"verifications_per_payment,omitempty"`
	VerificationsBy         map[string]float64 `json:"verifications_per_payment_by,omitempty"`
	SignatureVerifications  int64              `json:"signature_verifications,omitempty"`
	PaymentsDecided         int64              `json:"payments_decided,omitempty"`
	// LedgerCommitsPerPayment (icn bench cross): the co-op nodes' committed
	// ledger transactions (icn_ledger_commit_batch_size samples) per
	// payment decided, measured as VerificationsPerPayment is;
	// LedgerWritesPerCommit the commands each of them held.
	LedgerCommitsPerPayment float64 `json:"ledger_commits_per_payment,omitempty"`
	LedgerWritesPerCommit   float64 `json:"ledger_writes_per_commit,omitempty"`
	// CPUMicrosPerPayment is this process's CPU time (user + system, from
	// getrusage) during the measured window over the payments committed
	// in it, in microseconds. In process (no --dev) it covers the nodes
	// and the clients, and unlike payments/s it hardly depends on what
	// else the machine runs; with --dev only the clients. Absent if not
	// measured.
	CPUMicrosPerPayment float64 `json:"cpu_us_per_payment,omitempty"`
	// CPUCores is that CPU time over the window's length: the cores the
	// process kept busy.
	CPUCores float64 `json:"cpu_cores,omitempty"`
	// Regions (icn bench cross --regions): payments crossed a parent hub.
	Regions bool `json:"regions,omitempty"`
}

// benchClient is one simulated wallet: two members' sessions it pays between.
type benchClient struct {
	sess [2]*client.Session
	keys [2]*identity.Key
}

// benchWorker collects one client's measurements.
type benchWorker struct {
	lats    []time.Duration
	errs    map[string]int
	samples map[string]string
}

func (o *benchCoopOpts) validate() error {
	switch {
	case o.clients < 1:
		return errors.New("--clients must be at least 1")
	case o.duration <= 0:
		return errors.New("--duration must be positive, e.g. 10s")
	case o.warmup < 0:
		return errors.New("--warmup must not be negative")
	case o.dev == "" && o.members < 2:
		return errors.New("--members must be at least 2 (payments go between members)")
	}
	return nil
}

func (o *benchCoopOpts) run(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.replicas > 1 {
		return o.runReplicas(cmd)
	}
	logw := cmd.ErrOrStderr()
	ctx, stopSignals := benchContext(cmd)
	defer stopSignals()
	m, dir, stop, err := o.target(ctx, logw, fmt.Sprintf("an in-process dev co-op with %d members", o.members), devfed.StartForBench)
	if err != nil {
		return err
	}
	defer stop()
	l, err := o.coopSetup(ctx, logw, m, dir)
	if err != nil {
		return err
	}
	res, err := o.coopWindow(ctx, logw, l)
	if err != nil {
		return err
	}

	out := cmd.OutOrStdout()
	if o.jsonOut {
		err = json.NewEncoder(out).Encode(res)
	} else {
		err = printBenchCoop(out, res)
	}
	if err == nil && res.OK == 0 && res.Errors > 0 {
		err = errors.New("bench: no payment committed; see the errors above")
	}
	return err
}

// coopLoad is icn bench coop's clients, logged in to one co-op.
type coopLoad struct {
	clients  []benchClient
	currency string
	coop     devfed.ManifestCoop
	inProc   bool
}

// coopSetup logs clients in to the first co-op of m (its key files under
// dir).
func (o *benchCoopOpts) coopSetup(ctx context.Context, logw io.Writer, m *devfed.Manifest, dir string) (*coopLoad, error) {
	if len(m.Coops) == 0 {
		return nil, errors.New("the dev federation's manifest lists no co-ops")
	}
	coop := m.Coops[0]
	if len(coop.Members) < 2 {
		return nil, fmt.Errorf("co-op %s has %d members in dev.json; the bench pays between members and needs at least 2", coop.ID, len(coop.Members))
	}
	if err := checkGatewayURL(coop.GatewayURL); err != nil {
		return nil, fmt.Errorf("co-op %s in dev.json: %w", coop.ID, err)
	}
	currency := m.Currency
	if currency == "" {
		currency = money.Hours.Code
	}
	if c, err := money.DefaultCurrencies().Lookup(currency); err == nil {
		if _, err := money.ParsePayment(o.amount, c); err != nil {
			return nil, fmt.Errorf("--amount: %w", err)
		}
	}
	keys := make([]*identity.Key, len(coop.Members))
	var err error
	for i, mem := range coop.Members {
		if keys[i], err = keyfile.Read(resolveKeyPath(dir, mem.KeyFile)); err != nil {
			return nil, fmt.Errorf("member %s of %s: %w", mem.Name, coop.ID, err)
		}
	}

	c := client.New(coop.GatewayURL, client.WithUserAgent("icn-bench"))
	fmt.Fprintf(logw, "logging in %d clients to co-op %s at %s\n", o.clients, coop.ID, coop.GatewayURL)
	clients, err := benchLogin(ctx, c, coop.ID, keys, o.clients)
	if err != nil {
		return nil, err
	}
	return &coopLoad{clients: clients, currency: currency, coop: coop, inProc: o.dev == ""}, nil
}

// coopWindow runs l's clients through one warmup and measured window.
func (o *benchCoopOpts) coopWindow(ctx context.Context, logw io.Writer, l *coopLoad) (benchCoopResult, error) {
	fmt.Fprintf(logw, "paying %s %s: %s warmup, then %s measured\n", o.amount, l.currency, o.warmup, o.duration)
	res := o.measure(ctx, l.clients, l.currency)
	if ctx.Err() != nil && res.DurationS <= 0 {
		return res, errors.New("interrupted before the measured window began")
	}
	res.Coop, res.Gateway, res.InProcess, res.Members = l.coop.ID, l.coop.GatewayURL, l.inProc, len(l.coop.Members)
	return res, nil
}

// benchContext is the command's context, cancelled on Ctrl-C or SIGTERM.
func benchContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// target loads the running dev federation named by --dev, or starts one in
// a temporary directory with start (described as what); stop releases it.
func (o *benchCoopOpts) target(ctx context.Context, logw io.Writer, what string,
	start func(context.Context, string, int) (*devfed.Manifest, func(), error)) (m *devfed.Manifest, dir string, stop func(), err error) {
	if o.dev != "" {
		m, dir, err = loadDevManifest(o.dev)
		return m, dir, func() {}, err
	}
	if dir, err = os.MkdirTemp("", "icn-bench-"); err != nil {
		return nil, "", nil, fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(logw, "starting %s in %s\n", what, dir)
	m, stopFed, err := start(ctx, dir, o.members)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, fmt.Errorf("start %s: %w\n(or target a running one: icn dev, then --dev DIR)", what, err)
	}
	return m, dir, func() { stopFed(); os.RemoveAll(dir) }, nil
}

// benchLogin logs every client in as its two members, a few at a time.
func benchLogin(ctx context.Context, c *client.Client, coopID string, keys []*identity.Key, n int) ([]benchClient, error) {
	clients := make([]benchClient, n)
	type job struct{ client, side, member int }
	jobs := make(chan job)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(16, 2*n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s, err := loginRetrying(ctx, c, keys[j.member], coopID)
				if err != nil {
					select {
					case errc <- fmt.Errorf("bench: log in as member %d: %w", j.member, err):
					default:
					}
					continue
				}
				clients[j.client].sess[j.side] = s
				clients[j.client].keys[j.side] = keys[j.member]
			}
		}()
	}
	for i := range n {
		jobs <- job{i, 0, i % len(keys)}
		jobs <- job{i, 1, (i + 1) % len(keys)}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
		return clients, nil
	}
}

// loginRetrying logs in, waiting out 429 answers (gateways limit logins per
// address) for up to 30 seconds.
func loginRetrying(ctx context.Context, c *client.Client, key *identity.Key, coopID string) (*client.Session, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := c.Login(ctx, key, coopID)
		var ae *client.APIError
		if err == nil || !errors.As(err, &ae) || ae.Status != 429 || time.Now().After(deadline) {
			return s, err
		}
		wait := min(max(ae.RetryAfter, 100*time.Millisecond), time.Second)
		wait += time.Duration(rand.Int64N(int64(wait))) // spread the retries
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// measure runs the clients through the warmup and the measured window.
func (o *benchCoopOpts) measure(ctx context.Context, clients []benchClient, currency string) benchCoopResult {
	begin := time.Now()
	measureStart := begin.Add(o.warmup)
	measureEnd := measureStart.Add(o.duration)
	runCtx, cancel := context.WithDeadline(ctx, measureEnd)
	defer cancel()

	windowCPU := cpuWindow(ctx, measureStart, measureEnd)

	workers := make([]benchWorker, len(clients))
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func(bc *benchClient, w *benchWorker) {
			defer wg.Done()
			w.errs, w.samples = map[string]int{}, map[string]string{}
			for turn := 0; runCtx.Err() == nil; turn = 1 - turn {
				from, to := bc.sess[turn], bc.sess[1-turn]
				intent := client.PaymentIntent{To: to.DID(), ToCoop: to.CoopID(), Amount: o.amount, Currency: currency}
				start := time.Now()
				// A payment in flight at the end of the window runs to its
				// end (not counted): cutting it off would leave work behind
				// on the nodes. Only Ctrl-C cuts it off.
				res, err := from.Pay(ctx, intent, bc.keys[turn]) // fills id and times, marshals, signs, posts
				end := time.Now()
				if err != nil && ctx.Err() != nil {
					return // interrupted
				}
				if start.Before(measureStart) || end.After(measureEnd) {
					continue
				}
				if err == nil && res.Status == client.StatusCommitted {
					w.lats = append(w.lats, end.Sub(start))
					continue
				}
				kind, msg := benchErrorKind(res, err)
				w.errs[kind]++
				if _, ok := w.samples[kind]; !ok {
					w.samples[kind] = msg
				}
				var ae *client.APIError
				if errors.As(err, &ae) && ae.Status == 429 {
					// Back off a little, as a real client would, instead of spinning.
					select {
					case <-time.After(min(max(ae.RetryAfter, 10*time.Millisecond), 100*time.Millisecond)):
					case <-runCtx.Done():
					}
				}
			}
		}(&clients[i], &workers[i])
	}
	wg.Wait()

	end := measureEnd
	interrupted := ctx.Err() != nil
	if now := time.Now(); interrupted && now.Before(measureEnd) {
		end = now
	}
	window := end.Sub(measureStart)

	var lats []time.Duration
	res := benchCoopResult{Bench: "coop", Clients: len(clients), WarmupS: o.warmup.Seconds(), Interrupted: interrupted}
	for _, w := range workers {
		lats = append(lats, w.lats...)
		for k, n := range w.errs {
			if res.ErrorKinds == nil {
				res.ErrorKinds, res.ErrorSamples = map[string]int{}, map[string]string{}
			}
			res.ErrorKinds[k] += n
			res.Errors += n
			if _, ok := res.ErrorSamples[k]; !ok {
				res.ErrorSamples[k] = w.samples[k]
			}
		}
	}
	s := summarizeLatencies(lats)
	res.OK = s.Count
	res.Total = res.OK + res.Errors
	if window > 0 {
		res.DurationS = window.Seconds()
		res.OpsPerS = float64(res.OK) / window.Seconds()
	}
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs, res.MeanMs = millis(s.P50), millis(s.P90), millis(s.P99), millis(s.Max), millis(s.Mean)
	if cpu, ok := windowCPU(); ok && res.OK > 0 && window > 0 {
		res.CPUMicrosPerPayment = float64(cpu.Microseconds()) / float64(res.OK)
		res.CPUCores = cpu.Seconds() / window.Seconds()
	}
	return res
}

// cpuWindow reads the process's CPU time at start and at end, by timers
// (the clients are busy), and returns what waits for the end's reading and
// gives the CPU time between the two, if both could be read. After an
// interruption it does not wait: the window was cut short, and it reports
// nothing.
func cpuWindow(ctx context.Context, start, end time.Time) func() (time.Duration, bool) {
	var at [2]time.Duration
	var ok [2]bool
	var wg sync.WaitGroup
	wg.Add(2)
	for i, t := range [2]time.Time{start, end} {
		time.AfterFunc(time.Until(t), func() {
			defer wg.Done()
			at[i], ok[i] = proccpu.Used()
		})
	}
	return func() (time.Duration, bool) {
		if ctx.Err() != nil {
			return 0, false
		}
		wg.Wait() // the clients ran to the end: both timers fire
		return at[1] - at[0], ok[0] && ok[1]
	}
}

// benchErrorKind classifies a failed payment: the gateway's error code, an
// HTTP status, "timeout", "transport", or "status:reason" for a 2xx answer
// other than committed.
func benchErrorKind(res *client.PaymentResult, err error) (kind, msg string) {
	if err == nil {
		kind = res.Status
		if res.Reason != "" {
			kind += ":" + res.Reason
		}
		return kind, fmt.Sprintf("payment %s: status %s %s", res.ID, res.Status, res.Reason)
	}
	var ae *client.APIError
	switch {
	case errors.As(err, &ae) && ae.Code != "":
		kind = ae.Code
	case errors.As(err, &ae):
		kind = fmt.Sprintf("http_%d", ae.Status)
	case errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	default:
		kind = "transport"
	}
	return kind, err.Error()
}

func printBenchCoop(w io.Writer, r benchCoopResult) error {
	where := "running icn dev"
	if r.InProcess {
		where = "in-process dev co-op"
	}
	fmt.Fprintf(w, "icn bench %s: co-op %s at %s (%s, %d members)\n", r.Bench, r.Coop, r.Gateway, where, r.Members)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: figures cover the part of the window that ran")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "clients\t%d\n", r.Clients)
	fmt.Fprintf(tw, "duration\t%.1fs (after %.1fs warmup)\n", r.DurationS, r.WarmupS)
	fmt.Fprintf(tw, "payments\t%d committed\n", r.OK)
	fmt.Fprintf(tw, "ops/s\t%.1f\n", r.OpsPerS)
	fmt.Fprintf(tw, "p50\t%.2f ms\n", r.P50Ms)
	fmt.Fprintf(tw, "p99\t%.2f ms\n", r.P99Ms)
	fmt.Fprintf(tw, "max\t%.2f ms\n", r.MaxMs)
	if r.CPUMicrosPerPayment > 0 {
		fmt.Fprintf(tw, "cpu/payment\t%.0f µs (this process, %.2f cores busy)\n", r.CPUMicrosPerPayment, r.CPUCores)
	}
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return r.ErrorKinds[kinds[i]] > r.ErrorKinds[kinds[j]] })
	for _, k := range kinds {
		fmt.Fprintf(tw, "  %s\t%d  e.g. %s\n", k, r.ErrorKinds[k], clip(r.ErrorSamples[k], 160))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.ErrorKinds["rate_limited"] > 0 {
		fmt.Fprintln(w, "note: rate_limited means the gateway's per-DID request limit capped the load; "+
			"the in-process co-op (no --dev) raises the limits, or run icn dev with more members")
	}
	if r.ErrorKinds["rejected:rate_limited"] > 0 {
		fmt.Fprintln(w, "note: rejected:rate_limited means the hub held a co-op node to its trust class's request rate "+
			"(federated: 200/s by default, [trust.policies] in hub.toml); the in-process federation (no --dev) raises it")
	}
	return nil
}

// withCPUProfile runs fn, writing a CPU profile to path if path is set.
func withCPUProfile(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}
