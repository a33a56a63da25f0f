package dataplane

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icn-coop/icn/hub/fsm"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
	"github.com/icn-coop/icn/trust"
)

// fakeClock is a clock that moves only when a test moves it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// classHarness is a one-node hub with its data plane on a fake clock.
type classHarness struct {
	t     *testing.T
	n     *fakeCluster
	fed   *identity.Key
	d     *Plane
	clock *fakeClock
	reg   *prometheus.Registry
}

func newClassHarness(t *testing.T, policies *trust.Policies) *classHarness {
	t.Helper()
	n := newFakeCluster(t)
	clock := newFakeClock()
	d, err := Start(n, "127.0.0.1:0", Options{Clock: clock.Now, Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.Collectors()...)
	return &classHarness{t: t, n: n, fed: n.fed, d: d, clock: clock, reg: reg}
}

// coop registers a co-op whose federation trust is w ("" for none) and
// connects to the data plane as it.
func (h *classHarness) coop(w string) (*identity.Key, *routing.Conn) {
	h.t.Helper()
	k := newKey(h.t)
	ctx := context.Background()
	mustPropose(h.t, ctx, h.n, cmdRegister(k, "coop-"+w))
	if w != "" {
		h.trust(k, w)
	}
	c, err := routing.Dial(ctx, h.d.Addr(), k, h.n.Key().DID(), routing.Options{Role: icnv1.NodeRole_NODE_ROLE_COOP})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return k, c
}

func (h *classHarness) trust(k *identity.Key, w string) {
	h.t.Helper()
	mustPropose(h.t, context.Background(), h.n, cmdTrust(h.t, h.fed, k.DID(), w, time.Now().UnixNano()))
}

// refusals reads icn_trust_class_refusals_total{class,kind}.
func (h *classHarness) refusals(class, kind string) float64 {
	h.t.Helper()
	fams, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "icn_trust_class_refusals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["class"] == class && got["kind"] == kind {
				return m.GetCounter().GetValue()
			}
		}
	}
	h.t.Fatalf("no icn_trust_class_refusals_total{class=%q,kind=%q}", class, kind)
	return 0
}

func call(t *testing.T, c *routing.Conn, req *icnv1.Envelope) *icnv1.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp icnv1.Envelope
	if err := c.Call(ctx, req, &resp); err != nil {
		t.Fatalf("call %s: %v", routing.MessageType(req), err)
	}
	return &resp
}

func pingReq() *icnv1.Envelope {
	return &icnv1.Envelope{Body: &icnv1.Envelope_Ping{Ping: &icnv1.Ping{Nonce: 7}}}
}

// prepareOf is a prepare from k whose intent payload is n bytes (not a
// valid intent: the hub refuses it, after the class checks, as one).
func prepareOf(k *identity.Key, n int) *icnv1.Envelope {
	return &icnv1.Envelope{Body: &icnv1.Envelope_Prepare{Prepare: &icnv1.TransferPrepare{
		TransferId: "t-big", FromCoop: string(k.DID()), ToCoop: "elsewhere", Currency: "hours", AmountUnits: 1,
		Intent: &icnv1.SignedMessage{Payload: []byte(strings.Repeat("x", n)), Signer: string(k.DID()), Signature: make([]byte, 64)}}}}
}

// TestDataPlaneClassRate: a participant gets its class's burst of requests
// at once, every stream it opens counting (pings, prepares, queries); the
// next is refused with rate_limited, naming the class, and counted per
// class; the budget refills at the class's rate. A federation's configured
// policy replaces the seed's table.
func TestDataPlaneClassRate(t *testing.T) {
	t.Parallel()
	fedFive := trust.DefaultPolicies()
	fedFive[trust.ClassFederated].RequestsPerSecond, fedFive[trust.ClassFederated].Burst = 5, 5
	for _, tc := range []struct {
		name     string
		weight   string // the federation's trust in the co-op
		policies *trust.Policies
		class    string
		burst    int
		refill   time.Duration // one request's worth
	}{
		{"no trust", "", nil, "isolated", 10, 100 * time.Millisecond},
		{"isolated", "0.05", nil, "isolated", 10, 100 * time.Millisecond},
		{"known", "0.2", nil, "known", 50, 20 * time.Millisecond},
		{"federated as configured", "1", &fedFive, "federated", 5, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newClassHarness(t, tc.policies)
			k, c := h.coop(tc.weight)
			for i := 0; i < tc.burst; i++ {
				var req *icnv1.Envelope
				switch i % 3 {
				case 0:
					req = pingReq()
				case 1:
					req = &icnv1.Envelope{Body: &icnv1.Envelope_OutcomeQuery{OutcomeQuery: &icnv1.OutcomeQuery{TransferIds: []string{"x"}}}}
				default:
					req = prepareOf(k, 10)
				}
				if e := call(t, c, req).GetError(); e.GetCode() == ReplyRateLimited {
					t.Fatalf("request %d of a burst of %d refused: %s", i+1, tc.burst, e.GetMessage())
				}
			}
			for _, req := range []*icnv1.Envelope{pingReq(), prepareOf(k, 10)} {
				e := call(t, c, req).GetError()
				if e.GetCode() != ReplyRateLimited || !strings.Contains(e.GetMessage(), "trust class "+tc.class) {
					t.Fatalf("%s over the burst: %v, want %s naming class %s", routing.MessageType(req), e, ReplyRateLimited, tc.class)
				}
			}
			if got := h.refusals(tc.class, "rate"); got != 2 {
				t.Errorf("refusals{%s,rate} = %v, want 2", tc.class, got)
			}
			h.clock.Advance(tc.refill)
			if resp := call(t, c, pingReq()); resp.GetPong() == nil {
				t.Fatalf("after %v: %v, want a pong", tc.refill, resp)
			}
			if e := call(t, c, pingReq()).GetError(); e.GetCode() != ReplyRateLimited {
				t.Fatalf("the refill gave more than one request: %v", e)
			}
		})
	}
}

// TestDataPlaneClassPayload: a frame over the sender's class's payload cap
// is refused with payload_too_large (counted per class) while one under it
// is read and checked as usual; the connection stays up, and a higher
// trust set meanwhile raises the cap on the same connection.
func TestDataPlaneClassPayload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		weight, class string
		cap           int
	}{
		{"0.05", "isolated", 1 << 10},
		{"0.2", "known", 10 << 10},
	} {
		t.Run(tc.class, func(t *testing.T) {
			t.Parallel()
			h := newClassHarness(t, nil)
			k, c := h.coop(tc.weight)
			under := call(t, c, prepareOf(k, tc.cap-300)).GetError()
			if under == nil || under.GetCode() == ReplyPayloadTooLarge {
				t.Fatalf("a prepare under the %d-byte cap: %v, want it checked (and refused as an intent)", tc.cap, under)
			}
			over := call(t, c, prepareOf(k, tc.cap+100)).GetError()
			if over.GetCode() != ReplyPayloadTooLarge || !strings.Contains(over.GetMessage(), "trust class "+tc.class) {
				t.Fatalf("a prepare over the %d-byte cap: %v, want %s naming class %s", tc.cap, over, ReplyPayloadTooLarge, tc.class)
			}
			if got := h.refusals(tc.class, "payload"); got != 1 {
				t.Errorf("refusals{%s,payload} = %v, want 1", tc.class, got)
			}
			if resp := call(t, c, pingReq()); resp.GetPong() == nil {
				t.Fatalf("ping after the refusal: %v", resp)
			}
			h.trust(k, "0.9")
			if e := call(t, c, prepareOf(k, tc.cap+100)).GetError(); e == nil || e.GetCode() == ReplyPayloadTooLarge {
				t.Fatalf("after the trust rose to federated: %v, want the prepare read", e)
			}
			if got := h.refusals("federated", "payload"); got != 0 {
				t.Errorf("refusals{federated,payload} = %v, want 0", got)
			}
		})
	}
}

// TestClassRefusalsExportedAtZero: every class and kind of
// icn_trust_class_refusals_total exists at 0 before any traffic.
func TestClassRefusalsExportedAtZero(t *testing.T) {
	t.Parallel()
	h := newClassHarness(t, nil)
	fams, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if f.GetName() != "icn_trust_class_refusals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%v = %v before any traffic", m.GetLabel(), v)
			}
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got = append(got, strings.Join(ls, ","))
		}
	}
	var want []string
	for _, c := range []string{"federated", "isolated", "known", "partner"} {
		for _, k := range []string{"payload", "rate"} {
			want = append(want, "class="+c+",kind="+k)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}

// BenchmarkClassGate is the data plane's per-request cost of the trust
// class, from many goroutines at once: the class lookup (trust unchanged)
// and one request spent from a budget that never runs out.
func BenchmarkClassGate(b *testing.B) {
	fsm, err := fsm.OpenFSM(b.TempDir() + "/fsm.db")
	if err != nil {
		b.Fatal(err)
	}
	defer fsm.Close()
	ps := trust.DefaultPolicies()
	ps[trust.ClassIsolated].RequestsPerSecond, ps[trust.ClassIsolated].Burst = 1e9, 1e9
	g := newClassGates(fsm, ps, time.Now)
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	did := k.DID()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cg, class, pol := g.gate(did)
			if g.allow(cg, class, pol) != nil {
				b.Fatal("refused")
			}
		}
	})
}
