package store

import (
	"os"
	"path/filepath"
	"testing"
)

// A replica's file carries the clean marker only between a Close and the
// next Open; DiscardUnclean moves aside a file without it and leaves one
// with it.
func TestReplicaMarker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	marker := func() bool { _, err := os.Stat(path + markerSuffix); return err == nil }
	open := func() *Store {
		t.Helper()
		s, err := Open(Options{Path: path, Buckets: [][]byte{bktTest}, Replica: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if marker() {
		t.Fatal("marker beside an open file")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !marker() {
		t.Fatal("no marker after a clean close")
	}
	if moved, err := DiscardUnclean(path); err != nil || moved {
		t.Fatalf("DiscardUnclean of a cleanly closed file: moved %v, %v", moved, err)
	}
	s = open()
	if marker() {
		t.Fatal("Open left the marker: a crash from here on would pass for a clean stop")
	}
	// A crash: the process ends with the file open, so no Close runs.
	crashed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + markerSuffix); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	moved, err := DiscardUnclean(path)
	if err != nil || !moved {
		t.Fatalf("DiscardUnclean after a crash: moved %v, %v", moved, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the unclean file is still in place: %v", err)
	}
	if got, err := os.ReadFile(path + UncleanSuffix); err != nil || len(got) != len(crashed) {
		t.Fatalf("the unclean file was not kept aside: %d bytes, %v", len(got), err)
	}
	if moved, err := DiscardUnclean(path); err != nil || moved {
		t.Fatalf("DiscardUnclean with no file: moved %v, %v", moved, err)
	}
}

// A store that is not a replica writes no marker.
func TestNoMarkerOutsideReplica(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(Options{Path: path, Buckets: [][]byte{bktTest}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + markerSuffix); !os.IsNotExist(err) {
		t.Fatalf("marker beside a single node's file: %v", err)
	}
}
