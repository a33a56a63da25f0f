package routing

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/proto/icnv1"
)

// Direction says whether a message was sent or received.
type Direction string

// The directions a message is counted in.
const (
	Sent     Direction = "sent"
	Received Direction = "received"
)

// Counters is told about every message framed on a stream of a connection
// (Options.Counters). Implementations must be safe for concurrent use and
// fast: they run on the sending and receiving paths.
type Counters interface {
	// Message counts one message. typ is the Envelope body's field name
	// ("hello", "prepare", "accept", ...; "empty" or "unknown" for an
	// envelope without a body this version knows), or the message's name
	// for other message types.
	Message(dir Direction, typ string)
}

// MessageCounter counts messages as the Prometheus counter
// icn_routing_messages_total{direction,type}. It is a prometheus.Collector:
// register it on the process's registry and pass it as Options.Counters.
type MessageCounter struct {
	vec *prometheus.CounterVec
}

// NewMessageCounter returns an unregistered MessageCounter.
func NewMessageCounter() *MessageCounter {
	return &MessageCounter{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icn_routing_messages_total",
		Help: "Data-plane messages sent and received, by direction and type.",
	}, []string{"direction", "type"})}
}

// Message implements Counters.
func (m *MessageCounter) Message(dir Direction, typ string) {
	m.vec.WithLabelValues(string(dir), typ).Inc()
}

// Describe implements prometheus.Collector.
func (m *MessageCounter) Describe(ch chan<- *prometheus.Desc) { m.vec.Describe(ch) }

// Collect implements prometheus.Collector.
func (m *MessageCounter) Collect(ch chan<- prometheus.Metric) { m.vec.Collect(ch) }

// Kinds of signed message a SignatureCounter counts.
const (
	SignedIntent  = "intent"  // a member's payment intent
	SignedReceipt = "receipt" // a co-op's (or federation's) signed answer to a prepare
)

// SignatureCounter counts Ed25519 signature verifications on the payment
// path as the Prometheus counter
// icn_signature_verifications_total{component,kind}. Each component that
// verifies (the gateway, the hub's data plane, the co-op's hub peer) has
// its own, labelled with its name; several can share one registry. Every
// attempt counts, failed ones included. It is a prometheus.Collector.
type SignatureCounter struct {
	vec *prometheus.CounterVec
}

// NewSignatureCounter returns an unregistered SignatureCounter for
// component, with the given kinds at zero so that they are exported before
// the first verification.
func NewSignatureCounter(component string, kinds ...string) *SignatureCounter {
	s := &SignatureCounter{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "icn_signature_verifications_total",
		Help:        "Ed25519 signature verifications attempted on the payment path, by component and kind of signed message.",
		ConstLabels: prometheus.Labels{"component": component},
	}, []string{"kind"})}
	for _, k := range kinds {
		s.vec.WithLabelValues(k)
	}
	return s
}

// Inc counts one verification of a message of kind.
func (s *SignatureCounter) Inc(kind string) { s.vec.WithLabelValues(kind).Inc() }

// Describe implements prometheus.Collector.
func (s *SignatureCounter) Describe(ch chan<- *prometheus.Desc) { s.vec.Describe(ch) }

// Collect implements prometheus.Collector.
func (s *SignatureCounter) Collect(ch chan<- prometheus.Metric) { s.vec.Collect(ch) }

var envelopeBody = (&icnv1.Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("body")

// MessageType names m for Counters.
func MessageType(m proto.Message) string {
	env, ok := m.(*icnv1.Envelope)
	if !ok {
		return string(m.ProtoReflect().Descriptor().Name())
	}
	r := env.ProtoReflect()
	if fd := r.WhichOneof(envelopeBody); fd != nil {
		return string(fd.Name())
	}
	if len(r.GetUnknown()) > 0 {
		return "unknown"
	}
	return "empty"
}
