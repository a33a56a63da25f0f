package fsm

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
	"github.com/icn-coop/icn/trust"
	"google.golang.org/protobuf/proto"
)

// DefaultMinTrust is the minimum receiver→sender trust when the federation
// configuration names none.
const DefaultMinTrust trust.Weight = 100_000

// MaxNameLen bounds participant names (bytes).
const MaxNameLen = 128

// federation is the federation's identity and rules, set once by InitFederation.
type federation struct {
	DID        identity.DID
	Name       string
	MinTrust   trust.Weight
	MaxHops    int
	Currencies money.Currencies
	InitAt     int64 // when InitFederation applied: period 1's effective opening
	// Policy holds the settlement rules other than the default (hours
	// transfer), sorted by currency.
	Policy settlement.Policy
}

type capKey struct {
	DID      identity.DID
	Currency string
}

// state is the replicated state held in memory. Every method is called with
// the FSM's lock held and must be deterministic.
type state struct {
	fed   *federation
	parts map[identity.DID]*icnv1.Participant
	graph *trust.Graph
	caps  map[capKey]int64
	book  *clearing.Book
	nodes map[identity.DID]*icnv1.RegisterHubNode
	reqs  *requestCache
	// voters are the voting servers of the latest raft configuration
	// applied (in DID order): the hub nodes whose report signatures count.
	voters []identity.DID
}

func newState(rec clearing.Records) *state {
	return &state{
		parts: make(map[identity.DID]*icnv1.Participant),
		graph: trust.NewGraph(trust.DefaultMaxHops),
		caps:  make(map[capKey]int64),
		book:  clearing.NewBook(rec),
		nodes: make(map[identity.DID]*icnv1.RegisterHubNode),
		reqs:  newRequestCache(requestCacheSize),
	}
}

// store is the part of the FSM's bbolt file that commands write, within the
// transaction of the batch being applied.
type store interface {
	clearing.Records
	PutTrust(e *icnv1.TrustEdge) error
	PutPeriod(p clearing.PeriodSummary) error
	settlementStore
}

// apply runs one command. A refused command is a result with an error code;
// a returned error means the state could not be written and the node must stop.
func (s *state) apply(st store, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	if id := cmd.GetRequestId(); id != "" {
		if r, ok := s.reqs.get(id); ok {
			return r, nil
		}
	}
	res, err := s.dispatch(st, cmd)
	if err != nil {
		var ce *CommandError
		if !errors.As(err, &ce) {
			return nil, err
		}
		res = &icnv1.CommandResult{ErrorCode: ce.Code, ErrorMessage: ce.Message}
	}
	if id := cmd.GetRequestId(); id != "" {
		s.reqs.put(id, res)
	}
	return res, nil
}

func (s *state) dispatch(st store, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	at := cmd.GetAtUnixNano()
	switch c := cmd.Cmd.(type) {
	case *icnv1.Command_InitFederation:
		return s.initFederation(c.InitFederation, at)
	case *icnv1.Command_RegisterParticipant:
		return s.register(c.RegisterParticipant, at)
	case *icnv1.Command_UpdateParticipant:
		return s.update(c.UpdateParticipant, at)
	case *icnv1.Command_SetParticipantStatus:
		return s.setStatus(c.SetParticipantStatus, at)
	case *icnv1.Command_SetTrust:
		return s.setTrust(st, c.SetTrust)
	case *icnv1.Command_SetCreditPolicy:
		return s.setCredit(c.SetCreditPolicy)
	case *icnv1.Command_PrepareTransfer:
		return s.prepare(c.PrepareTransfer, at)
	case *icnv1.Command_CommitTransfer:
		return s.outcome(s.book.Commit(c.CommitTransfer.GetId(), at))
	case *icnv1.Command_AbortTransfer:
		reason := clearing.Reason(c.AbortTransfer.GetReason())
		if reason == "" {
			reason = clearing.ReasonCanceled
		}
		return s.outcome(s.book.Abort(c.AbortTransfer.GetId(), reason, at))
	case *icnv1.Command_ExpireTransfers:
		return s.expire(at)
	case *icnv1.Command_OpenPeriod:
		return s.openPeriod(st, c.OpenPeriod, at)
	case *icnv1.Command_RegisterHubNode:
		return s.registerNode(c.RegisterHubNode)
	case *icnv1.Command_AddReportSignature:
		return s.addReportSignature(st, c.AddReportSignature)
	case *icnv1.Command_MarkInstructionPaid:
		return s.confirmInstruction(st, settlementKindPaid, c.MarkInstructionPaid.GetConfirmation(), at)
	case *icnv1.Command_ConfirmInstructionReceipt:
		return s.confirmInstruction(st, settlementKindReceived, c.ConfirmInstructionReceipt.GetConfirmation(), at)
	case *icnv1.Command_SetSettlementRule:
		return s.setSettlementRule(c.SetSettlementRule)
	}
	return nil, refuse(CodeInvalidArgument, "empty or unknown command")
}

func (s *state) initFederation(c *icnv1.InitFederation, at int64) (*icnv1.CommandResult, error) {
	if s.fed != nil {
		return &icnv1.CommandResult{Repeat: true}, nil
	}
	did, _, err := identity.ParseDID(c.GetFederationDid())
	if err != nil {
		return nil, refuse(CodeInvalidArgument, "federation did: %v", err)
	}
	min := DefaultMinTrust
	if c.GetMinTrust() != "" {
		if min, err = trust.ParseWeight(c.GetMinTrust()); err != nil {
			return nil, refuse(CodeInvalidArgument, "min_trust: %v", err)
		}
	}
	hops := int(c.GetMaxHops())
	if hops == 0 {
		hops = trust.DefaultMaxHops
	}
	if hops < 1 || hops > 8 {
		return nil, refuse(CodeInvalidArgument, "max_hops %d outside 1..8", hops)
	}
	curs := money.Currencies{}
	for _, cs := range c.GetCurrencies() {
		cur := money.Currency{Code: cs.GetCode(), Scale: int32(cs.GetScale())}
		if err := cur.Validate(); err != nil {
			return nil, refuse(CodeInvalidArgument, "currency %q: %v", cs.GetCode(), err)
		}
		curs[cur.Code] = cur
	}
	if len(curs) == 0 {
		curs = money.DefaultCurrencies()
	}
	policy, err := policyFromProto(c.GetSettlement(), curs)
	if err != nil {
		return nil, refuse(CodeSettlementRule, "%v", err)
	}
	policy = slices.DeleteFunc(policy, func(r settlement.Rule) bool { return r.Mode == settlement.ModeHoursTransfer })
	s.fed = &federation{DID: did, Name: c.GetName(), MinTrust: min, MaxHops: hops, Currencies: curs, InitAt: at, Policy: policy}
	s.graph.SetMaxHops(hops)
	return &icnv1.CommandResult{}, nil
}

func validName(name string) error {
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return refuse(CodeInvalidArgument, "name must be 1..%d bytes of UTF-8", MaxNameLen)
	}
	return nil
}

func (s *state) register(c *icnv1.RegisterParticipant, at int64) (*icnv1.CommandResult, error) {
	did, _, err := identity.ParseDID(c.GetDid())
	if err != nil {
		return nil, refuse(CodeInvalidArgument, "participant did: %v", err)
	}
	if err := validName(c.GetName()); err != nil {
		return nil, err
	}
	if c.GetKind() != icnv1.ParticipantKind_PARTICIPANT_KIND_COOP &&
		c.GetKind() != icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION {
		return nil, refuse(CodeInvalidArgument, "kind must be coop or federation")
	}
	if p, ok := s.parts[did]; ok {
		return &icnv1.CommandResult{Participant: p, ErrorCode: CodeAlreadyExists,
			ErrorMessage: fmt.Sprintf("participant %s is already registered", did)}, nil
	}
	p := &icnv1.Participant{Did: string(did), Name: c.GetName(), Kind: c.GetKind(),
		Status: icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE, RegisteredAtUnixNano: at, UpdatedAtUnixNano: at}
	s.parts[did] = p
	return &icnv1.CommandResult{Participant: p}, nil
}

func (s *state) participant(d string) (*icnv1.Participant, error) {
	p, ok := s.parts[identity.DID(d)]
	if !ok {
		return nil, refuse(CodeUnknownParticipant, "no participant %q in this federation", d)
	}
	return p, nil
}

func (s *state) update(c *icnv1.UpdateParticipant, at int64) (*icnv1.CommandResult, error) {
	p, err := s.participant(c.GetDid())
	if err != nil {
		return nil, err
	}
	if err := validName(c.GetName()); err != nil {
		return nil, err
	}
	np := cloneParticipant(p)
	np.Name, np.UpdatedAtUnixNano = c.GetName(), at
	s.parts[identity.DID(np.Did)] = np
	return &icnv1.CommandResult{Participant: np}, nil
}

func (s *state) setStatus(c *icnv1.SetParticipantStatus, at int64) (*icnv1.CommandResult, error) {
	p, err := s.participant(c.GetDid())
	if err != nil {
		return nil, err
	}
	switch c.GetStatus() {
	case icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE, icnv1.ParticipantStatus_PARTICIPANT_STATUS_SUSPENDED:
	default:
		return nil, refuse(CodeInvalidArgument, "status must be active or suspended")
	}
	np := cloneParticipant(p)
	np.Status, np.StatusReason, np.UpdatedAtUnixNano = c.GetStatus(), c.GetReason(), at
	if np.Status == icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE {
		np.StatusReason = ""
	}
	s.parts[identity.DID(np.Did)] = np
	return &icnv1.CommandResult{Participant: np}, nil
}

// knownParty reports whether d may appear in the trust graph: a participant
// or the federation itself.
func (s *state) knownParty(d identity.DID) bool {
	_, ok := s.parts[d]
	return ok || (s.fed != nil && d == s.fed.DID)
}

func (s *state) setTrust(st store, c *icnv1.SetTrust) (*icnv1.CommandResult, error) {
	sm := c.GetAttestation()
	a, err := trust.DecodeAttestation(sm.GetPayload())
	if err != nil {
		return nil, refuse(CodeInvalidArgument, "attestation: %v", err)
	}
	if string(a.From) != sm.GetSigner() {
		return nil, refuse(CodeInvalidArgument, "attestation signed by %s, not by its author %s", sm.GetSigner(), a.From)
	}
	for _, d := range []identity.DID{a.From, a.To} {
		if !s.knownParty(d) {
			return nil, refuse(CodeUnknownParticipant, "no participant %q in this federation", d)
		}
	}
	if err := s.graph.Set(a); err != nil {
		if errors.Is(err, trust.ErrStale) {
			return nil, refuse(CodeStale, "%v", err)
		}
		return nil, refuse(CodeInvalidArgument, "%v", err)
	}
	e := &icnv1.TrustEdge{From: string(a.From), To: string(a.To), Weight: a.Weight.String(),
		IssuedAtUnixNano: a.IssuedAt, Attestation: sm}
	if err := st.PutTrust(e); err != nil {
		return nil, err
	}
	return &icnv1.CommandResult{TrustEdge: e}, nil
}

func (s *state) currency(code string) (money.Currency, error) {
	if s.fed == nil {
		return money.Currency{}, refuse(CodeNotInitialized, "the federation is not initialised yet")
	}
	c, ok := s.fed.Currencies[code]
	if !ok {
		return money.Currency{}, refuse(CodeUnknownCurrency, "currency %q is not cleared by this federation", code)
	}
	return c, nil
}

func (s *state) setCredit(c *icnv1.SetCreditPolicy) (*icnv1.CommandResult, error) {
	if _, err := s.participant(c.GetDid()); err != nil {
		return nil, err
	}
	cur, err := s.currency(c.GetCurrency())
	if err != nil {
		return nil, err
	}
	if c.GetDebitCapUnits() < 0 {
		return nil, refuse(CodeInvalidArgument, "debit cap must not be negative")
	}
	k := capKey{identity.DID(c.GetDid()), cur.Code}
	s.caps[k] = c.GetDebitCapUnits()
	return &icnv1.CommandResult{CreditPolicy: s.creditPolicy(k, cur)}, nil
}

// creditPolicy describes k's cap and current position.
func (s *state) creditPolicy(k capKey, cur money.Currency) *icnv1.CreditPolicy {
	eff, _ := clearingEnv{s}.DebitCap(k.DID, k.Currency)
	pos := s.book.Position(k.DID, k.Currency)
	amt := func(u int64) string { return money.FromUnits(u, cur).String() }
	return &icnv1.CreditPolicy{
		Did: string(k.DID), Currency: cur.Code, DebitCap: amt(s.caps[k]), EffectiveCap: eff.String(),
		TrustClass: s.classOf(k.DID).String(), Sent: amt(pos.Sent), Received: amt(pos.Received),
		Reserved: amt(pos.Reserved), Net: amt(pos.Received - pos.Sent), Carried: amt(pos.Carried),
	}
}

// classOf is the class of the federation's trust in d.
func (s *state) classOf(d identity.DID) trust.Class {
	if s.fed == nil {
		return trust.ClassIsolated
	}
	return trust.ClassOf(s.graph.Trust(s.fed.DID, d))
}

func (s *state) prepare(c *icnv1.PrepareTransfer, at int64) (*icnv1.CommandResult, error) {
	cur, err := s.currency(c.GetCurrency())
	if err != nil {
		return nil, err
	}
	var h [32]byte
	if len(c.GetIntentHash()) != 0 && len(c.GetIntentHash()) != len(h) {
		return nil, refuse(CodeInvalidArgument, "intent_hash must be 32 bytes")
	}
	copy(h[:], c.GetIntentHash())
	req := clearing.PrepareRequest{ID: c.GetId(), From: identity.DID(c.GetFrom()), To: identity.DID(c.GetTo()),
		Amount: money.FromUnits(c.GetAmountUnits(), cur), IntentHash: h, ExpiresAt: c.GetExpiresAtUnixNano()}
	return s.outcome(s.book.Prepare(clearingEnv{s}, req, at))
}

func (s *state) outcome(o clearing.Outcome, err error) (*icnv1.CommandResult, error) {
	if err != nil {
		return nil, err
	}
	res := &icnv1.CommandResult{Repeat: o.Repeat, ErrorCode: string(o.Conflict)}
	if o.Transfer.ID != "" {
		res.Transfer = TransferProto(o.Transfer)
	}
	if o.Conflict != "" {
		res.ErrorMessage = conflictMessage(o)
	}
	return res, nil
}

func conflictMessage(o clearing.Outcome) string {
	switch o.Conflict {
	case clearing.ReasonModifiedRequest:
		return fmt.Sprintf("transfer %s already exists with a different intent", o.Transfer.ID)
	case clearing.ReasonUnknownTransfer:
		return "no such transfer"
	case clearing.ReasonDuplicate:
		return fmt.Sprintf("transfer %s was already %s", o.Transfer.ID, o.Transfer.State)
	}
	return string(o.Conflict)
}

func (s *state) expire(at int64) (*icnv1.CommandResult, error) {
	ts, err := s.book.ExpireDue(at)
	if err != nil {
		return nil, err
	}
	res := &icnv1.CommandResult{}
	for _, t := range ts {
		res.Expired = append(res.Expired, TransferProto(t))
	}
	return res, nil
}

func (s *state) openPeriod(st store, c *icnv1.OpenPeriod, at int64) (*icnv1.CommandResult, error) {
	plan, err := s.planSettlement(s.book.Positions())
	if err != nil {
		return nil, err
	}
	sum, err := s.book.OpenPeriod(c.GetNumber(), at)
	if errors.Is(err, clearing.ErrPeriod) {
		cur, _ := s.book.Period()
		// OpenPeriod{N} closes period N-1: say which period was asked to close.
		switch closing := c.GetNumber() - 1; {
		case closing >= 1 && closing < cur:
			return nil, refuse(CodePeriod, "period %d is already closed; the open period is %d, the only one that can close", closing, cur)
		case c.GetNumber() != 0 && closing > cur:
			return nil, refuse(CodePeriod, "period %d is not open yet; the open period is %d, the only one that can close", closing, cur)
		}
		return nil, refuse(CodePeriod, "cannot open period %d: the open period is %d", c.GetNumber(), cur)
	}
	if err != nil {
		return nil, err
	}
	if err := st.PutPeriod(sum); err != nil {
		return nil, err
	}
	if err := s.recordSettlement(st, sum, plan, c.GetDeadlineAfterNanos()); err != nil {
		return nil, err
	}
	return &icnv1.CommandResult{ClosedPeriod: sum.Number}, nil
}

func (s *state) registerNode(c *icnv1.RegisterHubNode) (*icnv1.CommandResult, error) {
	did, _, err := identity.ParseDID(c.GetDid())
	if err != nil {
		return nil, refuse(CodeInvalidArgument, "hub node did: %v", err)
	}
	s.nodes[did] = &icnv1.RegisterHubNode{Did: string(did), RaftAddress: c.GetRaftAddress(), GrpcAddress: c.GetGrpcAddress()}
	return &icnv1.CommandResult{}, nil
}

func cloneParticipant(p *icnv1.Participant) *icnv1.Participant {
	return proto.Clone(p).(*icnv1.Participant)
}

// sortedParticipants returns the participants in DID order.
func (s *state) sortedParticipants() []*icnv1.Participant {
	out := make([]*icnv1.Participant, 0, len(s.parts))
	for _, p := range s.parts {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *icnv1.Participant) int { return cmpString(a.Did, b.Did) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// clearingEnv answers the clearing book's questions from the state.
type clearingEnv struct{ s *state }

func (e clearingEnv) Participant(d identity.DID) (known, active bool) {
	p, ok := e.s.parts[d]
	return ok, ok && p.Status == icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE
}

func (e clearingEnv) Trust(from, to identity.DID) uint32 { return uint32(e.s.graph.Trust(from, to)) }

func (e clearingEnv) MinTrust() uint32 {
	if e.s.fed == nil {
		return uint32(DefaultMinTrust)
	}
	return uint32(e.s.fed.MinTrust)
}

// DebitCap is the base cap scaled by the credit factor of the class of the
// federation's trust in d.
func (e clearingEnv) DebitCap(d identity.DID, currency string) (money.Amount, bool) {
	cur, err := e.s.currency(currency)
	if err != nil {
		return money.Amount{}, false
	}
	base, ok := e.s.caps[capKey{d, currency}]
	if !ok {
		return money.Zero(cur), false
	}
	f := int64(trust.PolicyFor(e.s.classOf(d)).CreditFactor)
	// base*f/Scale without overflowing: split base into whole and fractional millionths.
	eff := base/trust.Scale*f + base%trust.Scale*f/trust.Scale
	return money.FromUnits(eff, cur), true
}

func sortedCurrencies(f *federation) []money.Currency {
	out := make([]money.Currency, 0, len(f.Currencies))
	for _, c := range f.Currencies {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b money.Currency) int { return cmpString(a.Code, b.Code) })
	return out
}
