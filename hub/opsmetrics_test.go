package hub

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func gauges(t *testing.T, cs ...prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	return out
}

// TestSettlementCollector: a closed period no node has signed counts as
// not final, aged from its close; once the nodes sign, none is.
func TestSettlementCollector(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SignEvery = time.Hour })
	_, l := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	col := &settlementCollector{n: l, now: time.Now}
	if g := gauges(t, col); g["icn_hub_settlement_unfinal_periods"] != 0 || g["icn_hub_settlement_oldest_unfinal_seconds"] != 0 {
		t.Fatalf("no closed period: %v", g)
	}
	if _, err := l.ClosePeriod(ctx, 0, ""); err != nil {
		t.Fatal(err)
	}
	col.now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	g := gauges(t, col)
	if g["icn_hub_settlement_unfinal_periods"] != 1 || g["icn_hub_settlement_oldest_unfinal_seconds"] < 600 || g["icn_hub_settlement_oldest_unfinal_seconds"] > 700 {
		t.Fatalf("one unsigned closed period, 10 minutes on: %v", g)
	}
	// The nodes sign (as their sign loop would).
	for _, n := range c.nodes {
		waitFor(t, 10*time.Second, "a node's signature", func() bool { return n.signPeriod(ctx, 1) == nil })
	}
	waitFor(t, 10*time.Second, "period 1 final", func() bool {
		return gauges(t, col)["icn_hub_settlement_unfinal_periods"] == 0
	})
	if g := gauges(t, l.OpsCollectors()...); g["icn_data_dir_size_bytes"] <= 0 {
		t.Errorf("disk gauges: %v", g)
	}
}
