package raftutil

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// recorder is a slog.Handler that keeps its records with their attributes
// (those added by With included) flattened to text.
type recorder struct {
	mu    *sync.Mutex
	recs  *[]map[string]string
	attrs []slog.Attr
}

func newRecorder() *recorder { return &recorder{mu: new(sync.Mutex), recs: new([]map[string]string)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{"level": rec.Level.String(), "msg": rec.Message}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.recs = append(*r.recs, m)
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(r.attrs[:len(r.attrs):len(r.attrs)], as...)
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) records() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]string(nil), *r.recs...)
}

func TestHclogAdapterLevelsAndFields(t *testing.T) {
	rec := newRecorder()
	l := NewHclog(slog.New(rec), "raft", hclog.Info)
	l.Debug("dropped below the minimum")
	l.Info("entering follower state", "follower", "node1", "leader-address", "")
	l.With("peer", "node2").Warn("failed to contact", "time", "1.5s")
	l.Named("snapshots").Error("failed to persist", "error", "disk full")
	l.StandardLogger(nil).Print("from the standard logger")
	want := []struct{ level, msg, logger, key, val string }{
		{"INFO", "entering follower state", "raft", "follower", "node1"},
		{"WARN", "failed to contact", "raft", "peer", "node2"},
		{"ERROR", "failed to persist", "raft.snapshots", "error", "disk full"},
		{"INFO", "from the standard logger", "raft", "component", "raft"},
	}
	got := rec.records()
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g["level"] != w.level || g["msg"] != w.msg || g["logger"] != w.logger || g["component"] != "raft" || g[w.key] != w.val {
			t.Errorf("line %d = %v, want %+v", i, g, w)
		}
	}
	if !l.IsWarn() || l.IsDebug() {
		t.Error("IsWarn/IsDebug do not follow the minimum level")
	}
}
