package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/icn-coop/icn/devfed"
)

// Metric names icn bench cross reads from the nodes' /metrics.
const (
	sigMetric     = "icn_signature_verifications_total" // {component,kind}, co-op nodes and hub nodes
	decidedMetric = "icn_hub_routed_transfers_total"    // {outcome,reason}, hub nodes
	batchMetric   = "icn_ledger_commit_batch_size"      // histogram, co-op nodes: one sample per committed ledger transaction
)

// sigSnapshot sums the signature and routing counters of every node of a
// dev federation at one moment.
type sigSnapshot struct {
	sigs    map[string]float64 // "component/kind" → verifications
	decided float64            // transfers a hub decided for a co-op's prepare
	commits float64            // ledger transactions the co-op nodes committed
	writes  float64            // ledger writes (commands) in them
}

func (s sigSnapshot) total() float64 {
	var t float64
	for _, v := range s.sigs {
		t += v
	}
	return t
}

// metricsURLs lists the /metrics endpoints of every co-op node (its
// gateway) and every hub node in m.
func metricsURLs(m *devfed.Manifest) ([]string, error) {
	var urls []string
	for _, c := range m.Coops {
		urls = append(urls, strings.TrimSuffix(c.GatewayURL, "/")+"/metrics")
	}
	hubs := m.Hubs
	if len(hubs) == 0 && m.Hub != nil {
		hubs = []*devfed.ManifestHub{m.Hub}
	}
	for _, h := range hubs {
		for _, n := range h.Nodes {
			if n.HTTP == "" {
				return nil, fmt.Errorf("hub node %s has no HTTP address in dev.json", n.DID)
			}
			urls = append(urls, "http://"+n.HTTP+"/metrics")
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("dev.json lists no nodes")
	}
	return urls, nil
}

// scrapeSigs reads every node's counters, all at once. Every node must
// export icn_signature_verifications_total.
func scrapeSigs(ctx context.Context, hc *http.Client, urls []string) (sigSnapshot, error) {
	snap := sigSnapshot{sigs: map[string]float64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(urls))
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := scrapeOne(ctx, hc, u)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", u, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range s.sigs {
				snap.sigs[k] += v
			}
			snap.decided += s.decided
			snap.commits += s.commits
			snap.writes += s.writes
		}()
	}
	wg.Wait()
	return snap, errors.Join(errs...)
}

func scrapeOne(ctx context.Context, hc *http.Client, url string) (sigSnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sigSnapshot{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return sigSnapshot{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sigSnapshot{}, fmt.Errorf("HTTP %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return sigSnapshot{}, err
	}
	sigs, ok := fams[sigMetric]
	if !ok {
		return sigSnapshot{}, fmt.Errorf("no %s (a node older than this icn?)", sigMetric)
	}
	s := sigSnapshot{sigs: map[string]float64{}}
	for _, m := range sigs.GetMetric() {
		var comp, kind string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "component":
				comp = l.GetValue()
			case "kind":
				kind = l.GetValue()
			}
		}
		s.sigs[comp+"/"+kind] += m.GetCounter().GetValue()
	}
	for _, m := range fams[decidedMetric].GetMetric() {
		s.decided += m.GetCounter().GetValue()
	}
	for _, m := range fams[batchMetric].GetMetric() {
		s.commits += float64(m.GetHistogram().GetSampleCount())
		s.writes += m.GetHistogram().GetSampleSum()
	}
	return s, nil
}

// sigMeter measures the signature verifications per payment of a bench
// run from the nodes' counters.
type sigMeter struct {
	hc     *http.Client
	urls   []string
	before sigSnapshot
}

// startSigMeter reads the counters before the load starts, while the
// federation is idle.
func startSigMeter(ctx context.Context, m *devfed.Manifest) (*sigMeter, error) {
	urls, err := metricsURLs(m)
	if err != nil {
		return nil, err
	}
	sm := &sigMeter{hc: &http.Client{Timeout: 5 * time.Second}, urls: urls}
	if sm.before, err = scrapeSigs(ctx, sm.hc, urls); err != nil {
		return nil, err
	}
	return sm, nil
}

// finish reads the counters once the load has stopped, waiting until they
// stand still (a payment answered pending is finished by the reconcilers),
// and fills in res: verifications per decided payment, in all and by
// component and kind.
func (sm *sigMeter) finish(ctx context.Context, res *benchCoopResult) error {
	after, err := scrapeSigs(ctx, sm.hc, sm.urls)
	for i := 0; err == nil && i < 20; i++ {
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		var again sigSnapshot
		if again, err = scrapeSigs(ctx, sm.hc, sm.urls); err == nil && again.total() == after.total() && again.decided == after.decided {
			break
		}
		after = again
	}
	if err != nil {
		return err
	}
	decided := after.decided - sm.before.decided
	if decided <= 0 {
		return errors.New("the hubs decided no payment during the run")
	}
	res.PaymentsDecided = int64(decided)
	res.SignatureVerifications = int64(after.total() - sm.before.total())
	res.VerificationsPerPayment = round2(float64(res.SignatureVerifications) / decided)
	if commits := after.commits - sm.before.commits; commits > 0 {
		res.LedgerCommitsPerPayment = round2(commits / decided)
		res.LedgerWritesPerCommit = round2((after.writes - sm.before.writes) / commits)
	}
	res.VerificationsBy = map[string]float64{}
	for k, v := range after.sigs {
		if d := v - sm.before.sigs[k]; d > 0 {
			res.VerificationsBy[k] = round2(d / decided)
		}
	}
	return nil
}

// verificationsLine is the table output's line about signatures.
func verificationsLine(r benchCoopResult) string {
	if r.PaymentsDecided == 0 {
		return "signature verifications per payment: not measured"
	}
	keys := make([]string, 0, len(r.VerificationsBy))
	for k := range r.VerificationsBy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.2f", k, r.VerificationsBy[k])
	}
	line := fmt.Sprintf("signature verifications per payment: %.2f (%d over %d payments decided; %s)",
		r.VerificationsPerPayment, r.SignatureVerifications, r.PaymentsDecided, strings.Join(parts, ", "))
	if r.LedgerCommitsPerPayment > 0 {
		line += fmt.Sprintf("\nco-op ledger transactions (fsync'd) per payment: %.2f, %.2f writes each", r.LedgerCommitsPerPayment, r.LedgerWritesPerCommit)
	}
	return line
}
