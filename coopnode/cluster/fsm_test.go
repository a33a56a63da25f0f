package cluster

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestEntryRoundTrip(t *testing.T) {
	for _, cmds := range [][][]byte{
		{[]byte("a")},
		{{}, []byte("bc"), {}},
		{bytes.Repeat([]byte{0xff}, 300), []byte{0}},
	} {
		data, err := encodeEntry(cmds)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntry(data)
		if err != nil || !slices.EqualFunc(got, cmds, bytes.Equal) {
			t.Errorf("%q: decoded %q, %v", cmds, got, err)
		}
	}
	if got, err := decodeEntry(nil); err != nil || len(got) != 0 {
		t.Errorf("empty entry: %q, %v", got, err)
	}
}

func TestDecodeEntryRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"version", []byte{2, 0}},
		{"no count", []byte{1}},
		{"count above the bytes", []byte{1, 5, 0}},
		{"huge count", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"length past the end", []byte{1, 1, 4, 'a'}},
		{"trailing bytes", []byte{1, 1, 1, 'a', 'b'}},
	} {
		if _, err := decodeEntry(tc.data); err == nil {
			t.Errorf("%s: %x decoded", tc.name, tc.data)
		}
	}
}

// TestApplyBadEntry: an entry that does not decode answers an error (the
// same on every node) and reaches no state machine.
func TestApplyBadEntry(t *testing.T) {
	sm := newTestSM()
	f := &fsm{sm: sm}
	res := f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: []byte{9}})
	if err, ok := res.(error); !ok {
		t.Fatalf("bad entry answered %v", res)
	} else if _, err := splitResults(err); err == nil {
		t.Error("splitResults passed the error over")
	}
	if n, _ := sm.state(); n != 0 || f.applied.get() != 7 {
		t.Errorf("state %d commands, applied %d; want 0 and 7", n, f.applied.get())
	}
}

// TestSnapshotRestore: an image restored into a new state machine gives
// the same state and applied index.
func TestSnapshotRestore(t *testing.T) {
	a := &fsm{sm: newTestSM()}
	data, _ := encodeEntry([][]byte{[]byte("x"), []byte("y")})
	a.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: data})
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := raft.NewFileSnapshotStore(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := store.Create(raft.SnapshotVersionMax, 3, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	_, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	b := &fsm{sm: newTestSM()}
	if err := b.Restore(rc); err != nil {
		t.Fatal(err)
	}
	na, ha := a.sm.(*testSM).state()
	nb, hb := b.sm.(*testSM).state()
	if na != 2 || na != nb || ha != hb || b.applied.get() != 3 {
		t.Errorf("restored %d commands at %d, want %d and 3 with the same hash", nb, b.applied.get(), na)
	}
	if err := b.Restore(nopCloser{bytes.NewReader([]byte{1, 2})}); err == nil {
		t.Error("a truncated image restored")
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func TestAppliedWait(t *testing.T) {
	var a applied
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.wait(context.Background(), 5, stop) }()
	a.set(4)
	a.set(5)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := a.wait(ctx, 6, stop); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the deadline: %v", err)
	}
	close(stop)
	if err := a.wait(context.Background(), 6, stop); !errors.Is(err, ErrClosed) {
		t.Errorf("wait on a closed node: %v", err)
	}
}

// FuzzDecodeEntry: any bytes decode or fail cleanly, and what decodes
// encodes back to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	for _, cmds := range [][][]byte{{[]byte("a")}, {{}, []byte("bc")}, nil} {
		data, _ := encodeEntry(cmds)
		f.Add(data)
	}
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := decodeEntry(data)
		if err != nil || len(data) == 0 {
			return
		}
		again, _ := encodeEntry(cmds)
		if !bytes.Equal(again, data) {
			// Uvarints have one canonical form only if not padded.
			if back, err := decodeEntry(again); err != nil || !slices.EqualFunc(back, cmds, bytes.Equal) {
				t.Fatalf("%x decoded to %q, which encodes to %x", data, cmds, again)
			}
		}
	})
}
