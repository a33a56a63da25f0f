package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/icn-coop/icn/clearing"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// Buckets of the settlement records in the FSM's bbolt file. They are part
// of the records every snapshot copies, so restore brings them back as they were.
var (
	// period_transfers indexes committed transfers by period: key
	// be64(period) || transfer id, empty value. Written in the transaction
	// that commits the transfer, so a closed period's transfers are read
	// with one cursor range instead of a scan of every transfer.
	bucketPeriodTransfers = []byte("period_transfers")
	// settlements: be64(period) → SettlementPeriod.
	bucketSettlements = []byte("settlements")
	// instructions: be64(period) || be32(index) → SettlementInstruction.
	bucketInstructions = []byte("instructions")
)

func periodKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func periodTransferKey(period uint64, id string) []byte {
	return append(periodKey(period), id...)
}

func instructionKey(period uint64, idx uint32) []byte {
	return binary.BigEndian.AppendUint32(periodKey(period), idx)
}

// indexCommitted adds a committed transfer to its period's index.
func (s *boltStore) indexCommitted(t clearing.Transfer) error {
	if t.State != clearing.StateCommitted || t.Period == 0 {
		return nil
	}
	return s.tx.Bucket(bucketPeriodTransfers).Put(periodTransferKey(t.Period, t.ID), []byte{})
}

func (s *boltStore) put(bucket, key []byte, m proto.Message) error {
	if s.tx == nil {
		return errors.New("settlement record written outside apply")
	}
	b, err := det.Marshal(m)
	if err != nil {
		return err
	}
	return s.tx.Bucket(bucket).Put(key, b)
}

func (s *boltStore) get(bucket, key []byte, m proto.Message) (bool, error) {
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get(key)
		if v == nil {
			return nil
		}
		found = true
		return proto.Unmarshal(v, m)
	})
	return found, err
}

// PutSettlement stores a period's settlement record.
func (s *boltStore) PutSettlement(p *icnv1.SettlementPeriod) error {
	return s.put(bucketSettlements, periodKey(p.GetNumber()), p)
}

// GetSettlement reads a closed period's settlement record.
func (s *boltStore) GetSettlement(n uint64) (*icnv1.SettlementPeriod, bool, error) {
	p := &icnv1.SettlementPeriod{}
	ok, err := s.get(bucketSettlements, periodKey(n), p)
	if err != nil {
		return nil, false, fmt.Errorf("read settlement of period %d: %w", n, err)
	}
	return p, ok, nil
}

// PutInstruction stores one settlement instruction.
func (s *boltStore) PutInstruction(in *icnv1.SettlementInstruction) error {
	return s.put(bucketInstructions, instructionKey(in.GetPeriod(), in.GetIndex()), in)
}

// GetInstruction reads one settlement instruction.
func (s *boltStore) GetInstruction(period uint64, idx uint32) (*icnv1.SettlementInstruction, bool, error) {
	in := &icnv1.SettlementInstruction{}
	ok, err := s.get(bucketInstructions, instructionKey(period, idx), in)
	if err != nil {
		return nil, false, fmt.Errorf("read instruction %d of period %d: %w", idx, period, err)
	}
	return in, ok, nil
}

// settlementsIn lists the settlement records of tx in period order.
func settlementsIn(tx *bolt.Tx) ([]*icnv1.SettlementPeriod, error) {
	var out []*icnv1.SettlementPeriod
	err := tx.Bucket(bucketSettlements).ForEach(func(_, v []byte) error {
		p := &icnv1.SettlementPeriod{}
		if err := proto.Unmarshal(v, p); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// instructionsIn lists a period's instructions in index order.
func instructionsIn(tx *bolt.Tx, period uint64) ([]*icnv1.SettlementInstruction, error) {
	var out []*icnv1.SettlementInstruction
	prefix := periodKey(period)
	c := tx.Bucket(bucketInstructions).Cursor()
	for k, v := c.Seek(prefix); len(k) == 12 && string(k[:8]) == string(prefix); k, v = c.Next() {
		in := &icnv1.SettlementInstruction{}
		if err := proto.Unmarshal(v, in); err != nil {
			return nil, fmt.Errorf("decode instruction %x: %w", k, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// periodTransfersIn reads the committed transfers of a period through the
// index, in id order. cur decodes the records' currencies.
func periodTransfersIn(tx *bolt.Tx, period uint64, decode func(*icnv1.Transfer) (clearing.Transfer, error)) ([]clearing.Transfer, error) {
	prefix := periodKey(period)
	recs := tx.Bucket(bucketTransfers)
	c := tx.Bucket(bucketPeriodTransfers).Cursor()
	var out []clearing.Transfer
	var p icnv1.Transfer
	for k, _ := c.Seek(prefix); len(k) > 8 && string(k[:8]) == string(prefix); k, _ = c.Next() {
		id := k[8:]
		v := recs.Get(id)
		if v == nil {
			return nil, fmt.Errorf("period %d index names transfer %q, which has no record", period, id)
		}
		p.Reset()
		if err := proto.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("decode transfer %q: %w", id, err)
		}
		t, err := decode(&p)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
