package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/icn-coop/icn/hub/internal/hubtest"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// --- FSM helpers -------------------------------------------------------------

// newTestFSM opens a fresh FSM in its own temporary directory.
func newTestFSM(t testing.TB) *FSM {
	t.Helper()
	f, err := OpenFSM(filepath.Join(t.TempDir(), "fsm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// memSink is a raft.SnapshotSink over a bytes.Buffer.

// snapshotBytes takes a snapshot of f and persists it into memory.

// Shared helpers (hub/internal/hubtest).
var (
	newKey        = hubtest.NewKey
	cmdRegister   = hubtest.Register
	cmdTrust      = hubtest.Trust
	cmdCap        = hubtest.Cap
	cmdPrepare    = hubtest.Prepare
	cmdCommit     = hubtest.Commit
	logEntry      = hubtest.LogEntry
	persist       = hubtest.Persist
	snapshotBytes = func(t testing.TB, f *FSM) []byte { return hubtest.SnapshotBytes(t, f) }
	stateHash     = func(t testing.TB, f *FSM) [32]byte { return hubtest.StateHash(t, f) }
)

func restore(f *FSM, b []byte) error { return f.Restore(io.NopCloser(bytes.NewReader(b))) }

// results converts one ApplyBatch/Apply response.
func results(t testing.TB, l *raft.Log, v interface{}) []*icnv1.CommandResult {
	t.Helper()
	if v == nil {
		if l.Type == raft.LogCommand {
			t.Fatalf("log %d: nil response to a command entry", l.Index)
		}
		return nil
	}
	rs, ok := v.([]*icnv1.CommandResult)
	if !ok {
		t.Fatalf("log %d: response is %T", l.Index, v)
	}
	return rs
}

// sameResponses compares two responses to the same log entry.
func sameResponses(t testing.TB, l *raft.Log, a, b interface{}) {
	t.Helper()
	ra, rb := results(t, l, a), results(t, l, b)
	if len(ra) != len(rb) {
		t.Fatalf("log %d: %d results vs %d", l.Index, len(ra), len(rb))
	}
	for i := range ra {
		if !proto.Equal(ra[i], rb[i]) {
			t.Fatalf("log %d command %d: results differ:\n %v\n %v", l.Index, i, ra[i], rb[i])
		}
	}
}

// logEntry packs commands into one raft command entry.

// --- command generator -------------------------------------------------------

// cmdGen produces random but plausible command sequences. It keeps a rough
// model of the state only to make commands interesting (mostly valid, with a
// share of every kind of refusal); it never predicts outcomes.
type cmdGen struct {
	t      testing.TB
	r      *rand.Rand
	now    int64
	fed    *identity.Key
	keys   []*identity.Key           // the last one is never registered
	trust  map[[2]identity.DID]int64 // latest issued_at emitted per edge
	preps  []*icnv1.PrepareTransfer
	reqIDs []string
	period uint64
	nextID int
}

// genKey derives a key from the generator's random source, so that a seed
// fixes the whole log.
func genKey(t testing.TB, r *rand.Rand) *identity.Key {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	k, err := identity.KeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCmdGen(t testing.TB, seed uint64, participants int) *cmdGen {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &cmdGen{t: t, r: r, now: 1_700_000_000_000_000_000, trust: map[[2]identity.DID]int64{}, period: 1}
	g.fed = genKey(t, r)
	for range participants {
		g.keys = append(g.keys, genKey(t, r))
	}
	return g
}

func (g *cmdGen) tick() int64 {
	g.now += 1 + g.r.Int64N(50_000_000) // up to 50 ms between commands
	return g.now
}

func (g *cmdGen) key() *identity.Key { return g.keys[g.r.IntN(len(g.keys))] }

// member is one of the participants the bootstrap registers.
func (g *cmdGen) member() *identity.Key { return g.keys[g.r.IntN(len(g.keys)-2)] }

// party is a participant or, now and then, the federation.
func (g *cmdGen) party() *identity.Key {
	if g.r.IntN(5) == 0 {
		return g.fed
	}
	return g.key()
}

func (g *cmdGen) initFederation() *icnv1.Command {
	return &icnv1.Command{Cmd: &icnv1.Command_InitFederation{InitFederation: &icnv1.InitFederation{
		FederationDid: string(g.fed.DID()), Name: "generated federation", MinTrust: "0.1", MaxHops: 3,
		Currencies: []*icnv1.CurrencySpec{{Code: "hours", Scale: 2}, {Code: "eur", Scale: 2}}}}}
}

func (g *cmdGen) register(i int, valid bool) *icnv1.Command {
	kind := icnv1.ParticipantKind_PARTICIPANT_KIND_COOP
	if g.r.IntN(6) == 0 {
		kind = icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION
	}
	c := &icnv1.RegisterParticipant{Did: string(g.keys[i].DID()), Name: fmt.Sprintf("coop %d", i), Kind: kind}
	if !valid {
		switch g.r.IntN(4) {
		case 0:
			c.Did = "did:icn:notbase58!"
		case 1:
			c.Name = ""
		case 2:
			c.Kind = icnv1.ParticipantKind_PARTICIPANT_KIND_UNSPECIFIED
		default:
			c.Name = strings.Repeat("n", MaxNameLen+1)
		}
	}
	return &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: c}}
}

func (g *cmdGen) trustCmd(from *identity.Key, to identity.DID, w trust.Weight) *icnv1.Command {
	k := [2]identity.DID{from.DID(), to}
	at := g.trust[k] + 1 + g.r.Int64N(1000)
	if g.trust[k] > 0 && g.r.IntN(8) == 0 {
		at = g.trust[k] - g.r.Int64N(2) // stale: same time or older
	} else {
		g.trust[k] = at
	}
	s, err := trust.Sign(from, trust.Attestation{From: from.DID(), To: to, Weight: w, IssuedAt: at})
	if err != nil {
		g.t.Fatal(err)
	}
	sm := &icnv1.SignedMessage{Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}
	if g.r.IntN(30) == 0 {
		sm.Signer = string(g.key().DID()) // signer is not the author
	}
	return &icnv1.Command{Cmd: &icnv1.Command_SetTrust{SetTrust: &icnv1.SetTrust{Attestation: sm}}}
}

var genWeights = []trust.Weight{0, 50_000, 300_000, 500_000, 800_000, 1_000_000, 1_000_000}

func (g *cmdGen) randomTrust() *icnv1.Command {
	from, to := g.party(), g.party()
	for to == from {
		to = g.party()
	}
	return g.trustCmd(from, to.DID(), genWeights[g.r.IntN(len(genWeights))])
}

func (g *cmdGen) currency() string {
	switch g.r.IntN(20) {
	case 0:
		return "xyz" // not cleared by the federation
	case 1, 2, 3:
		return "eur"
	}
	return "hours"
}

func (g *cmdGen) credit(k *identity.Key) *icnv1.Command {
	units := g.r.Int64N(2_000_000)
	if g.r.IntN(20) == 0 {
		units = -units - 1
	}
	return &icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{SetCreditPolicy: &icnv1.SetCreditPolicy{
		Did: string(k.DID()), Currency: g.currency(), DebitCapUnits: units}}}
}

func (g *cmdGen) prepare() *icnv1.Command {
	if len(g.preps) > 0 && g.r.IntN(8) == 0 {
		p := proto.Clone(g.preps[g.r.IntN(len(g.preps))]).(*icnv1.PrepareTransfer)
		if g.r.IntN(3) == 0 { // modified repeat
			switch g.r.IntN(3) {
			case 0:
				p.AmountUnits++
			case 1:
				p.ExpiresAtUnixNano++
			default:
				p.IntentHash = bytes.Repeat([]byte{byte(g.r.Uint32())}, 32)
			}
		}
		return &icnv1.Command{Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: p}}
	}
	g.nextID++
	from, to := g.member(), g.member()
	switch g.r.IntN(30) {
	case 0:
		from = g.fed // not a participant
	case 1:
		to = g.key() // perhaps not registered
	}
	p := &icnv1.PrepareTransfer{
		Id: fmt.Sprintf("t-%05d", g.nextID), From: string(from.DID()), To: string(to.DID()),
		Currency: g.currency(), AmountUnits: 1 + g.r.Int64N(50_000),
		ExpiresAtUnixNano: g.now + g.r.Int64N(3_000_000_000) - 200_000_000, // some already expired
	}
	if g.r.IntN(2) == 0 {
		h := sha256.Sum256([]byte(p.Id))
		p.IntentHash = h[:]
	}
	switch g.r.IntN(40) {
	case 0:
		p.AmountUnits = 1 << 50 // over any cap
	case 1:
		p.AmountUnits = 0
	case 2:
		p.IntentHash = []byte{1, 2, 3} // wrong length
	case 3:
		p.Id = ""
	}
	g.preps = append(g.preps, p)
	return &icnv1.Command{Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: p}}
}

func (g *cmdGen) transferID() string {
	if len(g.preps) == 0 || g.r.IntN(15) == 0 {
		return fmt.Sprintf("never-%d", g.r.IntN(1000))
	}
	// Mostly recent transfers, so that many commits land before expiry.
	n := len(g.preps)
	i := n - 1 - g.r.IntN(min(n, 12))
	if g.r.IntN(5) == 0 {
		i = g.r.IntN(n)
	}
	return g.preps[i].Id
}

var abortReasons = []string{"", "receiver_rejected", "canceled", "expired", "duplicate", "bogus"}

// next returns one random command after the bootstrap.
func (g *cmdGen) next() *icnv1.Command {
	var c *icnv1.Command
	switch n := g.r.IntN(100); {
	case n < 3:
		c = g.register(g.r.IntN(len(g.keys)-1), g.r.IntN(3) != 0)
	case n < 5:
		c = &icnv1.Command{Cmd: &icnv1.Command_UpdateParticipant{UpdateParticipant: &icnv1.UpdateParticipant{
			Did: string(g.key().DID()), Name: []string{"renamed", "", "another name"}[g.r.IntN(3)]}}}
	case n < 8:
		st := icnv1.ParticipantStatus_PARTICIPANT_STATUS_ACTIVE
		if g.r.IntN(5) == 0 {
			st = icnv1.ParticipantStatus_PARTICIPANT_STATUS_SUSPENDED
		} else if g.r.IntN(10) == 0 {
			st = icnv1.ParticipantStatus_PARTICIPANT_STATUS_UNSPECIFIED
		}
		c = &icnv1.Command{Cmd: &icnv1.Command_SetParticipantStatus{SetParticipantStatus: &icnv1.SetParticipantStatus{
			Did: string(g.key().DID()), Status: st, Reason: "generated"}}}
	case n < 17:
		c = g.randomTrust()
	case n < 20:
		c = g.credit(g.key())
	case n < 55:
		c = g.prepare()
	case n < 80:
		c = &icnv1.Command{Cmd: &icnv1.Command_CommitTransfer{CommitTransfer: &icnv1.CommitTransfer{Id: g.transferID()}}}
	case n < 87:
		c = &icnv1.Command{Cmd: &icnv1.Command_AbortTransfer{AbortTransfer: &icnv1.AbortTransfer{
			Id: g.transferID(), Reason: abortReasons[g.r.IntN(len(abortReasons))]}}}
	case n < 92:
		c = &icnv1.Command{Cmd: &icnv1.Command_ExpireTransfers{ExpireTransfers: &icnv1.ExpireTransfers{}}}
	case n < 94:
		c = g.reportSignature()
	case n < 96:
		num := g.period + 1
		if g.r.IntN(4) == 0 {
			num = g.period + uint64(g.r.IntN(3)) - 1 // out of sequence, mostly
		}
		if num == g.period+1 {
			g.period++
		}
		c = &icnv1.Command{Cmd: &icnv1.Command_OpenPeriod{OpenPeriod: &icnv1.OpenPeriod{Number: num}}}
	case n < 97:
		c = g.reportSignature()
	case n < 98:
		k := g.key()
		c = &icnv1.Command{Cmd: &icnv1.Command_RegisterHubNode{RegisterHubNode: &icnv1.RegisterHubNode{
			Did: string(k.DID()), RaftAddress: fmt.Sprintf("10.0.0.%d:7000", g.r.IntN(9)), GrpcAddress: "10.0.0.1:7001"}}}
	case n < 99:
		c = g.initFederation() // a no-op repeat
	default:
		c = &icnv1.Command{} // empty command
	}
	return c
}

// reportSignature signs a closed (or not) period's report hash: mostly by
// keys[0], the voter of the generated configuration, over the period's
// one hash (so repeats agree), sometimes over another hash or by another key.
func (g *cmdGen) reportSignature() *icnv1.Command {
	p := 1 + uint64(g.r.IntN(int(g.period)+2))
	h := sha256.Sum256(fmt.Appendf(nil, "report %d", p))
	if g.r.IntN(6) == 0 {
		h[0] ^= 1
	}
	k := g.keys[0]
	if g.r.IntN(5) == 0 {
		k = g.key()
	}
	sig := k.Sign(identity.TagReport, h[:])
	if g.r.IntN(8) == 0 {
		sig[0] ^= 1
	}
	return &icnv1.Command{Cmd: &icnv1.Command_AddReportSignature{AddReportSignature: &icnv1.AddReportSignature{
		Period: p, ReportHash: h[:], Signer: string(k.DID()), Signature: sig}}}
}

// commands returns n commands: InitFederation, a bootstrap of registrations,
// trust and caps, then random ones; monotonic times, some request ids (a
// share of them repeated).
func (g *cmdGen) commands(n int) []*icnv1.Command {
	var cmds []*icnv1.Command
	add := func(c *icnv1.Command) {
		c.AtUnixNano = g.tick()
		cmds = append(cmds, c)
	}
	add(g.initFederation())
	for i := range len(g.keys) - 2 { // the last two start unknown
		add(g.register(i, true))
		add(g.trustCmd(g.fed, g.keys[i].DID(), genWeights[1+g.r.IntN(len(genWeights)-1)]))
		add(g.trustCmd(g.keys[i], g.fed.DID(), 1_000_000))
		add(g.credit(g.keys[i]))
	}
	for len(cmds) < n {
		add(g.next())
	}
	for _, c := range cmds[1:] {
		switch g.r.IntN(20) {
		case 0, 1:
			id := fmt.Sprintf("req-%d", len(g.reqIDs))
			g.reqIDs = append(g.reqIDs, id)
			c.RequestId = id
		case 2:
			if len(g.reqIDs) > 0 {
				c.RequestId = g.reqIDs[g.r.IntN(len(g.reqIDs))]
			}
		}
	}
	return cmds
}

// logs packs n generated commands into raft entries of random batch sizes,
// with a configuration entry and an undecodable command entry among them.
func (g *cmdGen) logs(n int) []*raft.Log {
	cmds := g.commands(n)
	var logs []*raft.Log
	add := func(l *raft.Log) {
		l.Index = uint64(len(logs) + 1)
		logs = append(logs, l)
	}
	confAt := 1 + g.r.IntN(max(len(cmds)/10, 1)) // early, so that later periods record its voter
	badAt := 1 + g.r.IntN(len(cmds)-1)
	for i := 0; i < len(cmds); {
		if i >= confAt && confAt >= 0 {
			add(&raft.Log{Type: raft.LogConfiguration, Term: 1, Data: raft.EncodeConfiguration(raft.Configuration{
				Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(g.keys[0].DID()), Address: "127.0.0.1:7000"},
					{Suffrage: raft.Nonvoter, ID: "n2", Address: "127.0.0.1:7001"}}})})
			confAt = -1
		}
		if i >= badAt && badAt >= 0 {
			add(&raft.Log{Type: raft.LogCommand, Term: 1, Data: []byte{0xff, 0xff, 0xff}})
			badAt = -1
		}
		size := 1 + g.r.IntN(16)
		if g.r.IntN(10) == 0 {
			size = 1 + g.r.IntN(200)
		}
		end := min(i+size, len(cmds))
		add(logEntry(g.t, 0, cmds[i:end]...))
		i = end
	}
	return logs
}

// groups splits logs into consecutive groups of random sizes.
func groups(r *rand.Rand, logs []*raft.Log) [][]*raft.Log {
	var out [][]*raft.Log
	for i := 0; i < len(logs); {
		end := min(i+1+r.IntN(8), len(logs))
		out = append(out, logs[i:end])
		i = end
	}
	return out
}

// outcomeKey names a result for the coverage tally.
func outcomeKey(r *icnv1.CommandResult) string {
	switch {
	case r.GetErrorCode() != "" && r.GetRepeat():
		return "repeat:" + r.GetErrorCode()
	case r.GetErrorCode() != "":
		return "error:" + r.GetErrorCode()
	case r.GetRepeat():
		return "repeat"
	case r.GetTransfer() != nil:
		t := r.GetTransfer()
		if t.GetReason() != "" {
			return strings.ToLower(strings.TrimPrefix(t.GetState().String(), "TRANSFER_STATE_")) + ":" + t.GetReason()
		}
		return strings.ToLower(strings.TrimPrefix(t.GetState().String(), "TRANSFER_STATE_"))
	case len(r.GetExpired()) > 0:
		return "expired_some"
	}
	return "ok"
}

// --- determinism -------------------------------------------------------------

// TestDeterminism applies the same log to two fresh FSMs, one in random
// ApplyBatch groupings (with reads in between) and one entry by entry through
// Apply: the state hashes agree after every step and every command gets the
// same result.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	tally := map[string]int{}
	var finals [][32]byte
	for _, seed := range []uint64{1, 2, 3, 42} {
		g := newCmdGen(t, seed, 10)
		logs := g.logs(1500)
		batched, single := newTestFSM(t), newTestFSM(t)
		if stateHash(t, batched) != stateHash(t, single) {
			t.Fatal("two empty FSMs hash differently")
		}
		empty := stateHash(t, batched)
		r := rand.New(rand.NewPCG(seed, 7))
		for _, grp := range groups(r, logs) {
			outB := batched.ApplyBatch(grp)
			if len(outB) != len(grp) {
				t.Fatalf("seed %d: ApplyBatch of %d entries returned %d responses", seed, len(grp), len(outB))
			}
			for i, l := range grp {
				outS := single.Apply(l)
				sameResponses(t, l, outB[i], outS)
				for _, res := range results(t, l, outS) {
					tally[outcomeKey(res)]++
				}
			}
			// Reads memoise trust on one FSM only: they must not change its state
			// or any later result.
			for range 3 {
				from, to := g.party().DID(), g.party().DID()
				batched.TrustPath(from, to)
				_, _ = batched.CreditPolicies(to)
			}
			if hb, hs := stateHash(t, batched), stateHash(t, single); hb != hs {
				t.Fatalf("seed %d: hashes differ after log %d", seed, grp[len(grp)-1].Index)
			}
			last := grp[len(grp)-1].Index
			if batched.AppliedIndex() != last || single.AppliedIndex() != last {
				t.Fatalf("seed %d: applied %d/%d, want %d", seed, batched.AppliedIndex(), single.AppliedIndex(), last)
			}
		}
		h := stateHash(t, batched)
		if h == empty {
			t.Fatalf("seed %d: the log changed nothing", seed)
		}
		if slices.Contains(finals, h) {
			t.Fatalf("seed %d: final state equals another seed's", seed)
		}
		finals = append(finals, h)
	}
	keys := make([]string, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s=%d", k, tally[k])
	}
	t.Logf("outcomes:%s", sb.String())
	// The generator must exercise the interesting paths, or the test proves little.
	for _, want := range []string{
		"ok", "repeat", "prepared", "committed", "aborted:expired", "aborted:canceled", "aborted:receiver_rejected",
		"rejected:debit_cap_exceeded", "rejected:insufficient_trust", "rejected:unknown_participant",
		"rejected:participant_suspended", "rejected:expired", "rejected:invalid_request", "expired_some",
		"error:" + CodeAlreadyExists, "error:" + CodeInvalidArgument, "error:" + CodeUnknownParticipant,
		"error:" + CodeStale, "error:" + CodeUnknownCurrency, "error:" + CodePeriod,
		"error:modified_request", "error:unknown_transfer", "repeat:duplicate",
	} {
		if tally[want] == 0 {
			t.Errorf("the generated logs never produced %q", want)
		}
	}
}

// --- snapshot and restore ----------------------------------------------------

// TestSnapshotRestore snapshots at random points, restores into fresh FSMs
// (and into one holding older state), and checks that every copy keeps the
// hash and results of an FSM that never snapshotted while the rest of the log
// is applied.
func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{5, 6, 7} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			g := newCmdGen(t, seed, 9)
			logs := g.logs(1200)
			r := rand.New(rand.NewPCG(seed, 11))
			grps := groups(r, logs)

			ref := newTestFSM(t)   // never snapshots
			stale := newTestFSM(t) // stops early; a later snapshot is restored over it
			live := []*FSM{newTestFSM(t)}
			staleStop := len(grps) / 5
			for gi, grp := range grps {
				want := ref.ApplyBatch(grp)
				if gi < staleStop {
					stale.ApplyBatch(grp)
				}
				for _, f := range live {
					got := f.ApplyBatch(grp)
					for i, l := range grp {
						sameResponses(t, l, want[i], got[i])
					}
				}
				h := stateHash(t, ref)
				for k, f := range live {
					if stateHash(t, f) != h {
						t.Fatalf("copy %d differs from the reference after log %d", k, grp[len(grp)-1].Index)
					}
				}
				// Snapshot at random points, and at least every quarter of
				// the log whatever the seed draws.
				if r.IntN(len(grps)/4) != 0 && gi != staleStop && gi%max(1, len(grps)/4) != 0 {
					continue
				}
				// Snapshot the newest copy (a restored one, after the first) and restore it.
				src := live[len(live)-1]
				b := snapshotBytes(t, src)
				dst := newTestFSM(t)
				if gi == staleStop {
					dst = stale
					if stateHash(t, dst) == h {
						t.Fatal("the stale FSM already has the current state")
					}
				}
				if err := restore(dst, b); err != nil {
					t.Fatalf("restore after log %d: %v", grp[len(grp)-1].Index, err)
				}
				if stateHash(t, dst) != h {
					t.Fatalf("restored state after log %d has a different hash", grp[len(grp)-1].Index)
				}
				if dst.AppliedIndex() != src.AppliedIndex() || dst.AppliedIndex() != grp[len(grp)-1].Index {
					t.Fatalf("restored applied index %d, snapshot's %d, last log %d", dst.AppliedIndex(), src.AppliedIndex(), grp[len(grp)-1].Index)
				}
				if dst.restores.Load() != 1 {
					t.Fatalf("restores = %d", dst.restores.Load())
				}
				live = append(live, dst)
			}
			if len(live) < 3 {
				t.Fatalf("only %d snapshots taken", len(live)-1)
			}
			t.Logf("%d logs, %d restored copies", len(logs), len(live)-1)
		})
	}
}

// TestSnapshotWhileApplying: Raft persists a snapshot while the FSM goes on
// applying; the snapshot must hold the state as of Snapshot().
func TestSnapshotWhileApplying(t *testing.T) {
	t.Parallel()
	g := newCmdGen(t, 9, 8)
	logs := g.logs(1500)
	f := newTestFSM(t)
	half := len(logs) / 2
	f.ApplyBatch(logs[:half])
	want, wantIdx := stateHash(t, f), f.AppliedIndex()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// bbolt cannot grow its file while a read transaction is open in the same
	// goroutine, so the applies run beside Persist, as they do under Raft.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, grp := range groups(rand.New(rand.NewPCG(9, 9)), logs[half:]) {
			f.ApplyBatch(grp)
		}
	}()
	b := persist(t, snap)
	snap.Release()
	<-done
	if stateHash(t, f) == want {
		t.Fatal("the second half of the log changed nothing")
	}
	g2 := newTestFSM(t)
	if err := restore(g2, b); err != nil {
		t.Fatal(err)
	}
	if stateHash(t, g2) != want || g2.AppliedIndex() != wantIdx {
		t.Fatalf("snapshot does not hold the state as of Snapshot(): applied %d, want %d", g2.AppliedIndex(), wantIdx)
	}
	// And it catches up with the rest of the log.
	g2.ApplyBatch(logs[half:])
	if stateHash(t, g2) != stateHash(t, f) {
		t.Fatal("restored FSM diverged after applying the rest of the log")
	}
}

// TestRestoreEmptyFSMSnapshot: the snapshot of an FSM that applied nothing
// restores to an empty state (Raft restores such snapshots after a crash).
func TestRestoreEmptyFSMSnapshot(t *testing.T) {
	t.Parallel()
	a := newTestFSM(t)
	b := snapshotBytes(t, a)
	c := newTestFSM(t)
	c.ApplyBatch(newCmdGen(t, 3, 4).logs(50))
	if err := restore(c, b); err != nil {
		t.Fatal(err)
	}
	if stateHash(t, c) != stateHash(t, a) || c.AppliedIndex() != 0 {
		t.Fatalf("restored empty snapshot: applied %d", c.AppliedIndex())
	}
}

// snapshotParts splits a snapshot into its header, state JSON and records.
func snapshotParts(t *testing.T, b []byte) (mem, records []byte) {
	t.Helper()
	h := len(snapshotMagic) + 8
	n := int(binary.BigEndian.Uint64(b[len(snapshotMagic):h]))
	r := int(binary.BigEndian.Uint64(b[h+n : h+n+8]))
	return b[h : h+n], b[h+n+8 : h+n+8+r]
}

// buildSnapshot lays out a snapshot with a correct length and checksum for
// records (nil records: no records section at all).
func buildSnapshot(magic string, mem, records []byte) []byte {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(mem)))
	out := append([]byte(magic), n[:]...)
	out = append(out, mem...)
	if records == nil {
		return out
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(records)))
	out = append(out, n[:]...)
	out = append(out, records...)
	sum := sha256.Sum256(records)
	return append(out, sum[:]...)
}

// TestRestoreCorrupt: a damaged snapshot makes Restore fail with an error,
// never a panic; damage found before anything is replaced leaves the state as
// it was; and a good snapshot restores afterwards in every case (Raft falls
// back to an older snapshot when one fails).
func TestRestoreCorrupt(t *testing.T) {
	t.Parallel()
	g := newCmdGen(t, 13, 6)
	logs := g.logs(400)
	src := newTestFSM(t)
	src.ApplyBatch(logs)
	good := snapshotBytes(t, src)
	want := stateHash(t, src)
	mem, records := snapshotParts(t, good)
	if len(records) == 0 || !bytes.HasPrefix(good, []byte(snapshotMagic)) {
		t.Fatal("unexpected snapshot layout")
	}
	bigLen := buildSnapshot(snapshotMagic, nil, nil)
	binary.BigEndian.PutUint64(bigLen[len(snapshotMagic):], 1<<40)
	shortLen := buildSnapshot(snapshotMagic, nil, nil)
	binary.BigEndian.PutUint64(shortLen[len(snapshotMagic):], uint64(len(mem)+len(records)+1))
	shortLen = append(shortLen, mem...)
	shortLen = append(shortLen, records...)

	cases := []struct {
		name string
		b    []byte
		// early: the damage is found before the FSM's state is touched.
		early bool
		// bug, if set, names the bug that makes this case fail: the case is skipped.
		bug string
	}{
		{"empty", nil, true, ""},
		{"bad magic", buildSnapshot("ICNHUB99", mem, records), true, ""},
		{"not a snapshot", bytes.Repeat([]byte("x"), 4096), true, ""},
		{"truncated header", good[:len(snapshotMagic)+3], true, ""},
		{"truncated state", good[:len(snapshotMagic)+8+len(mem)/2], true, ""},
		{"implausible state length", bigLen, true, ""},
		{"state length past the end", shortLen, true, ""},
		{"garbage state JSON", buildSnapshot(snapshotMagic, []byte("{\"participants\": [garbage"), records), false, ""},
		{"state JSON of the wrong shape", buildSnapshot(snapshotMagic, []byte(`{"participants":"x"}`), records), false, ""},
		{"bad participant bytes", buildSnapshot(snapshotMagic, []byte(`{"participants":["/////w=="]}`), records), false, ""},
		{"book that breaks its invariants", buildSnapshot(snapshotMagic,
			bytes.Replace(mem, []byte(`"committed":`), []byte(`"committed":1`), 1), records), false, ""},
		{"garbage records", buildSnapshot(snapshotMagic, mem, bytes.Repeat([]byte{0xa5}, 64<<10)), false, ""},
		{"records cut to one page", buildSnapshot(snapshotMagic, mem, records[:4096]), false, ""},
		{"truncated records", good[:len(good)-len(records)/2], false, ""},
		{"records checksum wrong", append(append([]byte(nil), good[:len(good)-1]...), good[len(good)-1]^1), false, ""},
		{"no records section", buildSnapshot(snapshotMagic, mem, nil), false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.bug != "" {
				t.Skip(c.bug)
			}
			f := newTestFSM(t)
			f.ApplyBatch(logs[:len(logs)/2])
			before, beforeIdx := stateHash(t, f), f.AppliedIndex()
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Restore panicked: %v", p)
					}
				}()
				err = restore(f, c.b)
			}()
			if err == nil {
				t.Fatal("Restore accepted a corrupt snapshot")
			}
			t.Logf("error: %v", err)
			if c.early {
				if stateHash(t, f) != before || f.AppliedIndex() != beforeIdx {
					t.Fatal("a snapshot refused before restoring changed the state")
				}
			}
			if err := restore(f, good); err != nil {
				t.Fatalf("good snapshot after a failed one: %v", err)
			}
			if stateHash(t, f) != want || f.AppliedIndex() != src.AppliedIndex() {
				t.Fatal("good snapshot after a failed one restored a different state")
			}
		})
	}
}

// --- memory ------------------------------------------------------------------

// TestDecidedTransfersLeaveMemory: after 5,000 prepare+commit pairs the book
// holds nothing pending, the in-memory state is no bigger than after 100, and
// every transfer is readable from bbolt.
func TestDecidedTransfersLeaveMemory(t *testing.T) {
	t.Parallel()
	fed, a, b := newKey(t), newKey(t), newKey(t)
	f := newTestFSM(t)
	var idx uint64
	at := int64(1_000)
	applyAll := func(cmds ...*icnv1.Command) {
		t.Helper()
		for _, c := range cmds {
			at++
			c.AtUnixNano = at
		}
		idx++
		l := logEntry(t, idx, cmds...)
		for i, res := range results(t, l, f.Apply(l)) {
			if res.GetErrorCode() != "" || (res.GetTransfer() != nil && res.GetTransfer().GetReason() != "") {
				t.Fatalf("log %d command %d (%T): %v", idx, i, cmds[i].Cmd, res)
			}
		}
	}
	applyAll(&icnv1.Command{Cmd: &icnv1.Command_InitFederation{InitFederation: &icnv1.InitFederation{
		FederationDid: string(fed.DID()), Name: "f"}}},
		cmdRegister(a, "a"), cmdRegister(b, "b"),
		cmdTrust(t, fed, a.DID(), "1", 1), cmdTrust(t, fed, b.DID(), "1", 1),
		cmdTrust(t, a, b.DID(), "1", 1), cmdTrust(t, b, a.DID(), "1", 1),
		cmdCap(a.DID(), 1_000), cmdCap(b.DID(), 1_000))
	memSize := func() int {
		f.mu.RLock()
		defer f.mu.RUnlock()
		m, err := f.st.encodeMem()
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	const pairs, perLog = 5_000, 250
	var small int
	for i := 0; i < pairs; i += perLog {
		var cmds []*icnv1.Command
		for j := i; j < i+perLog; j++ {
			id := fmt.Sprintf("tx-%05d", j)
			from, to := a.DID(), b.DID()
			if j%2 == 1 { // alternate, so the 10.00 cap never binds
				from, to = to, from
			}
			cmds = append(cmds, cmdPrepare(id, from, to, 700, 1<<60), cmdCommit(id))
		}
		applyAll(cmds...)
		if i+perLog == 250 {
			small = memSize()
		}
	}
	if p := f.Pending(); len(p) != 0 {
		t.Fatalf("%d transfers still pending", len(p))
	}
	f.mu.RLock()
	bookPending := len(f.st.book.Pending())
	f.mu.RUnlock()
	if bookPending != 0 {
		t.Fatalf("book holds %d pending transfers", bookPending)
	}
	// A few bytes more for the larger committed counter, nothing per transfer.
	if big := memSize(); big > small+16 {
		t.Fatalf("in-memory state grew from %d to %d bytes over %d transfers", small, big, pairs)
	}
	for _, j := range []int{0, 1, 2_345, pairs - 1} {
		id := fmt.Sprintf("tx-%05d", j)
		tr, ok, err := f.Transfer(id)
		if err != nil || !ok {
			t.Fatalf("transfer %s: ok=%v err=%v", id, ok, err)
		}
		if tr.GetState() != icnv1.TransferState_TRANSFER_STATE_COMMITTED || tr.GetAmountUnits() != 700 || tr.GetPeriod() != 1 {
			t.Fatalf("transfer %s: %v", id, tr)
		}
	}
	var n int
	if err := f.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketTransfers).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != pairs {
		t.Fatalf("%d transfer records in bbolt, want %d", n, pairs)
	}
	pos := f.Federation()
	if pos.GetPendingTransfers() != 0 {
		t.Fatalf("federation reports %d pending", pos.GetPendingTransfers())
	}
}

// TestRestoreFailureKeepsState: a snapshot whose damage is found only while
// decoding the state must leave the FSM as it was, not half replaced.
func TestRestoreFailureKeepsState(t *testing.T) {
	t.Parallel()
	g := newCmdGen(t, 17, 6)
	logs := g.logs(300)
	src := newTestFSM(t)
	src.ApplyBatch(logs)
	_, records := snapshotParts(t, snapshotBytes(t, src))
	f := newTestFSM(t)
	f.ApplyBatch(logs[:len(logs)/3])
	before, idx := stateHash(t, f), f.AppliedIndex()
	if err := restore(f, buildSnapshot(snapshotMagic, []byte("{garbage"), records)); err == nil {
		t.Fatal("Restore accepted garbage state JSON")
	}
	if stateHash(t, f) != before || f.AppliedIndex() != idx {
		t.Fatal("a failed Restore changed the state")
	}
}

// TestGeneratedSettlement checks that the generated logs exercise
// settlement: closed periods with accepted and refused report signatures.
func TestGeneratedSettlement(t *testing.T) {
	t.Parallel()
	g := newCmdGen(t, 5, 9)
	f := newTestFSM(t)
	f.ApplyBatch(g.logs(3000))
	recs, err := f.SettlementPeriods()
	if err != nil {
		t.Fatal(err)
	}
	var signed, refused int
	for _, r := range recs {
		signed += len(r.GetSignatures())
		refused += int(r.GetRefusedSignatures())
		if len(r.GetHubNodes()) > 1 || r.GetQuorum() != uint32(len(r.GetHubNodes())) {
			t.Fatalf("period %d: hub nodes %v quorum %d (the generated configuration has one voter)", r.GetNumber(), r.GetHubNodes(), r.GetQuorum())
		}
	}
	if len(recs) < 2 || signed == 0 || refused == 0 {
		t.Fatalf("%d closed periods, %d signatures, %d refused: the generator does not exercise settlement", len(recs), signed, refused)
	}
}
