package fsm

import (
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// The accessors below read this node's state as applied so far; callers
// that need linearizable reads call Node.ReadBarrier first.

func (f *FSM) HubNode(d identity.DID) *icnv1.RegisterHubNode {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.nodes[d]
}

// HubNodes returns the registered hub nodes by DID.
func (f *FSM) HubNodes() map[identity.DID]*icnv1.RegisterHubNode {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[identity.DID]*icnv1.RegisterHubNode, len(f.st.nodes))
	for k, v := range f.st.nodes {
		out[k] = v
	}
	return out
}

func (f *FSM) Initialized() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.fed != nil
}

func (f *FSM) NextExpiry() (int64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.book.NextExpiry()
}

// Participant returns one participant.
func (f *FSM) Participant(d identity.DID) (*icnv1.Participant, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p, ok := f.st.parts[d]
	return p, ok
}

// CoopNamed returns the co-op participant registered under name; with
// several (names are not unique), the one with the smallest DID. It is on
// every prepare's path, so it answers from an index rebuilt only when the
// participants change.
func (f *FSM) CoopNamed(name string) (identity.DID, bool) {
	gen := f.partsGen.Load()
	f.namesMu.Lock()
	defer f.namesMu.Unlock()
	if f.names == nil || f.namesGen != gen {
		// Built from state at least as new as gen: a change racing with
		// the build moves partsGen again and the next call rebuilds.
		f.mu.RLock()
		f.names = coopNames(f.st.parts)
		f.mu.RUnlock()
		f.namesGen = gen
	}
	d, ok := f.names[name]
	return d, ok
}

// coopNames maps each co-op name to the smallest DID registered under it.
func coopNames(parts map[identity.DID]*icnv1.Participant) map[string]identity.DID {
	names := make(map[string]identity.DID, len(parts))
	for d, p := range parts {
		if p.GetKind() != icnv1.ParticipantKind_PARTICIPANT_KIND_COOP {
			continue
		}
		if best, ok := names[p.GetName()]; !ok || d < best {
			names[p.GetName()] = d
		}
	}
	return names
}

// Participants returns every participant in DID order.
func (f *FSM) Participants() []*icnv1.Participant {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.sortedParticipants()
}

// Federation describes the federation and its counters.
func (f *FSM) Federation() *icnv1.Federation {
	f.mu.RLock()
	defer f.mu.RUnlock()
	period, opened := f.st.book.Period()
	out := &icnv1.Federation{Period: period, PeriodOpenedAtUnixNano: opened,
		Participants: uint32(len(f.st.parts)), TrustEdges: uint32(f.st.graph.Len()),
		PendingTransfers: uint32(len(f.st.book.Pending())), MaxHops: uint32(f.st.graph.MaxHops())}
	if fed := f.st.fed; fed != nil {
		out.Did, out.Name, out.MinTrust = string(fed.DID), fed.Name, fed.MinTrust.String()
		var codes []string
		for _, c := range sortedCurrencies(fed) {
			out.Currencies = append(out.Currencies, &icnv1.CurrencySpec{Code: c.Code, Scale: uint32(c.Scale)})
			codes = append(codes, c.Code)
		}
		for _, r := range fed.Policy.For(codes) {
			out.Settlement = append(out.Settlement, ruleToProto(r))
		}
	}
	return out
}

// Currency returns the federation's currency with code, if it clears it.
func (f *FSM) Currency(code string) (money.Currency, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.fed == nil {
		return money.Currency{}, false
	}
	c, err := f.st.fed.Currencies.Lookup(code)
	return c, err == nil
}

// Transfer looks a transfer record up.
func (f *FSM) Transfer(id string) (*icnv1.Transfer, bool, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var p *icnv1.Transfer
	err := f.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTransfers).Get([]byte(id))
		if v == nil {
			return nil
		}
		p = &icnv1.Transfer{}
		return proto.Unmarshal(v, p)
	})
	return p, p != nil, err
}

// Pending returns the prepared, undecided transfers in id order.
func (f *FSM) Pending() []*icnv1.Transfer {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*icnv1.Transfer
	for _, t := range f.st.book.Pending() {
		out = append(out, TransferProto(t))
	}
	return out
}

// TrustEdges returns d's outgoing and incoming edges with their attestations.
func (f *FSM) TrustEdges(d identity.DID) (out, in []*icnv1.TrustEdge, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	err = f.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrust)
		get := func(e trust.Edge) (*icnv1.TrustEdge, error) {
			te := &icnv1.TrustEdge{}
			return te, proto.Unmarshal(b.Get(trustKey(string(e.From), string(e.To))), te)
		}
		for _, e := range f.st.graph.Out(d) {
			te, err := get(e)
			if err != nil {
				return err
			}
			out = append(out, te)
		}
		for _, e := range f.st.graph.In(d) {
			te, err := get(e)
			if err != nil {
				return err
			}
			in = append(in, te)
		}
		return nil
	})
	return out, in, err
}

// TrustPath returns the best trust path from → to and its weight. It takes
// the write lock because the graph memoises results.
func (f *FSM) TrustPath(from, to identity.DID) ([]identity.DID, trust.Weight, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, w := f.st.graph.Path(from, to)
	return p, w, f.st.graph.MaxHops()
}

// TrustClass returns the class of the federation's trust in d (Isolated
// before the federation is initialised) and the TrustGen it holds for. It
// takes the write lock because the graph memoises results.
func (f *FSM) TrustClass(d identity.DID) (trust.Class, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.classOf(d), f.trustGen.Load()
}

// CreditPolicies returns d's caps and positions, one per federation currency.
func (f *FSM) CreditPolicies(d identity.DID) ([]*icnv1.CreditPolicy, error) {
	f.mu.Lock() // the trust lookups memoise
	defer f.mu.Unlock()
	if _, err := f.st.participant(string(d)); err != nil {
		return nil, err
	}
	if f.st.fed == nil {
		return nil, refuse(CodeNotInitialized, "the federation is not initialised yet")
	}
	var out []*icnv1.CreditPolicy
	for _, c := range sortedCurrencies(f.st.fed) {
		out = append(out, f.st.creditPolicy(capKey{d, c.Code}, c))
	}
	return out, nil
}
