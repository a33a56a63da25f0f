package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/routing"
)

type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	rateLimited prometheus.Counter
	// classRefusals counts refusals by a trust class's policy
	// (icn_trust_class_refusals_total{class,kind}, classes.go).
	classRefusals *prometheus.CounterVec
	// refreshReused counts refresh tokens presented a second time (each
	// revoked its session family): a leaked token, or a confused client.
	refreshReused prometheus.Counter
	wsConns       prometheus.Gauge
	ledgerTx      prometheus.Counter
	batchSize     prometheus.Histogram
	// sigs counts the Ed25519 verifications of payment intents
	// (icn_signature_verifications_total{component="gateway"}).
	sigs *routing.SignatureCounter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icn_gateway_requests_total", Help: "Wallet API requests by route and HTTP status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "icn_gateway_request_duration_seconds", Help: "Wallet API request latency by route.",
			// Up to 30 s: a payment to another co-op waits up to 10 s for the
			// hub, and the payment-latency alert asks whether p99 passes 5 s.
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "icn_gateway_rate_limited_total", Help: "Requests refused with 429.",
		}),
		refreshReused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "icn_gateway_refresh_reused_total", Help: "Refresh tokens used a second time; each revoked its session family.",
		}),
		wsConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "icn_gateway_ws_connections", Help: "Open event-feed WebSocket connections.",
		}),
		ledgerTx: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "icn_ledger_transactions_total", Help: "Ledger writes committed.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "icn_ledger_commit_batch_size", Help: "Writes sharing one ledger transaction and fsync.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		sigs: routing.NewSignatureCounter("gateway", routing.SignedIntent),
	}
	reg.MustRegister(m.requests, m.latency, m.rateLimited, m.refreshReused, m.wsConns, m.ledgerTx, m.batchSize, m.sigs)
	m.classRefusals = newClassRefusals(reg)
	return m
}

func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	if status == 0 {
		status = 200
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observeBatch(n int) {
	m.ledgerTx.Add(float64(n))
	m.batchSize.Observe(float64(n))
}
