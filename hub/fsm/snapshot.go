package fsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// snapshotMagic starts every snapshot; the version follows it.
const snapshotMagic = "ICNHUB02"

// memState is the in-memory part of the state in a canonical, deterministic
// form: sorted slices, protobuf messages as deterministic bytes.
type memState struct {
	Federation   *fedState      `json:"federation,omitempty"`
	Participants [][]byte       `json:"participants"`
	Caps         []capState     `json:"caps"`
	Nodes        [][]byte       `json:"nodes"`
	Voters       []identity.DID `json:"voters,omitempty"`
	Requests     []requestState `json:"requests"`
	Book         bookState      `json:"book"`
}

type fedState struct {
	DID        identity.DID     `json:"did"`
	Name       string           `json:"name"`
	MinTrust   trust.Weight     `json:"min_trust"`
	MaxHops    int              `json:"max_hops"`
	Currencies []money.Currency `json:"currencies"`
	InitAt     int64            `json:"init_at,omitempty"`
	// Settlement holds the rules other than hours transfer (deterministic
	// protobuf bytes, in currency order).
	Settlement [][]byte `json:"settlement,omitempty"`
}

type capState struct {
	DID      identity.DID `json:"did"`
	Currency string       `json:"currency"`
	Units    int64        `json:"units"`
}

type requestState struct {
	ID     string `json:"id"`
	Result []byte `json:"result"`
}

type bookState struct {
	Period         uint64               `json:"period"`
	PeriodOpenedAt int64                `json:"period_opened_at"`
	Positions      []clearing.Position  `json:"positions"`
	Bilateral      []clearing.Bilateral `json:"bilateral"`
	Committed      int                  `json:"committed"`
	Pending        [][]byte             `json:"pending"`
}

var det = proto.MarshalOptions{Deterministic: true}

func mustMarshal(m proto.Message) []byte {
	b, err := det.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err)) // only valid generated messages reach here
	}
	return b
}

// encodeMem captures the in-memory state (lock held by the caller).
func (s *state) encodeMem() ([]byte, error) {
	m := memState{Participants: [][]byte{}, Caps: []capState{}, Nodes: [][]byte{}, Requests: []requestState{}}
	if s.fed != nil {
		fs := &fedState{DID: s.fed.DID, Name: s.fed.Name, MinTrust: s.fed.MinTrust, MaxHops: s.fed.MaxHops, InitAt: s.fed.InitAt}
		for _, c := range s.fed.Currencies {
			fs.Currencies = append(fs.Currencies, c)
		}
		slices.SortFunc(fs.Currencies, func(a, b money.Currency) int { return cmpString(a.Code, b.Code) })
		for _, r := range s.fed.Policy {
			fs.Settlement = append(fs.Settlement, mustMarshal(ruleToProto(r)))
		}
		m.Federation = fs
	}
	for _, p := range s.sortedParticipants() {
		m.Participants = append(m.Participants, mustMarshal(p))
	}
	for k, v := range s.caps {
		m.Caps = append(m.Caps, capState{k.DID, k.Currency, v})
	}
	slices.SortFunc(m.Caps, func(a, b capState) int {
		if c := cmpString(string(a.DID), string(b.DID)); c != 0 {
			return c
		}
		return cmpString(a.Currency, b.Currency)
	})
	dids := make([]string, 0, len(s.nodes))
	for d := range s.nodes {
		dids = append(dids, string(d))
	}
	slices.Sort(dids)
	for _, d := range dids {
		m.Nodes = append(m.Nodes, mustMarshal(s.nodes[identity.DID(d)]))
	}
	m.Voters = s.voters
	for _, id := range s.reqs.ids() {
		m.Requests = append(m.Requests, requestState{id, mustMarshal(s.reqs.res[id])})
	}
	bs := s.book.State()
	m.Book = bookState{Period: bs.Period, PeriodOpenedAt: bs.PeriodOpenedAt, Positions: bs.Positions,
		Bilateral: bs.Bilateral, Committed: bs.Committed, Pending: [][]byte{}}
	for _, t := range bs.Pending {
		m.Book.Pending = append(m.Book.Pending, mustMarshal(TransferProto(t)))
	}
	return json.Marshal(m)
}

// decodeMem rebuilds the in-memory state; the trust graph comes from the
// records in db, which must already hold the snapshot's records.
func decodeMem(b []byte, rec *boltStore, db *bolt.DB) (*state, money.Currencies, error) {
	var m memState
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("decode state: %w", err)
	}
	s := newState(rec)
	var curs money.Currencies
	if fs := m.Federation; fs != nil {
		curs = money.Currencies{}
		for _, c := range fs.Currencies {
			curs[c.Code] = c
		}
		s.fed = &federation{DID: fs.DID, Name: fs.Name, MinTrust: fs.MinTrust, MaxHops: fs.MaxHops, Currencies: curs, InitAt: fs.InitAt}
		s.graph.SetMaxHops(fs.MaxHops)
		var rules []*icnv1.SettlementRule
		for _, b := range fs.Settlement {
			r := &icnv1.SettlementRule{}
			if err := proto.Unmarshal(b, r); err != nil {
				return nil, nil, fmt.Errorf("decode settlement rule: %w", err)
			}
			rules = append(rules, r)
		}
		policy, err := policyFromProto(rules, curs)
		if err != nil {
			return nil, nil, fmt.Errorf("decode settlement rules: %w", err)
		}
		s.fed.Policy = policy
	}
	for _, pb := range m.Participants {
		p := &icnv1.Participant{}
		if err := proto.Unmarshal(pb, p); err != nil {
			return nil, nil, fmt.Errorf("decode participant: %w", err)
		}
		s.parts[identity.DID(p.Did)] = p
	}
	for _, c := range m.Caps {
		s.caps[capKey{c.DID, c.Currency}] = c.Units
	}
	for _, nb := range m.Nodes {
		n := &icnv1.RegisterHubNode{}
		if err := proto.Unmarshal(nb, n); err != nil {
			return nil, nil, fmt.Errorf("decode hub node: %w", err)
		}
		s.nodes[identity.DID(n.Did)] = n
	}
	s.voters = m.Voters
	for _, r := range m.Requests {
		res := &icnv1.CommandResult{}
		if err := proto.Unmarshal(r.Result, res); err != nil {
			return nil, nil, fmt.Errorf("decode request result: %w", err)
		}
		s.reqs.put(r.ID, res)
	}
	bs := clearing.Snapshot{Period: m.Book.Period, PeriodOpenedAt: m.Book.PeriodOpenedAt,
		Positions: m.Book.Positions, Bilateral: m.Book.Bilateral, Committed: m.Book.Committed}
	for _, tb := range m.Book.Pending {
		p := &icnv1.Transfer{}
		if err := proto.Unmarshal(tb, p); err != nil {
			return nil, nil, fmt.Errorf("decode pending transfer: %w", err)
		}
		cur, ok := curs[p.GetCurrency()]
		if !ok {
			return nil, nil, fmt.Errorf("pending transfer %s: unknown currency %q", p.GetId(), p.GetCurrency())
		}
		bs.Pending = append(bs.Pending, TransferFromProto(p, cur))
	}
	book, err := clearing.Restore(bs, rec)
	if err != nil {
		return nil, nil, fmt.Errorf("restore clearing book: %w", err)
	}
	s.book = book
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrust)
		if b == nil {
			return errors.New("records have no trust bucket")
		}
		return b.ForEach(func(_, v []byte) error {
			e := &icnv1.TrustEdge{}
			if err := proto.Unmarshal(v, e); err != nil {
				return err
			}
			a, err := trust.DecodeAttestation(e.GetAttestation().GetPayload())
			if err != nil {
				return err
			}
			return s.graph.Set(a)
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild trust graph: %w", err)
	}
	return s, curs, nil
}

// Snapshot captures the state (raft.FSM). The in-memory part is encoded
// now; the records are streamed from a bbolt read transaction in Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	mem, err := f.st.encodeMem()
	if err != nil {
		return nil, fmt.Errorf("snapshot state: %w", err)
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot records: %w", err)
	}
	return &fsmSnapshot{mem: mem, tx: tx}, nil
}

type fsmSnapshot struct {
	mem []byte
	tx  *bolt.Tx
}

// Persist writes magic, len(mem), mem, len(records), the records (the
// bbolt file) and their SHA-256, so that Restore can refuse a damaged or
// truncated snapshot before bbolt ever opens it.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	_, err := w.WriteString(snapshotMagic)
	if err == nil {
		_, err = w.Write(be64(uint64(len(s.mem))))
	}
	if err == nil {
		_, err = w.Write(s.mem)
	}
	if err == nil {
		_, err = w.Write(be64(uint64(s.tx.Size())))
	}
	h := sha256.New()
	if err == nil {
		_, err = s.tx.WriteTo(io.MultiWriter(w, h))
	}
	if err == nil {
		_, err = w.Write(h.Sum(nil))
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// Release ends the read transaction.
func (s *fsmSnapshot) Release() { _ = s.tx.Rollback() }

// Restore replaces the state with a snapshot's (raft.FSM). The snapshot is
// checked and decoded into a new file and state first; the FSM is swapped
// only when that succeeds, so a bad snapshot leaves it as it was.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	mem, err := readSection(r, len(snapshotMagic))
	if err != nil {
		return fmt.Errorf("restore: state: %w", err)
	}
	tmp := f.path + ".restore"
	defer os.Remove(tmp)
	if err := copyRecords(tmp, r); err != nil {
		return err
	}
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("restore: open records: %w", err)
	}
	st, curs, err := decodeMem(mem, f.store, db)
	applied := appliedIn(db)
	db.Close()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("restore: close fsm: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("restore: replace fsm: %w", err)
	}
	if err := f.openDB(); err != nil {
		return err
	}
	f.st, f.cur = st, curs
	f.restores.Add(1)
	f.partsGen.Add(1)
	f.trustGen.Add(1)
	f.setApplied(applied)
	return nil
}

// readSection checks the magic (when magicLen > 0) and reads one
// length-prefixed section.
func readSection(r io.Reader, magicLen int) ([]byte, error) {
	head := make([]byte, magicLen+8)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if string(head[:magicLen]) != snapshotMagic[:magicLen] {
		return nil, errors.New("not a hub snapshot (bad magic)")
	}
	n := binary.BigEndian.Uint64(head[magicLen:])
	if n > 1<<32 {
		return nil, fmt.Errorf("section of %d bytes is implausible", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read %d bytes: %w", n, err)
	}
	return b, nil
}

// copyRecords writes the records section to path and checks its checksum.
func copyRecords(path string, r io.Reader) error {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return fmt.Errorf("restore: records length: %w", err)
	}
	size := binary.BigEndian.Uint64(n[:])
	h := sha256.New()
	if err := writeFile(path, io.TeeReader(io.LimitReader(r, int64(size)), h), int64(size)); err != nil {
		return err
	}
	var sum [sha256.Size]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return fmt.Errorf("restore: records checksum: %w", err)
	}
	if !bytes.Equal(sum[:], h.Sum(nil)) {
		return errors.New("restore: records checksum mismatch (damaged snapshot)")
	}
	return nil
}

func appliedIn(db *bolt.DB) uint64 {
	var applied uint64
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			if v := b.Get(keyApplied); len(v) == 8 {
				applied = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return applied
}

func writeFile(path string, r io.Reader, size int64) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if n, err := io.Copy(out, r); err != nil || n != size {
		out.Close()
		return fmt.Errorf("restore: write records: %d of %d bytes: %v", n, size, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("restore: sync records: %w", err)
	}
	return out.Close()
}

// StateHash is a SHA-256 over the canonical in-memory state and every
// record in key order. Equal states give equal hashes on any node.
func (f *FSM) StateHash() ([32]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	mem, err := f.st.encodeMem()
	if err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	err = f.db.View(func(tx *bolt.Tx) error {
		sum, err = hashState(mem, tx)
		return err
	})
	return sum, err
}

// hashState is StateHash over an encoded in-memory state and the records
// as tx sees them.
func hashState(mem []byte, tx *bolt.Tx) ([32]byte, error) {
	h := sha256.New()
	h.Write(mem)
	for _, b := range [][]byte{bucketTransfers, bucketTrust, bucketPeriods, bucketPeriodTransfers, bucketSettlements, bucketInstructions} {
		h.Write(b)
		err := tx.Bucket(b).ForEach(func(k, v []byte) error {
			var l [8]byte
			binary.BigEndian.PutUint64(l[:], uint64(len(k)))
			h.Write(l[:])
			h.Write(k)
			binary.BigEndian.PutUint64(l[:], uint64(len(v)))
			h.Write(l[:])
			h.Write(v)
			return nil
		})
		if err != nil {
			return [32]byte{}, err
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func encodePeriod(p clearing.PeriodSummary) ([]byte, error) { return json.Marshal(p) }
