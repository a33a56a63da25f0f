package ledger

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// keyCurrencies holds, in bktMeta, the recorded currency table: a
// RecordCurrencies message as RecordCurrencies wrote it.
var keyCurrencies = []byte("currencies")

// currencyTable is a co-op's currencies and each one's default member
// credit limit: the one recorded in the state, or, until one is, this
// node's configuration (Options).
type currencyTable struct {
	raw      []byte // the canonical encoding, as recorded
	byCode   money.Currencies
	defaults map[string]money.Amount
}

// tableOf builds the table of opts' currencies and default limits.
func tableOf(cs money.Currencies, defaults map[string]money.Amount) (*currencyTable, error) {
	msg := &icnv1.RecordCurrencies{}
	for _, code := range slices.Sorted(maps.Keys(cs)) {
		c := cs[code]
		if err := c.Validate(); err != nil {
			return nil, err
		}
		limit, ok := defaults[code]
		if !ok {
			limit = money.Zero(c)
		}
		if limit.Currency() != c {
			return nil, fmt.Errorf("currency %s: default credit limit %s is in %s", code, limit, limit.Currency().Code)
		}
		msg.Currencies = append(msg.Currencies, &icnv1.CoopCurrency{Code: c.Code, Scale: c.Scale, DefaultCreditLimit: limit.String()})
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return decodeTable(raw)
}

// decodeTable reads and checks a recorded table.
func decodeTable(raw []byte) (*currencyTable, error) {
	var msg icnv1.RecordCurrencies
	if err := proto.Unmarshal(raw, &msg); err != nil {
		return nil, fmt.Errorf("currency table: %w", err)
	}
	t := &currencyTable{raw: bytes.Clone(raw), byCode: money.Currencies{}, defaults: map[string]money.Amount{}}
	for i, cc := range msg.Currencies {
		c := money.Currency{Code: cc.Code, Scale: cc.Scale}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if i > 0 && cc.Code <= msg.Currencies[i-1].Code {
			return nil, fmt.Errorf("currency table: %s out of code order or twice", cc.Code)
		}
		limit, err := money.Parse(cc.DefaultCreditLimit, c)
		if err != nil || limit.Sign() < 0 {
			return nil, fmt.Errorf("currency %s: default credit limit %q: a non-negative amount at scale %d", c.Code, cc.DefaultCreditLimit, c.Scale)
		}
		t.byCode[c.Code], t.defaults[c.Code] = c, limit
	}
	if len(t.byCode) == 0 {
		return nil, fmt.Errorf("currency table: no currency")
	}
	return t, nil
}

// table is the currency table in force in v: the recorded one, else this
// node's configured one. The recorded one is decoded once per version.
func (s *Store) table(v *store.View) *currencyTable {
	raw := v.Bucket(bktMeta).Get(keyCurrencies)
	if raw == nil {
		return s.configured
	}
	if t := s.recorded.Load(); t != nil && bytes.Equal(t.raw, raw) {
		return t
	}
	t, err := decodeTable(raw)
	if err != nil {
		// Recorded only after the same checks (applyRecordCurrencies): a
		// file that fails them is damaged. Every node holding it refuses
		// every currency alike.
		s.opts.Logger.Error("the recorded currency table does not decode", "err", err)
		t = &currencyTable{raw: bytes.Clone(raw), byCode: money.Currencies{}, defaults: map[string]money.Amount{}}
	}
	s.recorded.Store(t)
	return t
}

// latest is the table last seen in the state (the configured one until one
// is recorded). A table only ever adds currencies and never changes a
// scale, so any version looks a recorded payment's currency up alike.
func (s *Store) latest() *currencyTable {
	if t := s.recorded.Load(); t != nil {
		return t
	}
	return s.configured
}

// reloadTable reads the table in force after the state was opened or
// replaced by a snapshot.
func (s *Store) reloadTable(v *store.View) error {
	s.recorded.Store(nil)
	s.table(v)
	return nil
}

// RecordCurrencies records this node's configured currencies and default
// credit limits (Options) in the state unless they are the ones in force,
// and reports whether it changed them. A single node calls it as it
// starts, a replicated co-op's leader when it starts leading: every node
// then checks payments and credit limits against the same table, whatever
// its own configuration says. It fails if the configuration drops a
// recorded currency or changes its scale.
func (s *Store) RecordCurrencies(ctx context.Context) (bool, error) {
	var cur []byte
	if err := s.st.View(func(v *store.View) error {
		cur = bytes.Clone(v.Bucket(bktMeta).Get(keyCurrencies))
		return nil
	}); err != nil {
		return false, fmt.Errorf("currencies: %w", err)
	}
	if bytes.Equal(cur, s.configured.raw) {
		return false, nil
	}
	var msg icnv1.RecordCurrencies
	if err := proto.Unmarshal(s.configured.raw, &msg); err != nil {
		return false, err
	}
	if _, err := s.st.Submit(ctx, &icnv1.CoopCommand{AtUnixNano: s.now(), Kind: &icnv1.CoopCommand_RecordCurrencies{RecordCurrencies: &msg}}); err != nil {
		return false, fmt.Errorf("record currencies: %w", err)
	}
	s.opts.Logger.Info("currencies recorded", "currencies", len(msg.Currencies))
	return true, nil
}

func (s *Store) applyRecordCurrencies(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(cmd.GetRecordCurrencies())
	if err != nil {
		return nil, err
	}
	next, err := decodeTable(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if stx.Bucket(bktMeta).Get(keyCurrencies) != nil {
		in := s.table(&stx.View).byCode
		for _, code := range slices.Sorted(maps.Keys(in)) {
			n, ok := next.byCode[code]
			if !ok {
				return nil, fmt.Errorf("%w: currency %s is in the ledger: [[currencies]] must keep it", ErrInvalid, code)
			}
			if n.Scale != in[code].Scale {
				return nil, fmt.Errorf("%w: currency %s has scale %d in the ledger: its scale cannot change (to %d)", ErrInvalid, code, in[code].Scale, n.Scale)
			}
		}
	}
	if err := stx.Bucket(bktMeta).Put(keyCurrencies, next.raw); err != nil {
		return nil, err
	}
	s.table(&stx.View)
	return nil, nil
}
