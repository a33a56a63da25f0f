package trust

import (
	"errors"
	"fmt"
)

// Class is a band of trust that decides what a participant may do.
type Class int

// The classes, in increasing trust: Isolated < 0.1 ≤ Known < 0.4 ≤ Partner < 0.7 ≤ Federated.
const (
	ClassIsolated Class = iota
	ClassKnown
	ClassPartner
	ClassFederated
)

// Lower bounds of the classes above Isolated.
const (
	KnownFrom     Weight = 100_000
	PartnerFrom   Weight = 400_000
	FederatedFrom Weight = 700_000
)

// ErrClass reports a class name that ParseClass does not know.
var ErrClass = errors.New("unknown trust class")

var classNames = [...]string{"isolated", "known", "partner", "federated"}

// String returns the class name: "isolated", "known", "partner" or "federated".
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("class(%d)", int(c))
	}
	return classNames[c]
}

// ParseClass parses a name that String returns.
func ParseClass(s string) (Class, error) {
	for i, name := range classNames {
		if s == name {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %.30q", ErrClass, s)
}

// ClassOf returns the class of a trust weight.
func ClassOf(w Weight) Class {
	switch {
	case w >= FederatedFrom:
		return ClassFederated
	case w >= PartnerFrom:
		return ClassPartner
	case w >= KnownFrom:
		return ClassKnown
	}
	return ClassIsolated
}

// Policy is what a class may do: a request rate with its burst, a largest payload, and the
// factor that scales a participant's net debit cap.
type Policy struct {
	RequestsPerSecond int
	// Burst is how many requests may arrive at once after a quiet spell (the size of the
	// token bucket that refills at RequestsPerSecond). The table's is one second's worth.
	Burst           int
	MaxPayloadBytes int
	CreditFactor    Weight
}

var policies = Policies{
	ClassIsolated:  {RequestsPerSecond: 10, Burst: 10, MaxPayloadBytes: 1 << 10, CreditFactor: 0},
	ClassKnown:     {RequestsPerSecond: 50, Burst: 50, MaxPayloadBytes: 10 << 10, CreditFactor: 250_000},
	ClassPartner:   {RequestsPerSecond: 100, Burst: 100, MaxPayloadBytes: 100 << 10, CreditFactor: 500_000},
	ClassFederated: {RequestsPerSecond: 200, Burst: 200, MaxPayloadBytes: 1 << 20, CreditFactor: One},
}

// PolicyFor returns the policy of class c in the seed's table. A value outside the four
// classes gets the Isolated policy, the most restrictive, so that a bad value never grants
// more.
func PolicyFor(c Class) Policy { return policies.For(c) }

// Classes returns the four classes in increasing trust.
func Classes() []Class { return []Class{ClassIsolated, ClassKnown, ClassPartner, ClassFederated} }

// Policies holds one policy per class, indexed by Class.
type Policies [len(classNames)]Policy

// DefaultPolicies returns the seed's table: 10, 50, 100 and 200 requests/s (bursts of one
// second's worth) and payloads of 1 KiB, 10 KiB, 100 KiB and 1 MiB.
func DefaultPolicies() Policies { return policies }

// For returns the policy of class c; a value outside the four classes gets the Isolated
// policy.
func (p *Policies) For(c Class) Policy {
	if c < 0 || int(c) >= len(p) {
		return p[ClassIsolated]
	}
	return p[c]
}

// PolicyOverride changes a class's request rate, burst or payload cap; a zero field keeps
// the value it overrides. It is how configuration files spell a policy (the credit factor
// is not in it: it decides replicated state, so it is the same everywhere).
type PolicyOverride struct {
	RequestsPerSecond int `toml:"requests_per_second"`
	Burst             int `toml:"burst"`
	MaxPayloadBytes   int `toml:"max_payload_bytes"`
}

// ErrPolicy reports an override that Override refuses.
var ErrPolicy = errors.New("invalid class policy")

// Override returns p with the overrides, keyed by class name, applied. A new rate without a
// burst gets a burst of one second's worth. maxPayload, if positive, bounds MaxPayloadBytes.
func (p Policies) Override(o map[string]PolicyOverride, maxPayload int) (Policies, error) {
	for name, ov := range o {
		c, err := ParseClass(name)
		if err != nil {
			return p, err
		}
		switch {
		case ov.RequestsPerSecond < 0 || ov.Burst < 0 || ov.MaxPayloadBytes < 0:
			return p, fmt.Errorf("%w: %s: values must not be negative", ErrPolicy, name)
		case maxPayload > 0 && ov.MaxPayloadBytes > maxPayload:
			return p, fmt.Errorf("%w: %s: max_payload_bytes %d is above the limit of %d", ErrPolicy, name, ov.MaxPayloadBytes, maxPayload)
		}
		pol := &p[c]
		if ov.RequestsPerSecond > 0 {
			pol.RequestsPerSecond, pol.Burst = ov.RequestsPerSecond, ov.RequestsPerSecond
		}
		if ov.Burst > 0 {
			pol.Burst = ov.Burst
		}
		if ov.MaxPayloadBytes > 0 {
			pol.MaxPayloadBytes = ov.MaxPayloadBytes
		}
	}
	return p, nil
}
