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

// Policy is what a class may do: a request rate, a largest payload, and the factor that scales
// a participant's net debit cap.
type Policy struct {
	RequestsPerSecond int
	MaxPayloadBytes   int
	CreditFactor      Weight
}

var policies = [...]Policy{
	ClassIsolated:  {RequestsPerSecond: 10, MaxPayloadBytes: 1 << 10, CreditFactor: 0},
	ClassKnown:     {RequestsPerSecond: 50, MaxPayloadBytes: 10 << 10, CreditFactor: 250_000},
	ClassPartner:   {RequestsPerSecond: 100, MaxPayloadBytes: 100 << 10, CreditFactor: 500_000},
	ClassFederated: {RequestsPerSecond: 200, MaxPayloadBytes: 1 << 20, CreditFactor: One},
}

// PolicyFor returns the policy of class c. A value outside the four classes gets the
// Isolated policy, the most restrictive, so that a bad value never grants more.
func PolicyFor(c Class) Policy {
	if c < 0 || int(c) >= len(policies) {
		return policies[ClassIsolated]
	}
	return policies[c]
}
