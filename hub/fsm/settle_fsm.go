package fsm

import (
	"fmt"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
	bolt "go.etcd.io/bbolt"
)

// The accessors below read this node's settlement records as applied so
// far; callers that need current answers call Node.ReadBarrier first.

// SettlementPeriods returns the settlement records of every closed period,
// oldest first.
func (f *FSM) SettlementPeriods() ([]*icnv1.SettlementPeriod, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*icnv1.SettlementPeriod
	err := f.db.View(func(tx *bolt.Tx) (err error) {
		out, err = settlementsIn(tx)
		return err
	})
	return out, err
}

// SettlementPeriod returns one closed period's settlement record.
func (f *FSM) SettlementPeriod(n uint64) (*icnv1.SettlementPeriod, bool, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.store.GetSettlement(n)
}

// Instructions returns a closed period's instructions in report order.
func (f *FSM) Instructions(n uint64) ([]*icnv1.SettlementInstruction, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*icnv1.SettlementInstruction
	err := f.db.View(func(tx *bolt.Tx) (err error) {
		out, err = instructionsIn(tx, n)
		return err
	})
	return out, err
}

// CurrentPeriod returns the open period's number and its effective opening
// time (period 1 opens when the federation is initialised).
func (f *FSM) CurrentPeriod() (number uint64, openedAt int64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	number, openedAt = f.st.book.Period()
	if openedAt == 0 && f.st.fed != nil {
		openedAt = f.st.fed.InitAt
	}
	return number, openedAt
}

// Voters returns the voting hub nodes of the latest raft configuration applied.
func (f *FSM) Voters() []identity.DID {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]identity.DID(nil), f.st.voters...)
}

// ReportInput reads a closed period's record and committed transfers
// through the period index. The read runs in a bbolt read transaction of
// its own, without holding the state machine's lock, so applying commands
// goes on meanwhile.
func (f *FSM) ReportInput(n uint64) (settlement.ReportInput, bool, error) {
	f.mu.RLock()
	if f.st.fed == nil {
		f.mu.RUnlock()
		return settlement.ReportInput{}, false, nil
	}
	in := settlement.ReportInput{Header: settlement.Header{Federation: f.st.fed.DID, Period: n}, Currencies: f.st.fed.Currencies}
	tx, err := f.db.Begin(false)
	f.mu.RUnlock()
	if err != nil {
		return settlement.ReportInput{}, false, fmt.Errorf("read period %d: %w", n, err)
	}
	defer tx.Rollback()
	rec := &icnv1.SettlementPeriod{}
	found, err := (&boltStore{f: f, tx: tx}).get(bucketSettlements, periodKey(n), rec)
	if err != nil || !found {
		return settlement.ReportInput{}, false, err
	}
	in.Header.OpenedAt, in.Header.ClosedAt = rec.GetOpenedAtUnixNano(), rec.GetClosedAtUnixNano()
	in.Version = int(rec.GetReportVersion())
	if in.Version == 0 {
		in.Version = settlement.ReportVersion1 // closed before settlement modes
	}
	if in.Policy, err = policyFromProto(rec.GetSettlement(), in.Currencies); err != nil {
		return settlement.ReportInput{}, false, fmt.Errorf("settlement rules of period %d: %w", n, err)
	}
	bs := &boltStore{f: f, tx: tx}
	in.Recorded = make([]settlement.Instruction, 0, rec.GetInstructions())
	for i := uint32(0); i < rec.GetInstructions(); i++ {
		p, ok, err := bs.GetInstruction(n, i)
		if err != nil || !ok {
			return settlement.ReportInput{}, false, fmt.Errorf("instruction %d of period %d: found %v, %v", i, n, ok, err)
		}
		in.Recorded = append(in.Recorded, InstructionFromProto(p))
	}
	in.Transfers, err = periodTransfersIn(tx, n, func(p *icnv1.Transfer) (clearing.Transfer, error) {
		cur, ok := in.Currencies[p.GetCurrency()]
		if !ok {
			return clearing.Transfer{}, fmt.Errorf("transfer %s: unknown currency %q", p.GetId(), p.GetCurrency())
		}
		return TransferFromProto(p, cur), nil
	})
	if err != nil {
		return settlement.ReportInput{}, false, fmt.Errorf("read transfers of period %d: %w", n, err)
	}
	return in, true, nil
}

// participantNames maps participant DIDs to their names.
func (f *FSM) ParticipantNames() map[identity.DID]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[identity.DID]string, len(f.st.parts))
	for d, p := range f.st.parts {
		out[d] = p.GetName()
	}
	return out
}
