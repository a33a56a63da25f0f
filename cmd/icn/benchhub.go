package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// benchHubOpts are the flags of `icn bench hub`.
type benchHubOpts struct {
	duration    time.Duration
	warmup      time.Duration
	clients     int
	coops       int
	nodes       int
	maxBatch    int
	maxInflight int
	ids         string
	jsonOut     bool
	cpuProf     string
	// randomPairs (icn bench scale): each transfer goes between two co-ops
	// drawn at random instead of client i's fixed pair.
	randomPairs bool
}

func newBenchHubCmd() *cobra.Command {
	o := &benchHubOpts{}
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Transfer commands (prepare + commit) committed by an in-process hub cluster over loopback",
		Long: `icn bench hub starts a hub cluster of --nodes nodes in this process, on
127.0.0.1 with the real TLS TCP raft transport and on-disk stores (fsync'd) in
a temporary directory, waits for a leader, registers --coops co-ops that trust
each other through the federation and have caps far above anything the run
can reach, then runs --clients clients against the leader.

Each client moves 0.01 hours between its two co-ops, alternating direction
(so no cap ever binds): it proposes a PrepareTransfer, waits for its result,
then a CommitTransfer of the same id, and starts the next. Concurrent
proposals share raft log entries (--max-batch commands per entry, at most
--max-inflight entries proposed and not yet applied).

A command counts as an operation when it was committed by the cluster and
applied with no error code and the expected state (prepared, committed); its
latency runs from Propose on the leader to its result. A transfer's latency
runs from its prepare to its commit's result. Commands that start during the
warmup or end after the window are not counted. After the window the bench
waits for every node to apply the same index and compares their state hashes.

Everything (clients and all nodes) shares this machine's CPUs and disk.`,
		Example: `  icn bench hub
  icn bench hub --duration 30s --clients 128 --json`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(o.cpuProf, func() error { return o.run(cmd) })
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 10*time.Second, "length of the measured window")
	f.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured window, not counted")
	f.IntVar(&o.clients, "clients", 256, "concurrent clients, each with one command in flight")
	f.IntVar(&o.coops, "coops", 20, "co-ops registered in the federation (client i pays between co-ops i and i+1)")
	f.IntVar(&o.nodes, "nodes", 3, "hub nodes in the cluster")
	f.IntVar(&o.maxBatch, "max-batch", 0, "commands per raft log entry (0: the hub default, 512)")
	f.IntVar(&o.maxInflight, "max-inflight", 0, "log entries proposed and not yet applied (0: the hub default, 1)")
	f.StringVar(&o.ids, "ids", "v7", "transfer ids: v7 (time-ordered UUIDv7, as co-op nodes make them) or v4 (random UUIDs)")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object instead of a table")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of this process (clients and all nodes) to FILE")
	return cmd
}

// benchHubResult is what `icn bench hub --json` prints.
type benchHubResult struct {
	Bench       string  `json:"bench"`
	Nodes       int     `json:"nodes"`
	Clients     int     `json:"clients"`
	Coops       int     `json:"coops"`
	MaxBatch    int     `json:"max_batch"`
	MaxInflight int     `json:"max_inflight"`
	IDs         string  `json:"ids"`
	WarmupS     float64 `json:"warmup_s"`
	DurationS   float64 `json:"duration_s"`

	Commands      int     `json:"commands"` // commands applied as expected in the window (prepare + commit)
	Transfers     int     `json:"transfers"`
	Errors        int     `json:"errors"`
	OpsPerS       float64 `json:"ops_per_s"` // commands per second
	TransfersPerS float64 `json:"transfers_per_s"`
	// CPUMicrosPerTransfer is this process's CPU time (user + system) in the
	// window over the transfers committed in it: the clients and every node.
	CPUMicrosPerTransfer float64 `json:"cpu_us_per_transfer,omitempty"`
	CPUCores             float64 `json:"cpu_cores,omitempty"`
	// Command latency: Propose on the leader to its result.
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
	// Transfer latency: prepare proposed to commit applied.
	TransferP50Ms float64 `json:"transfer_p50_ms"`
	TransferP99Ms float64 `json:"transfer_p99_ms"`
	// Prepare latency: the PrepareTransfer commands alone.
	PrepareP50Ms float64 `json:"prepare_p50_ms"`
	PrepareP99Ms float64 `json:"prepare_p99_ms"`

	// BatchCommands is the mean number of commands per batch the leader's
	// state machine applied in the window (one bbolt transaction each);
	// EntryCommands the mean per raft log entry.
	BatchCommands float64 `json:"batch_commands"`
	EntryCommands float64 `json:"entry_commands"`

	// Converged: after the run every node applied the same index and holds
	// the same state hash.
	Converged    bool     `json:"converged"`
	ConvergeMs   float64  `json:"converge_ms"`
	AppliedIndex []uint64 `json:"applied_index"`

	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GOGC       int    `json:"gogc"`

	ErrorKinds   map[string]int    `json:"error_kinds,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Interrupted  bool              `json:"interrupted,omitempty"`
}

func (o *benchHubOpts) validate() error {
	switch {
	case o.clients < 1:
		return errors.New("--clients must be at least 1")
	case o.duration <= 0:
		return errors.New("--duration must be positive, e.g. 10s")
	case o.warmup < 0:
		return errors.New("--warmup must not be negative")
	case o.coops < 2:
		return errors.New("--coops must be at least 2 (transfers go between co-ops)")
	case o.nodes < 1:
		return errors.New("--nodes must be at least 1")
	case o.maxBatch < 0 || o.maxInflight < 0:
		return errors.New("--max-batch and --max-inflight must not be negative")
	case o.ids != "v7" && o.ids != "v4":
		return fmt.Errorf("--ids %q: use v7 or v4", o.ids)
	}
	return nil
}

// benchHubCap is every co-op's debit cap in minor units: far above what a
// run can reach with directions alternating.
const benchHubCap = 1 << 50

func (o *benchHubOpts) run(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	logw := cmd.ErrOrStderr()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	dir, err := os.MkdirTemp("", "icn-bench-hub-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(logw, "starting a %d-node hub cluster on 127.0.0.1 in %s\n", o.nodes, dir)
	c, err := startBenchCluster(dir, o.nodes, o.maxBatch, o.maxInflight)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.waitLeader(ctx, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(logw, "registering %d co-ops\n", o.coops)
	coops, err := c.setupCoops(ctx, o.coops)
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "%d clients: %s warmup, then %s measured\n", o.clients, o.warmup, o.duration)
	res := o.measure(ctx, c, coops)
	if ctx.Err() != nil && res.DurationS <= 0 {
		return errors.New("interrupted before the measured window began")
	}
	res.Nodes, res.Coops = o.nodes, o.coops
	res.MaxBatch, res.MaxInflight = c.maxBatch, c.maxInflight
	res.GoVersion, res.GOMAXPROCS = runtime.Version(), runtime.GOMAXPROCS(0)
	res.GOGC = debug.SetGCPercent(-1)
	debug.SetGCPercent(res.GOGC)

	convStart := time.Now()
	res.Converged, res.AppliedIndex = c.converge(ctx, 30*time.Second)
	res.ConvergeMs = millis(time.Since(convStart))

	out := cmd.OutOrStdout()
	if o.jsonOut {
		err = json.NewEncoder(out).Encode(res)
	} else {
		err = printBenchHub(out, res)
	}
	switch {
	case err != nil:
	case res.Commands == 0 && res.Errors > 0:
		err = errors.New("bench: no command committed; see the errors above")
	case !res.Converged && !res.Interrupted:
		err = errors.New("bench: the nodes did not converge on one applied index and state hash")
	}
	return err
}

// benchCluster is a hub cluster in this process.
type benchCluster struct {
	fed         *identity.Key
	nodes       []*hub.Node
	leader      atomic.Pointer[hub.Node]
	maxBatch    int
	maxInflight int
}

func startBenchCluster(dir string, n, maxBatch, maxInflight int) (*benchCluster, error) {
	fed, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &benchCluster{fed: fed}
	keys := make([]*identity.Key, n)
	lns := make([]net.Listener, n)
	peers := make([]hub.Peer, n)
	closeListeners := func() {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
	}
	for i := range n {
		if keys[i], err = identity.GenerateKey(rand.Reader); err != nil {
			closeListeners()
			return nil, err
		}
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			closeListeners()
			return nil, fmt.Errorf("bench: raft listener: %w", err)
		}
		peers[i] = hub.Peer{DID: keys[i].DID(), RaftAddr: lns[i].Addr().String()}
	}
	for i := range n {
		cfg := hub.Config{
			DataDir: filepath.Join(dir, fmt.Sprintf("node-%d", i)), Key: keys[i],
			RaftListener: lns[i], Peers: peers,
			Federation: hub.FederationConfig{DID: fed.DID(), Name: "bench federation", Currencies: []money.Currency{money.Hours}},
			MaxBatch:   maxBatch, MaxInflight: maxInflight,
		}
		nd, err := hub.Open(cfg)
		if err != nil {
			c.close()
			for _, ln := range lns[i:] {
				ln.Close()
			}
			return nil, fmt.Errorf("bench: start hub node %d: %w", i, err)
		}
		c.nodes = append(c.nodes, nd)
	}
	// What the nodes run with (hub.Config's defaults for zero values).
	c.maxBatch, c.maxInflight = maxBatch, maxInflight
	if c.maxBatch == 0 {
		c.maxBatch = 512
	}
	if c.maxInflight == 0 {
		c.maxInflight = 4
	}
	return c, nil
}

func (c *benchCluster) close() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Close() }()
	}
	wg.Wait()
}

// waitLeader waits for a ready leader whose state holds the federation.
func (c *benchCluster) waitLeader(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		for _, n := range c.nodes {
			if n.IsLeader() && n.FSM().Federation().GetDid() != "" {
				c.leader.Store(n)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: no leader with an initialised federation after %v", d)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// propose sends cmd to the current leader, following a leader change once.
func (c *benchCluster) propose(ctx context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	l := c.leader.Load()
	res, err := l.Propose(ctx, cmd)
	if errors.Is(err, hub.ErrNotLeader) {
		for _, n := range c.nodes {
			if n != l && n.IsLeader() {
				c.leader.CompareAndSwap(l, n)
				return n.Propose(ctx, cmd)
			}
		}
	}
	return res, err
}

// proposeAll proposes cmds concurrently (one batch, in practice) and fails
// on the first error.
func (c *benchCluster) proposeAll(ctx context.Context, cmds []*icnv1.Command) error {
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.propose(ctx, cmd)
			if err == nil && res.GetErrorCode() != "" {
				err = fmt.Errorf("%s: %s", res.GetErrorCode(), res.GetErrorMessage())
			}
			if err != nil {
				errs[i] = fmt.Errorf("bench: set up the federation (%T): %w", cmd.GetCmd(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// setupCoops registers n co-ops; each trusts the federation 1 and the
// federation trusts each 1, so any two co-ops trust each other 1 in two hops.
func (c *benchCluster) setupCoops(ctx context.Context, n int) ([]identity.DID, error) {
	return c.addCoops(ctx, 0, n)
}

// benchSetupChunk is how many co-ops addCoops registers at a time: enough to
// fill raft entries, few enough that the proposing goroutines stay cheap.
const benchSetupChunk = 1024

// addCoops registers n more co-ops as setupCoops does, named from
// bench-coop-<first> on, a chunk at a time.
func (c *benchCluster) addCoops(ctx context.Context, first, n int) ([]identity.DID, error) {
	dids := make([]identity.DID, 0, n)
	for len(dids) < n {
		var reg, rest []*icnv1.Command
		for i := len(dids); i < min(n, len(dids)+benchSetupChunk); i++ {
			k, err := identity.GenerateKey(rand.Reader)
			if err != nil {
				return nil, err
			}
			reg = append(reg, &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
				Did: string(k.DID()), Name: fmt.Sprintf("bench-coop-%d", first+i), Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP}}})
			in, err := benchTrust(c.fed, k.DID())
			if err != nil {
				return nil, err
			}
			out, err := benchTrust(k, c.fed.DID())
			if err != nil {
				return nil, err
			}
			rest = append(rest, in, out, &icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{SetCreditPolicy: &icnv1.SetCreditPolicy{
				Did: string(k.DID()), Currency: money.Hours.Code, DebitCapUnits: benchHubCap}}})
		}
		if err := c.proposeAll(ctx, reg); err != nil {
			return nil, err
		}
		if err := c.proposeAll(ctx, rest); err != nil {
			return nil, err
		}
		for _, cmd := range reg {
			dids = append(dids, identity.DID(cmd.GetRegisterParticipant().GetDid()))
		}
	}
	return dids, nil
}

// benchTrust is a SetTrust command: from trusts to fully.
func benchTrust(from *identity.Key, to identity.DID) (*icnv1.Command, error) {
	s, err := trust.Sign(from, trust.Attestation{From: from.DID(), To: to, Weight: trust.One, IssuedAt: 1})
	if err != nil {
		return nil, err
	}
	return &icnv1.Command{Cmd: &icnv1.Command_SetTrust{SetTrust: &icnv1.SetTrust{Attestation: &icnv1.SignedMessage{
		Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}}}, nil
}

// converge waits until every node has applied the same index, at least the
// leader's commit index, and then compares the nodes' state hashes. If a
// node applied another entry while the hashes were taken (the leader's
// expiry duty may still propose), it waits and compares again; different
// hashes at one unchanged index are a divergence.
func (c *benchCluster) converge(ctx context.Context, d time.Duration) (bool, []uint64) {
	deadline := time.Now().Add(d)
	applied := make([]uint64, len(c.nodes))
	for {
		target := c.leader.Load().Raft().CommitIndex()
		same := true
		for i, n := range c.nodes {
			applied[i] = n.FSM().AppliedIndex()
			same = same && applied[i] == applied[0] && applied[i] >= target
		}
		if same {
			equal, err := c.sameHashes()
			if err != nil {
				return false, applied
			}
			moved := false
			for i, n := range c.nodes {
				moved = moved || n.FSM().AppliedIndex() != applied[i]
			}
			if !moved {
				return equal, applied
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, applied
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sameHashes reports whether every node's state hash is the same.
func (c *benchCluster) sameHashes() (bool, error) {
	var first [32]byte
	for i, n := range c.nodes {
		h, err := n.FSM().StateHash()
		if err != nil {
			return false, err
		}
		if i == 0 {
			first = h
		} else if h != first {
			return false, nil
		}
	}
	return true, nil
}

// applyCounters reads the node's count and total size of applied batches
// (its icn_hub_fsm_batch_commands histogram) and its applied index.
func applyCounters(n *hub.Node) (batches uint64, commands float64, index uint64) {
	index = n.FSM().AppliedIndex()
	reg := prometheus.NewRegistry()
	for _, c := range n.Collectors() {
		if err := reg.Register(c); err != nil {
			return 0, 0, index
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0, index
	}
	for _, mf := range mfs {
		if mf.GetName() != "icn_hub_fsm_batch_commands" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				return h.GetSampleCount(), h.GetSampleSum(), index
			}
		}
	}
	return 0, 0, index
}

// applySample is applyCounters at one moment.
type applySample struct {
	batches  uint64
	commands float64
	index    uint64
}

func sampleApply(n *hub.Node) applySample {
	b, c, i := applyCounters(n)
	return applySample{b, c, i}
}

// hubWorker collects one client's measurements.
type hubWorker struct {
	cmdLats, xferLats, prepLats []time.Duration
	errs                        map[string]int
	samples                     map[string]string
}

func (w *hubWorker) fail(kind, msg string) {
	w.errs[kind]++
	if _, ok := w.samples[kind]; !ok {
		w.samples[kind] = msg
	}
}

// measure runs the clients through the warmup and the measured window.
func (o *benchHubOpts) measure(ctx context.Context, c *benchCluster, coops []identity.DID) benchHubResult {
	begin := time.Now()
	measureStart := begin.Add(o.warmup)
	measureEnd := measureStart.Add(o.duration)
	runCtx, cancel := context.WithDeadline(ctx, measureEnd)
	defer cancel()
	windowCPU := cpuWindow(ctx, measureStart, measureEnd)

	// Sample the leader's batch counters as the window opens.
	startC := make(chan applySample, 1)
	go func() {
		select {
		case <-time.After(time.Until(measureStart)):
			startC <- sampleApply(c.leader.Load())
		case <-runCtx.Done():
		}
	}()

	workers := make([]hubWorker, o.clients)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(i int, w *hubWorker) {
			defer wg.Done()
			w.errs, w.samples = map[string]int{}, map[string]string{}
			a, b := coops[i%len(coops)], coops[(i+1)%len(coops)]
			rng := mrand.New(mrand.NewPCG(uint64(i), uint64(begin.UnixNano())))
			newID := client.NewPaymentID
			if o.ids == "v4" {
				newID = uuid.NewString
			}
			for seq := 0; runCtx.Err() == nil; seq++ {
				from, to := a, b
				if seq%2 == 1 {
					from, to = b, a
				}
				if o.randomPairs {
					from, to = randomPair(rng, coops)
				}
				id := newID()
				prep := &icnv1.Command{Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: &icnv1.PrepareTransfer{
					Id: id, From: string(from), To: string(to), Currency: money.Hours.Code, AmountUnits: 1,
					ExpiresAtUnixNano: time.Now().Add(time.Hour).UnixNano()}}}
				t0 := time.Now()
				res, err := c.propose(runCtx, prep)
				t1 := time.Now()
				if err != nil && runCtx.Err() != nil {
					return // cut off at the end of the window (or by Ctrl-C)
				}
				counted := !t0.Before(measureStart) && !t1.After(measureEnd)
				if kind, msg := hubOutcome(res, err, icnv1.TransferState_TRANSFER_STATE_PREPARED); kind != "" {
					if counted {
						w.fail(kind, msg)
					}
					continue
				}
				if counted {
					w.cmdLats = append(w.cmdLats, t1.Sub(t0))
					w.prepLats = append(w.prepLats, t1.Sub(t0))
				}
				commit := &icnv1.Command{Cmd: &icnv1.Command_CommitTransfer{CommitTransfer: &icnv1.CommitTransfer{Id: id}}}
				res, err = c.propose(runCtx, commit)
				t2 := time.Now()
				if err != nil && runCtx.Err() != nil {
					return
				}
				if t1.Before(measureStart) || t2.After(measureEnd) {
					continue
				}
				if kind, msg := hubOutcome(res, err, icnv1.TransferState_TRANSFER_STATE_COMMITTED); kind != "" {
					w.fail(kind, msg)
					continue
				}
				w.cmdLats = append(w.cmdLats, t2.Sub(t1))
				if counted {
					w.xferLats = append(w.xferLats, t2.Sub(t0))
				}
			}
		}(i, &workers[i])
	}
	wg.Wait()

	end := measureEnd
	interrupted := ctx.Err() != nil
	if now := time.Now(); interrupted && now.Before(measureEnd) {
		end = now
	}
	window := end.Sub(measureStart)

	res := benchHubResult{Bench: "hub", Clients: o.clients, IDs: o.ids, WarmupS: o.warmup.Seconds(), Interrupted: interrupted}
	select {
	case st := <-startC:
		// The leader did not change (a change would be errors, not_leader).
		e := sampleApply(c.leader.Load())
		if nb := e.batches - st.batches; e.batches > st.batches {
			res.BatchCommands = round2((e.commands - st.commands) / float64(nb))
		}
		if ne := e.index - st.index; e.index > st.index {
			res.EntryCommands = round2((e.commands - st.commands) / float64(ne))
		}
	default:
	}
	var cmdLats, xferLats, prepLats []time.Duration
	for _, w := range workers {
		cmdLats = append(cmdLats, w.cmdLats...)
		xferLats = append(xferLats, w.xferLats...)
		prepLats = append(prepLats, w.prepLats...)
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
	s := summarizeLatencies(cmdLats)
	x := summarizeLatencies(xferLats)
	res.Commands, res.Transfers = s.Count, x.Count
	if window > 0 {
		res.DurationS = window.Seconds()
		res.OpsPerS = round2(float64(res.Commands) / window.Seconds())
		res.TransfersPerS = round2(float64(res.Transfers) / window.Seconds())
	}
	if cpu, ok := windowCPU(); ok && res.Transfers > 0 && window > 0 {
		res.CPUMicrosPerTransfer = round2(float64(cpu.Microseconds()) / float64(res.Transfers))
		res.CPUCores = round2(cpu.Seconds() / window.Seconds())
	}
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs, res.MeanMs = millis(s.P50), millis(s.P90), millis(s.P99), millis(s.Max), millis(s.Mean)
	res.TransferP50Ms, res.TransferP99Ms = millis(x.P50), millis(x.P99)
	p := summarizeLatencies(prepLats)
	res.PrepareP50Ms, res.PrepareP99Ms = millis(p.P50), millis(p.P99)
	return res
}

// randomPair draws two different co-ops.
func randomPair(rng *mrand.Rand, coops []identity.DID) (from, to identity.DID) {
	i := rng.IntN(len(coops))
	j := rng.IntN(len(coops) - 1)
	if j >= i {
		j++
	}
	return coops[i], coops[j]
}

// hubOutcome classifies a command's result: "" if it was applied with no
// error code and left the transfer in state want; otherwise an error kind
// (the hub's error code, "state:<state>", "not_leader", "timeout", "propose")
// and a message.
func hubOutcome(res *icnv1.CommandResult, err error, want icnv1.TransferState) (kind, msg string) {
	switch {
	case errors.Is(err, hub.ErrNotLeader):
		return "not_leader", err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", err.Error()
	case err != nil:
		return "propose", err.Error()
	case res.GetErrorCode() != "":
		return res.GetErrorCode(), res.GetErrorMessage()
	case res.GetTransfer().GetState() != want:
		return "state:" + res.GetTransfer().GetState().String(),
			fmt.Sprintf("transfer %s: state %s, want %s", res.GetTransfer().GetId(), res.GetTransfer().GetState(), want)
	}
	return "", ""
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func printBenchHub(w io.Writer, r benchHubResult) error {
	fmt.Fprintf(w, "icn bench hub: %d-node cluster in-process on 127.0.0.1 (TLS raft transport, fsync'd stores)\n", r.Nodes)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: figures cover the part of the window that ran")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "clients\t%d (%d co-ops)\n", r.Clients, r.Coops)
	fmt.Fprintf(tw, "transfer ids\t%s\n", r.IDs)
	fmt.Fprintf(tw, "batching\tmax %d commands per entry, %d entries in flight\n", r.MaxBatch, r.MaxInflight)
	fmt.Fprintf(tw, "duration\t%.1fs (after %.1fs warmup)\n", r.DurationS, r.WarmupS)
	fmt.Fprintf(tw, "commands\t%d committed (prepare + commit)\n", r.Commands)
	fmt.Fprintf(tw, "ops/s\t%.1f commands/s\n", r.OpsPerS)
	fmt.Fprintf(tw, "transfers/s\t%.1f\n", r.TransfersPerS)
	if r.CPUMicrosPerTransfer > 0 {
		fmt.Fprintf(tw, "cpu/transfer\t%.0f µs (this process, %.2f cores busy)\n", r.CPUMicrosPerTransfer, r.CPUCores)
	}
	fmt.Fprintf(tw, "p50\t%.2f ms (command)\n", r.P50Ms)
	fmt.Fprintf(tw, "p99\t%.2f ms (command)\n", r.P99Ms)
	fmt.Fprintf(tw, "max\t%.2f ms (command)\n", r.MaxMs)
	fmt.Fprintf(tw, "transfer p50/p99\t%.2f / %.2f ms (prepare to commit)\n", r.TransferP50Ms, r.TransferP99Ms)
	fmt.Fprintf(tw, "batches\t%.1f commands per applied batch, %.1f per log entry\n", r.BatchCommands, r.EntryCommands)
	fmt.Fprintf(tw, "converged\t%v (applied %v, %.0f ms after the window)\n", r.Converged, r.AppliedIndex, r.ConvergeMs)
	fmt.Fprintf(tw, "runtime\t%s, GOMAXPROCS %d, GOGC %d\n", r.GoVersion, r.GOMAXPROCS, r.GOGC)
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return r.ErrorKinds[kinds[i]] > r.ErrorKinds[kinds[j]] })
	for _, k := range kinds {
		fmt.Fprintf(tw, "  %s\t%d  e.g. %s\n", k, r.ErrorKinds[k], clip(r.ErrorSamples[k], 160))
	}
	return tw.Flush()
}
