// Package diskstat exports the free and total space of the file system
// that holds a node's data directory, so that an alert can fire before a
// full disk stops the raft log or the ledger (which then refuse writes).
package diskstat

import "github.com/prometheus/client_golang/prometheus"

var (
	freeDesc = prometheus.NewDesc("icn_data_dir_free_bytes",
		"Bytes available to the node on the file system of its data directory.", nil, nil)
	sizeDesc = prometheus.NewDesc("icn_data_dir_size_bytes",
		"Size in bytes of the file system of the node's data directory.", nil, nil)
)

// Collector reports the space of the file system holding dir at each scrape.
type Collector struct{ dir string }

// New returns a collector for dir.
func New(dir string) *Collector { return &Collector{dir: dir} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- freeDesc
	ch <- sizeDesc
}

// Collect implements prometheus.Collector; a file system it cannot read
// (or an OS without statfs) yields no samples.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	free, size, ok := space(c.dir)
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(freeDesc, prometheus.GaugeValue, float64(free))
	ch <- prometheus.MustNewConstMetric(sizeDesc, prometheus.GaugeValue, float64(size))
}
