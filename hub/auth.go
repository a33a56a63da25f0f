package hub

import (
	"context"

	"github.com/icn-coop/icn/identity"
	"google.golang.org/grpc/metadata"
)

// role is what a caller of the control plane may do.
type role string

const (
	roleNone        role = "stranger"
	roleOperator    role = "operator"
	roleHubNode     role = "hub node"
	roleParticipant role = "participant"
)

// principal is the caller on whose behalf a call runs: the TLS client's
// DID, or, for a call a hub node forwarded, the original caller it names.
type principal struct {
	did  identity.DID
	role role
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf returns the caller authorize admitted.
func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// roleOf classifies a DID: an operator, a hub node, a registered
// participant, or nobody.
func (s *Server) roleOf(d identity.DID) role {
	switch {
	case s.operators[d]:
		return roleOperator
	case s.n.acceptPeer(d):
		return roleHubNode
	}
	if _, ok := s.n.fsm.Participant(d); ok {
		return roleParticipant
	}
	return roleNone
}

// resolve finds the principal of a call from caller: a hub node that
// forwarded the call acts for the DID it names.
func (s *Server) resolve(ctx context.Context, caller identity.DID) principal {
	p := principal{did: caller, role: s.roleOf(caller)}
	if p.role != roleHubNode {
		return p
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if fw := md.Get(mdForwarded); len(fw) > 0 && fw[0] != "" {
		d := identity.DID(fw[0])
		return principal{did: d, role: s.roleOf(d)}
	}
	return p
}
