package fsm

import (
	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"google.golang.org/protobuf/proto"
)

var transferStates = map[clearing.State]icnv1.TransferState{
	clearing.StatePrepared:  icnv1.TransferState_TRANSFER_STATE_PREPARED,
	clearing.StateCommitted: icnv1.TransferState_TRANSFER_STATE_COMMITTED,
	clearing.StateAborted:   icnv1.TransferState_TRANSFER_STATE_ABORTED,
	clearing.StateRejected:  icnv1.TransferState_TRANSFER_STATE_REJECTED,
}

// transferProto is the wire and storage form of a clearing record.
func TransferProto(t clearing.Transfer) *icnv1.Transfer {
	return &icnv1.Transfer{
		Id: t.ID, From: string(t.From), To: string(t.To),
		Currency: t.Amount.Currency().Code, AmountUnits: t.Amount.Units(), Amount: t.Amount.String(),
		State: transferStates[t.State], Reason: string(t.Reason), Period: t.Period,
		IntentHash: append([]byte(nil), t.IntentHash[:]...), PreparedAtUnixNano: t.PreparedAt,
		ExpiresAtUnixNano: t.ExpiresAt, DecidedAtUnixNano: t.DecidedAt,
	}
}

// TransferFromProto reverses transferProto; cur is the record's currency.
func TransferFromProto(p *icnv1.Transfer, cur money.Currency) clearing.Transfer {
	t := clearing.Transfer{
		ID: p.GetId(), From: identity.DID(p.GetFrom()), To: identity.DID(p.GetTo()),
		Amount: money.FromUnits(p.GetAmountUnits(), cur), Reason: clearing.Reason(p.GetReason()),
		Period: p.GetPeriod(), PreparedAt: p.GetPreparedAtUnixNano(), ExpiresAt: p.GetExpiresAtUnixNano(),
		DecidedAt: p.GetDecidedAtUnixNano(),
	}
	for s, ps := range transferStates {
		if ps == p.GetState() {
			t.State = s
		}
	}
	copy(t.IntentHash[:], p.GetIntentHash())
	return t
}

// requestCacheSize bounds the request ids the state machine remembers. A
// client retries an ambiguous write within seconds; 16384 ids cover that at
// any plausible control-plane rate.
const requestCacheSize = 16384

// requestCache remembers the results of recent requests, evicting the oldest.
type requestCache struct {
	size  int
	order []string // ring, oldest at next
	next  int
	res   map[string]*icnv1.CommandResult
}

func newRequestCache(size int) *requestCache {
	return &requestCache{size: size, res: make(map[string]*icnv1.CommandResult)}
}

func (c *requestCache) get(id string) (*icnv1.CommandResult, bool) {
	r, ok := c.res[id]
	if !ok {
		return nil, false
	}
	cp := cloneResult(r)
	cp.Repeat = true
	return cp, true
}

func (c *requestCache) put(id string, r *icnv1.CommandResult) {
	if len(c.order) < c.size {
		c.order = append(c.order, id)
	} else {
		delete(c.res, c.order[c.next])
		c.order[c.next] = id
		c.next = (c.next + 1) % c.size
	}
	c.res[id] = r
}

// ids returns the remembered ids, oldest first.
func (c *requestCache) ids() []string {
	return append(append([]string(nil), c.order[c.next:]...), c.order[:c.next]...)
}

func cloneResult(r *icnv1.CommandResult) *icnv1.CommandResult {
	return proto.Clone(r).(*icnv1.CommandResult)
}
