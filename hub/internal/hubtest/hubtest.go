// Package hubtest holds the test helpers that the hub's packages share:
// keys, the state machine's commands, raft log entries and snapshots.
package hubtest

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// NewKey generates a key.
func NewKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Register registers k as a co-op named name.
func Register(k *identity.Key, name string) *icnv1.Command {
	return &icnv1.Command{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
		Did: string(k.DID()), Name: name, Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP}}}
}

// Trust is from's signed attestation of trust w (a decimal) in to, issued at.
func Trust(t testing.TB, from *identity.Key, to identity.DID, w string, at int64) *icnv1.Command {
	t.Helper()
	wt, err := trust.ParseWeight(w)
	if err != nil {
		t.Fatal(err)
	}
	s, err := trust.Sign(from, trust.Attestation{From: from.DID(), To: to, Weight: wt, IssuedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return &icnv1.Command{Cmd: &icnv1.Command_SetTrust{SetTrust: &icnv1.SetTrust{Attestation: &icnv1.SignedMessage{
		Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}}}
}

// Cap sets d's hours debit cap.
func Cap(d identity.DID, units int64) *icnv1.Command {
	return &icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{SetCreditPolicy: &icnv1.SetCreditPolicy{
		Did: string(d), Currency: "hours", DebitCapUnits: units}}}
}

// Prepare prepares an hours transfer.
func Prepare(id string, from, to identity.DID, units int64, expires int64) *icnv1.Command {
	return &icnv1.Command{Cmd: &icnv1.Command_PrepareTransfer{PrepareTransfer: &icnv1.PrepareTransfer{
		Id: id, From: string(from), To: string(to), Currency: "hours", AmountUnits: units,
		ExpiresAtUnixNano: expires}}}
}

// Commit commits transfer id.
func Commit(id string) *icnv1.Command {
	return &icnv1.Command{Cmd: &icnv1.Command_CommitTransfer{CommitTransfer: &icnv1.CommitTransfer{Id: id}}}
}

// LogEntry is a raft log entry at idx holding cmds as one batch.
func LogEntry(t testing.TB, idx uint64, cmds ...*icnv1.Command) *raft.Log {
	t.Helper()
	b, err := proto.Marshal(&icnv1.CommandBatch{Commands: cmds})
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Type: raft.LogCommand, Index: idx, Term: 1, Data: b}
}

// MemSink is a raft snapshot sink in memory.
type MemSink struct {
	bytes.Buffer
	Closed, Canceled bool
}

func (s *MemSink) ID() string    { return "mem" }
func (s *MemSink) Close() error  { s.Closed = true; return nil }
func (s *MemSink) Cancel() error { s.Canceled = true; return nil }

var _ raft.SnapshotSink = (*MemSink)(nil)

// Persist writes snap to memory and returns its bytes.
func Persist(t testing.TB, snap raft.FSMSnapshot) []byte {
	t.Helper()
	sink := &MemSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	if !sink.Closed || sink.Canceled {
		t.Fatalf("persist: sink closed=%v canceled=%v", sink.Closed, sink.Canceled)
	}
	return sink.Bytes()
}

// SnapshotBytes is a persisted snapshot of f.
func SnapshotBytes(t testing.TB, f raft.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer snap.Release()
	return Persist(t, snap)
}

// StateHash is f's state hash.
func StateHash(t testing.TB, f interface{ StateHash() ([32]byte, error) }) [32]byte {
	t.Helper()
	h, err := f.StateHash()
	if err != nil {
		t.Fatalf("state hash: %v", err)
	}
	return h
}
