package hub

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/internal/diskstat"
	"github.com/icn-coop/icn/settlement"
)

// OpsCollectors are the collectors the alert rules (deploy/prometheus) need
// beyond Collectors: settlement periods that are closed but not final, and
// the space left on the data directory's file system.
func (n *Node) OpsCollectors() []prometheus.Collector {
	return []prometheus.Collector{&settlementCollector{n: n, now: time.Now}, diskstat.New(n.cfg.DataDir)}
}

var (
	unfinalDesc = prometheus.NewDesc("icn_hub_settlement_unfinal_periods",
		"Closed settlement periods whose report a quorum of hub nodes has not signed yet.", nil, nil)
	unfinalAgeDesc = prometheus.NewDesc("icn_hub_settlement_oldest_unfinal_seconds",
		"Seconds since the oldest closed, not yet final period closed (0: none).", nil, nil)
	overdueDesc = prometheus.NewDesc("icn_hub_settlement_overdue_instructions",
		"Settlement instructions past their period's deadline and not confirmed by their payee.", nil, nil)
)

// settlementCollector reads the periods from the node's state at each scrape.
type settlementCollector struct {
	n   *Node
	now func() time.Time
}

func (c *settlementCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- unfinalDesc
	ch <- unfinalAgeDesc
	ch <- overdueDesc
}

func (c *settlementCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	ps, err := c.n.Periods(context.Background(), now)
	if err != nil {
		c.n.log.Warn("metrics: settlement periods", "err", err)
		return
	}
	var unfinal, overdue int
	var oldest time.Duration
	for _, p := range ps {
		overdue += p.Overdue
		if p.State != settlement.StateClosed {
			continue
		}
		unfinal++
		oldest = max(oldest, now.Sub(time.Unix(0, p.ClosedAt)))
	}
	ch <- prometheus.MustNewConstMetric(unfinalDesc, prometheus.GaugeValue, float64(unfinal))
	ch <- prometheus.MustNewConstMetric(unfinalAgeDesc, prometheus.GaugeValue, oldest.Seconds())
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(overdue))
}
