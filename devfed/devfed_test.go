package devfed

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// TestRestartKeepsHubCluster starts a dev federation, stops it and starts it
// again on the same directory: the hub cluster comes back on the same
// addresses with its state, and the co-ops are registered once.
func TestRestartKeepsHubCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub cluster and two co-op nodes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	opts := Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	first := f.Manifest.Hub
	checkRegistered(t, f)
	f.Stop()

	f, err = Start(ctx, opts)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer f.Stop()
	for i, n := range f.Manifest.Hub.Nodes {
		if n != first.Nodes[i] {
			t.Fatalf("hub node %d moved: %+v → %+v", i, first.Nodes[i], n)
		}
	}
	checkRegistered(t, f)
}

func checkRegistered(t *testing.T, f *Federation) {
	t.Helper()
	l := f.hubs.leader()
	if l == nil {
		t.Fatal("no hub leader")
	}
	if got := len(l.FSM().Participants()); got != len(f.Nodes) {
		t.Fatalf("hub has %d participants, want %d", got, len(f.Nodes))
	}
	for _, n := range f.Nodes {
		p, ok := l.FSM().Participant(n.Key.DID())
		if !ok || p.GetName() != n.Config.CoopID {
			t.Fatalf("co-op %s not registered: %v", n.Config.CoopID, p)
		}
	}
}
