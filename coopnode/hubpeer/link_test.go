package hubpeer

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/testutil"
	"github.com/icn-coop/icn/routing"
)

// logRecord is one captured log line.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// captureLog is a slog.Handler that keeps every record (Debug and up).
type captureLog struct {
	mu    *sync.Mutex
	recs  *[]logRecord
	attrs []slog.Attr
}

func newCaptureLog() *captureLog { return &captureLog{mu: &sync.Mutex{}, recs: &[]logRecord{}} }

func (h *captureLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureLog) WithGroup(string) slog.Handler            { return h }
func (h *captureLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureLog{mu: h.mu, recs: h.recs, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *captureLog) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

// above returns the records at level Info or higher whose message contains sub.
func (h *captureLog) above(sub string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range *h.recs {
		if r.level >= slog.LevelInfo && strings.Contains(r.msg, sub) {
			out = append(out, r)
		}
	}
	return out
}

// warnings returns every record at level Warn or higher.
func (h *captureLog) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range *h.recs {
		if r.level >= slog.LevelWarn {
			out = append(out, r.msg)
		}
	}
	return out
}

// gauges reads the client's link metrics.
func gauges(t *testing.T, c *Client) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collectors()...)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		out[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
	}
	return out
}

func wantGauges(t *testing.T, c *Client, connected, registered, open float64) {
	t.Helper()
	g := gauges(t, c)
	if g["icn_hubpeer_connected"] != connected || g["icn_hubpeer_registered"] != registered || g["icn_hubpeer_open_transfers"] != open {
		t.Errorf("metrics %v, want connected %v registered %v open_transfers %v", g, connected, registered, open)
	}
}

// TestLinkStateLoggedOncePerChange follows a co-op node whose hub first
// refuses it (not registered yet), then admits it, then goes away. Each
// change is logged once at Info or Warn however many attempts fail, and the
// state shows in Link() and the icn_hubpeer_* metrics. Before, the link
// logged nothing above Debug and exported no state.
func TestLinkStateLoggedOncePerChange(t *testing.T) {
	var admit atomic.Bool
	hub := startStubHubAdmitting(t, func(identity.DID) bool { return admit.Load() })
	close(hub.release)
	led, payer, payee := payerLedger(t)
	tr, _ := heldTransfer(t, payer, payee.DID())
	if _, err := led.Hold(context.Background(), tr); err != nil { // open before the start: the hub finishes it
		t.Fatal(err)
	}
	logs := newCaptureLog()
	self := key(t)
	c, err := Start(Config{CoopID: "coop-a", Key: self, Hubs: []Hub{{DID: hub.key.DID(), Addr: hub.addr}},
		Federation: key(t).DID(), Ledger: led, Members: signers{}, Logger: slog.New(logs),
		ReconcileEvery: time.Hour, StatementsEvery: time.Hour, LinkLogEvery: time.Hour,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Transport: routing.Options{HandshakeTimeout: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	// Refused: one warning, however many attempts.
	testutil.WaitFor(t, 10*time.Second, "five refused attempts", func() bool { return c.Link().Attempts >= 5 })
	if l := c.Link(); l.State != LinkRefused || l.Registered || l.LastError == "" {
		t.Errorf("link while refused: %+v", l)
	}
	if w := logs.warnings(); len(w) != 1 || !strings.Contains(w[0], "refuses this node") {
		t.Errorf("warnings while refused: %q, want one saying the hub refuses this node", w)
	}
	if r := logs.above("refuses"); len(r) == 1 && r[0].attrs["did"] != string(self.DID()) {
		t.Errorf("the refusal does not name this node's DID: %v", r[0].attrs)
	}
	wantGauges(t, c, 0, 0, 1)

	// Registered: connected, once; the reconciler finds the leader.
	admit.Store(true)
	testutil.WaitFor(t, 10*time.Second, "connected", func() bool { return c.Link().State == LinkConnected })
	testutil.WaitFor(t, 10*time.Second, "the leader known and the open transfer finished", func() bool {
		n, _ := led.OpenCount()
		return c.Link().Leader == hub.key.DID() && n == 0
	})
	if l := c.Link(); l.Hub != hub.key.DID() || !l.Registered || l.Attempts != 0 || l.Addr != hub.addr {
		t.Errorf("link while connected: %+v", l)
	}
	if r := logs.above("connected to hub"); len(r) != 1 || r[0].attrs["failed_attempts"] == "" {
		t.Errorf("connected log lines: %+v, want one, with the failed attempts", r)
	}
	wantGauges(t, c, 1, 1, 0)

	// Lost: one warning; the failed redials after it add none.
	hub.stop()
	testutil.WaitFor(t, 10*time.Second, "three failed redials", func() bool {
		l := c.Link()
		return l.State == LinkDisconnected && l.Attempts >= 3
	})
	if w := logs.warnings(); len(w) != 2 || !strings.Contains(w[1], "lost connection") {
		t.Errorf("warnings after the hub went away: %q, want the refusal and one lost connection", w)
	}
	wantGauges(t, c, 0, 1, 0)
}

// TestLinkDownSummarised: a hub that stays unreachable is logged when it
// becomes so, then summarised with the count of failed attempts at most once
// per LinkLogEvery, not once per attempt.
func TestLinkDownSummarised(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		want  func(n int) bool // how many "still unreachable" lines, given attempts
	}{
		{"bounded", time.Hour, func(n int) bool { return n == 0 }},
		{"summarised", time.Nanosecond, func(n int) bool { return n >= 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			led, _, _ := payerLedger(t)
			hub := startStubHub(t)
			addr := hub.addr
			hub.stop() // nothing listens there any more
			logs := newCaptureLog()
			c, err := Start(Config{CoopID: "coop-a", Key: key(t), Hubs: []Hub{{DID: hub.key.DID(), Addr: addr}},
				Federation: key(t).DID(), Ledger: led, Members: signers{}, Logger: slog.New(logs),
				ReconcileEvery: time.Hour, StatementsEvery: time.Hour, LinkLogEvery: tc.every,
				MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
				Transport: routing.Options{HandshakeTimeout: 100 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			testutil.WaitFor(t, 20*time.Second, "four failed attempts", func() bool { return c.Link().Attempts >= 4 })
			_ = c.Close() // no more attempts while the logs are read
			if first := logs.above("hub unreachable"); len(first) != 1 {
				t.Errorf("%d lines saying the hub is unreachable, want 1", len(first))
			}
			still := logs.above("still unreachable")
			if !tc.want(len(still)) {
				t.Errorf("%d summaries after %d attempts", len(still), c.Link().Attempts)
			}
			for _, r := range still {
				if r.attrs["failed_attempts"] == "" || r.level != slog.LevelWarn {
					t.Errorf("summary %+v lacks the count of failed attempts", r)
				}
			}
			if l := c.Link(); l.State != LinkDisconnected || l.Registered {
				t.Errorf("link %+v", l)
			}
		})
	}
}

// TestOpenCountMetricMatchesLedger: icn_hubpeer_open_transfers counts the
// ledger's open two-phase payments.
func TestOpenCountMetricMatchesLedger(t *testing.T) {
	c := testClient(t)
	c.link = newLink(c.cfg.Key.DID(), slog.New(newCaptureLog()), time.Now, 0)
	ctx := context.Background()
	for i, id := range []string{"in-1", "in-2"} {
		tr := ledger.Transfer{ID: id, From: c.clearing, To: ledger.Account(key(t).DID()), FromCoop: "x", ToCoop: "coop-b",
			Amount: hours(t, "1.00"), CreatedAt: time.Now()}
		if _, err := c.cfg.Ledger.CreditPending(ctx, tr); err != nil {
			t.Fatal(err)
		}
		wantGauges(t, c, 0, 0, float64(i+1))
	}
	if _, err := c.cfg.Ledger.CommitCredit(ctx, "in-1"); err != nil {
		t.Fatal(err)
	}
	wantGauges(t, c, 0, 0, 1)
}
