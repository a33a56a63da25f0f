package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/hub/fsm"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// benchScaleOpts are the flags of `icn bench scale`.
type benchScaleOpts struct {
	coops    int
	small    int
	duration time.Duration
	warmup   time.Duration
	clients  int
	jsonOut  bool
	cpuProf  string
}

func newBenchScaleCmd() *cobra.Command {
	o := &benchScaleOpts{}
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "One hub cluster with --small co-ops, then with --coops: memory, snapshot, restore and prepare latency",
		Long: `icn bench scale starts the cluster icn bench hub does (3 nodes in this
process, TLS raft over 127.0.0.1, on-disk raft and FSM stores in a temporary
directory) and measures it twice in one run: first with --small co-ops
registered, then after registering more, up to --coops in all.

Each co-op is registered through the real FSM commands (RegisterParticipant,
SetTrust both ways with the federation, as a cross-co-op prepare needs the
payee's transitive trust in the payer, and a SetCreditPolicy), a chunk at a
time so that registering 10,000 takes seconds.

At each size the bench records, in this order:
  - Go heap in use and the process's RSS right after registration (after a
    forced GC; the process holds all three nodes and the clients, and RSS
    counts the pages of the nodes' bbolt files it touched);
  - a raft snapshot on the leader (its size and the time raft took to write
    it) and a restore of it into a fresh FSM (its time; the restored state
    hash must equal the leader's at the snapshot's index, or the bench fails);
  - payment traffic: --clients clients, each a PrepareTransfer then a
    CommitTransfer between two co-ops drawn at random, one at a time, for
    --warmup then --duration: payments/s and prepare latency p50/p99;
  - once the nodes converged, a second snapshot and restore: the transfers
    the traffic recorded are in it (the first size's are also in the second
    size's snapshots).`,
		Example: `  icn bench scale
  icn bench scale --coops 2000 --duration 5s --json`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(o.cpuProf, func() error { return o.run(cmd) })
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.coops, "coops", 10_000, "co-ops registered for the second measurement")
	f.IntVar(&o.small, "small", 20, "co-ops registered for the first measurement")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured window")
	f.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before each measured window, not counted")
	f.IntVar(&o.clients, "clients", 128, "concurrent clients, each with one command in flight")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object instead of a table")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of this process (clients and all nodes) to FILE")
	return cmd
}

// scalePhase is one size's measurements.
type scalePhase struct {
	Coops      int     `json:"coops"`
	TrustEdges int     `json:"trust_edges"` // co-op→federation and federation→co-op
	RegisterS  float64 `json:"register_s"`  // registering the co-ops added for this size
	// Memory after registration, before traffic: the whole process (three
	// nodes and the bench).
	HeapInuseMiB float64 `json:"heap_inuse_mib"`
	RSSMiB       float64 `json:"rss_mib"`
	RSSAnonMiB   float64 `json:"rss_anon_mib"` // of RSS: anonymous memory (Go heap, stacks, runtime)
	RSSFileMiB   float64 `json:"rss_file_mib"` // of RSS: mapped files (the nodes' bbolt files)

	Payments      int            `json:"payments"` // prepared and committed in the window
	PaymentsPerS  float64        `json:"payments_per_s"`
	PrepareP50Ms  float64        `json:"prepare_p50_ms"`
	PrepareP99Ms  float64        `json:"prepare_p99_ms"`
	PaymentP50Ms  float64        `json:"payment_p50_ms"` // prepare proposed to commit applied
	PaymentP99Ms  float64        `json:"payment_p99_ms"`
	BatchCommands float64        `json:"batch_commands"`
	Errors        int            `json:"errors"`
	ErrorKinds    map[string]int `json:"error_kinds,omitempty"`
	Converged     bool           `json:"converged"`

	// Snapshots right after registration and after the traffic.
	Registered scaleSnapshot `json:"snapshot_registered"`
	Loaded     scaleSnapshot `json:"snapshot_loaded"`
}

// scaleSnapshot is one raft snapshot on the leader and its restore.
type scaleSnapshot struct {
	Index     uint64  `json:"index"`
	Transfers int     `json:"transfers"` // transfer records the state holds (every decided and pending one)
	Bytes     int64   `json:"bytes"`
	Ms        float64 `json:"ms"`         // raft's user snapshot on the leader, to its file store
	RestoreMs float64 `json:"restore_ms"` // a fresh FSM restoring that snapshot
	HashOK    bool    `json:"hash_ok"`    // its state hash equals the leader's at the index
	StateHash string  `json:"state_hash"`
}

// benchScaleResult is what `icn bench scale --json` prints.
type benchScaleResult struct {
	Bench     string     `json:"bench"`
	Nodes     int        `json:"nodes"`
	Clients   int        `json:"clients"`
	WarmupS   float64    `json:"warmup_s"`
	DurationS float64    `json:"duration_s"`
	Small     scalePhase `json:"small"`
	Large     scalePhase `json:"large"`
	// Large over small.
	PrepareP50Ratio float64 `json:"prepare_p50_ratio"`
	PrepareP99Ratio float64 `json:"prepare_p99_ratio"`
	PaymentsRatio   float64 `json:"payments_per_s_ratio"`
	// HeapPerCoopNodeB is the heap growth per added co-op and node.
	HeapPerCoopNodeB float64 `json:"heap_per_coop_node_bytes"`
	SnapshotPerCoopB float64 `json:"snapshot_per_coop_bytes"`

	GoVersion   string `json:"go_version"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	Interrupted bool   `json:"interrupted,omitempty"`
}

func (o *benchScaleOpts) validate() error {
	switch {
	case o.small < 2:
		return errors.New("--small must be at least 2 (payments go between co-ops)")
	case o.coops <= o.small:
		return fmt.Errorf("--coops %d must be larger than --small %d", o.coops, o.small)
	case o.clients < 1:
		return errors.New("--clients must be at least 1")
	case o.duration <= 0:
		return errors.New("--duration must be positive, e.g. 10s")
	case o.warmup < 0:
		return errors.New("--warmup must not be negative")
	}
	return nil
}

// benchScaleNodes is the cluster's size: the smallest that tolerates a failure.
const benchScaleNodes = 3

func (o *benchScaleOpts) run(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	logw := cmd.ErrOrStderr()
	ctx, stopSignals := benchContext(cmd)
	defer stopSignals()

	dir, err := os.MkdirTemp("", "icn-bench-scale-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(logw, "starting a %d-node hub cluster on 127.0.0.1 in %s\n", benchScaleNodes, dir)
	c, err := startBenchCluster(dir, benchScaleNodes, 0, 0)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.waitLeader(ctx, 30*time.Second); err != nil {
		return err
	}

	res := benchScaleResult{Bench: "scale", Nodes: benchScaleNodes, Clients: o.clients,
		WarmupS: o.warmup.Seconds(), DurationS: o.duration.Seconds(),
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	var coops []identity.DID
	for i, size := range []int{o.small, o.coops} {
		p, err := o.phase(ctx, logw, c, &coops, size, filepath.Join(dir, fmt.Sprintf("restore-%d", i)))
		if ctx.Err() != nil {
			res.Interrupted = true
			if p.Payments == 0 {
				return errors.New("interrupted before a measurement finished")
			}
		}
		if err != nil {
			return err
		}
		if i == 0 {
			res.Small = p
		} else {
			res.Large = p
		}
		if res.Interrupted {
			break
		}
	}
	res.ratios()

	out := cmd.OutOrStdout()
	if o.jsonOut {
		err = json.NewEncoder(out).Encode(res)
	} else {
		err = printBenchScale(out, res)
	}
	if err != nil {
		return err
	}
	for _, p := range []scalePhase{res.Small, res.Large} {
		switch {
		case res.Interrupted:
		case p.Payments == 0:
			return fmt.Errorf("bench: no payment committed with %d co-ops; see the errors above", p.Coops)
		case !p.Registered.HashOK || !p.Loaded.HashOK:
			return fmt.Errorf("bench: with %d co-ops the restored FSM's state hash differs from the leader's", p.Coops)
		}
	}
	return nil
}

// phase grows the federation to size co-ops and measures it; restoreDir
// holds the fresh FSM the snapshot is restored into.
func (o *benchScaleOpts) phase(ctx context.Context, logw io.Writer, c *benchCluster, coops *[]identity.DID, size int, restoreDir string) (scalePhase, error) {
	p := scalePhase{Coops: size, TrustEdges: 2 * size}
	fmt.Fprintf(logw, "registering co-ops %d to %d\n", len(*coops)+1, size)
	start := time.Now()
	more, err := c.addCoops(ctx, len(*coops), size-len(*coops))
	if err != nil {
		return p, err
	}
	p.RegisterS = round2(time.Since(start).Seconds())
	*coops = append(*coops, more...)
	p.HeapInuseMiB, p.RSSMiB, p.RSSAnonMiB, p.RSSFileMiB = memoryNow()
	fmt.Fprintf(logw, "snapshot on the leader, restore into a fresh FSM\n")
	if err := snapshotRestore(c.leader.Load(), restoreDir, &p.Registered); err != nil {
		return p, err
	}

	fmt.Fprintf(logw, "%d co-ops, %d clients paying between random pairs: %s warmup, then %s measured\n",
		size, o.clients, o.warmup, o.duration)
	h := benchHubOpts{duration: o.duration, warmup: o.warmup, clients: o.clients, coops: size,
		nodes: benchScaleNodes, ids: "v7", randomPairs: true}
	m := h.measure(ctx, c, *coops)
	p.Payments, p.PaymentsPerS = m.Transfers, m.TransfersPerS
	p.PrepareP50Ms, p.PrepareP99Ms = m.PrepareP50Ms, m.PrepareP99Ms
	p.PaymentP50Ms, p.PaymentP99Ms = m.TransferP50Ms, m.TransferP99Ms
	p.BatchCommands, p.Errors, p.ErrorKinds = m.BatchCommands, m.Errors, m.ErrorKinds
	if ctx.Err() != nil {
		return p, nil
	}
	p.Converged, _ = c.converge(ctx, 30*time.Second)
	if !p.Converged {
		return p, fmt.Errorf("bench: with %d co-ops the nodes did not converge on one applied index and state hash", size)
	}
	fmt.Fprintf(logw, "snapshot on the leader, restore into a fresh FSM\n")
	return p, snapshotRestore(c.leader.Load(), restoreDir, &p.Loaded)
}

// memoryNow returns the Go heap in use and the process's resident set (all,
// anonymous, file-backed), in MiB, after a GC that returns free memory to
// the OS.
func memoryNow() (heap, rss, anon, file float64) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mib := func(b int64) float64 { return round2(float64(b) / (1 << 20)) }
	st := procStatus("VmRSS", "RssAnon", "RssFile")
	return mib(int64(ms.HeapInuse)), mib(st["VmRSS"]), mib(st["RssAnon"]), mib(st["RssFile"])
}

// procStatus reads the named kB fields of /proc/self/status, in bytes;
// none where there is no such file.
func procStatus(names ...string) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || !slices.Contains(names, string(name)) {
			continue
		}
		kb, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		out[string(name)] = kb << 10
	}
	return out
}

// snapshotRestore takes a raft snapshot on leader, restores it into a fresh
// FSM under dir and compares that FSM's state hash with the leader's at the
// snapshot's index. The leader may apply an entry of its own (a duty) while
// this runs; then the hashes are not comparable and it tries again.
func snapshotRestore(leader *hub.Node, dir string, p *scaleSnapshot) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		f := leader.Raft().Snapshot()
		if err := f.Error(); err != nil {
			return fmt.Errorf("bench: raft snapshot: %w", err)
		}
		p.Ms = millis(time.Since(start))
		want, err := leader.FSM().StateHash()
		if err != nil {
			return fmt.Errorf("bench: leader state hash: %w", err)
		}
		p.Transfers = 0
		if err := leader.FSM().ForEachTransfer(func(*icnv1.Transfer) error { p.Transfers++; return nil }); err != nil {
			return fmt.Errorf("bench: count transfers: %w", err)
		}
		meta, rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("bench: open snapshot: %w", err)
		}
		p.Index, p.Bytes = meta.Index, meta.Size
		moved := leader.FSM().AppliedIndex() != meta.Index
		if moved && attempt < 3 {
			rc.Close()
			continue
		}
		got, took, err := restoreInto(filepath.Join(dir, fmt.Sprintf("fsm-%d-%d.db", meta.Index, attempt)), rc, meta.Index)
		if err != nil {
			return err
		}
		p.RestoreMs = millis(took)
		p.HashOK = !moved && got == want
		p.StateHash = fmt.Sprintf("%x", got[:8])
		return nil
	}
}

// restoreInto restores rc into a new FSM at path and returns its state hash
// and how long the restore took; it fails if the FSM's applied index is not
// index afterwards.
func restoreInto(path string, rc io.ReadCloser, index uint64) (hash [32]byte, took time.Duration, err error) {
	f, err := fsm.OpenFSM(path)
	if err != nil {
		rc.Close()
		return hash, 0, fmt.Errorf("bench: open a fresh FSM: %w", err)
	}
	defer f.Close()
	start := time.Now()
	if err := f.Restore(rc); err != nil {
		return hash, 0, fmt.Errorf("bench: restore the snapshot: %w", err)
	}
	took = time.Since(start)
	if got := f.AppliedIndex(); got != index {
		return hash, took, fmt.Errorf("bench: restored FSM applied index %d, want the snapshot's %d", got, index)
	}
	hash, err = f.StateHash()
	if err != nil {
		return hash, took, fmt.Errorf("bench: restored state hash: %w", err)
	}
	return hash, took, nil
}

// ratios fills in the comparisons of the large size with the small one.
func (r *benchScaleResult) ratios() {
	s, l := r.Small, r.Large
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return round2(a / b)
	}
	r.PrepareP50Ratio = ratio(l.PrepareP50Ms, s.PrepareP50Ms)
	r.PrepareP99Ratio = ratio(l.PrepareP99Ms, s.PrepareP99Ms)
	r.PaymentsRatio = ratio(l.PaymentsPerS, s.PaymentsPerS)
	if added := float64(l.Coops - s.Coops); l.Coops > 0 && added > 0 {
		r.HeapPerCoopNodeB = round2((l.HeapInuseMiB - s.HeapInuseMiB) * (1 << 20) / added / float64(r.Nodes))
		// Both after registration, the first phase's transfers held by both.
		r.SnapshotPerCoopB = round2(float64(l.Registered.Bytes-s.Loaded.Bytes) / added)
	}
}

func printBenchScale(w io.Writer, r benchScaleResult) error {
	fmt.Fprintf(w, "icn bench scale: %d-node hub cluster in-process on 127.0.0.1 (TLS raft transport, on-disk stores), "+
		"%d clients paying between random co-op pairs, %gs per size after %gs warmup\n",
		r.Nodes, r.Clients, r.DurationS, r.WarmupS)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: figures cover the part that ran")
	}
	s, l := r.Small, r.Large
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(name, format string, a, b any, ratio string) {
		fmt.Fprintf(tw, "%s\t"+format+"\t"+format+"\t%s\t\n", name, a, b, ratio)
	}
	x := func(v float64) string { return fmt.Sprintf("%.2fx", v) }
	row("co-ops", "%d", s.Coops, l.Coops, "")
	row("trust edges", "%d", s.TrustEdges, l.TrustEdges, "")
	row("registration (s)", "%.2f", s.RegisterS, l.RegisterS, "")
	row("Go heap in use (MiB)", "%.1f", s.HeapInuseMiB, l.HeapInuseMiB, "")
	row("RSS (MiB)", "%.1f", s.RSSMiB, l.RSSMiB, "")
	row("  anonymous / files", "%s", fmt.Sprintf("%.0f / %.0f", s.RSSAnonMiB, s.RSSFileMiB),
		fmt.Sprintf("%.0f / %.0f", l.RSSAnonMiB, l.RSSFileMiB), "")
	row("payments/s", "%.0f", s.PaymentsPerS, l.PaymentsPerS, x(r.PaymentsRatio))
	row("prepare p50 (ms)", "%.2f", s.PrepareP50Ms, l.PrepareP50Ms, x(r.PrepareP50Ratio))
	row("prepare p99 (ms)", "%.2f", s.PrepareP99Ms, l.PrepareP99Ms, x(r.PrepareP99Ratio))
	row("payment p50 (ms)", "%.2f", s.PaymentP50Ms, l.PaymentP50Ms, "")
	row("payment p99 (ms)", "%.2f", s.PaymentP99Ms, l.PaymentP99Ms, "")
	row("commands per batch", "%.1f", s.BatchCommands, l.BatchCommands, "")
	row("errors", "%d", s.Errors, l.Errors, "")
	for _, snap := range []struct {
		when string
		s, l scaleSnapshot
	}{{"registered", s.Registered, l.Registered}, {"after traffic", s.Loaded, l.Loaded}} {
		row("snapshot, "+snap.when, "%s", "", "", "")
		row("  transfers held", "%d", snap.s.Transfers, snap.l.Transfers, "")
		row("  size (KiB)", "%.0f", float64(snap.s.Bytes)/1024, float64(snap.l.Bytes)/1024, "")
		row("  snapshot time (ms)", "%.1f", snap.s.Ms, snap.l.Ms, "")
		row("  restore time (ms)", "%.1f", snap.s.RestoreMs, snap.l.RestoreMs, "")
		row("  restored hash equal", "%v", snap.s.HashOK, snap.l.HashOK, "")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "per added co-op: %.0f B of heap per node, %.0f B of snapshot (after registration, against the first size after traffic)\n",
		r.HeapPerCoopNodeB, r.SnapshotPerCoopB)
	fmt.Fprintf(w, "runtime: %s, GOMAXPROCS %d; heap and RSS are the whole process (%d nodes and the clients)\n",
		r.GoVersion, r.GOMAXPROCS, r.Nodes)
	for _, p := range []scalePhase{s, l} {
		for k, n := range p.ErrorKinds {
			fmt.Fprintf(w, "errors with %d co-ops: %s %d\n", p.Coops, k, n)
		}
	}
	return nil
}
