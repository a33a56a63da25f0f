package hub

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a hub node's Prometheus collectors. Register them with
// Collectors on the process's registry (one per node in tests).
type Metrics struct {
	raftState      prometheus.Gauge
	applyLatency   prometheus.Histogram
	batchSize      prometheus.Histogram
	commands       prometheus.Counter
	proposeLatency prometheus.Histogram
	// Settlement report signatures this node submitted and had accepted,
	// and those refused because its report differs from the signed one.
	reportSignatures prometheus.Counter
	reportMismatches prometheus.Counter
}

func newMetrics() *Metrics {
	buckets := prometheus.ExponentialBuckets(0.0001, 2, 16) // 0.1 ms .. 3.3 s
	return &Metrics{
		raftState: prometheus.NewGauge(prometheus.GaugeOpts{Name: "icn_hub_raft_leader",
			Help: "1 while this node is the raft leader, else 0."}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "icn_hub_fsm_apply_seconds",
			Help: "Time to apply one batch of log entries to the state machine.", Buckets: buckets}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "icn_hub_fsm_batch_commands",
			Help: "Commands per applied batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{Name: "icn_hub_fsm_commands_total",
			Help: "Commands applied to the state machine."}),
		proposeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "icn_hub_command_latency_seconds",
			Help: "Time from proposing a command on the leader to its result (commit + apply).", Buckets: buckets}),
		reportSignatures: prometheus.NewCounter(prometheus.CounterOpts{Name: "icn_hub_report_signatures_total",
			Help: "Settlement report signatures this node submitted and the cluster accepted."}),
		reportMismatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "icn_hub_report_mismatches_total",
			Help: "This node's settlement reports refused because they differ from the signed report (divergent state: alert on any)."}),
	}
}

func (m *Metrics) observeBatch(n int, took time.Duration) {
	m.applyLatency.Observe(took.Seconds())
	m.batchSize.Observe(float64(n))
	m.commands.Add(float64(n))
}

func (m *Metrics) setLeader(leader bool) {
	if leader {
		m.raftState.Set(1)
	} else {
		m.raftState.Set(0)
	}
}

// Collectors returns every collector of the node, including raft's applied
// and commit indexes and term.
func (n *Node) Collectors() []prometheus.Collector {
	m := n.metrics
	idx := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	return []prometheus.Collector{m.raftState, m.applyLatency, m.batchSize, m.commands, m.proposeLatency,
		m.reportSignatures, m.reportMismatches,
		idx("icn_hub_raft_applied_index", "Last log index applied to the state machine.", n.fsm.AppliedIndex),
		idx("icn_hub_raft_commit_index", "Last log index known committed.", n.raft.CommitIndex),
		idx("icn_hub_raft_term", "Current raft term.", n.raft.CurrentTerm),
		idx("icn_hub_raft_last_snapshot_index", "Index of the last snapshot.", func() uint64 { i, _ := lastSnapshot(n.raft); return i }),
	}
}
