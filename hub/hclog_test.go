package hub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// syncBuffer is a bytes.Buffer safe for the goroutines of a raft node.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines decodes the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestHclogAdapterLevelsAndFields(t *testing.T) {
	var buf syncBuffer
	l := newHclog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "raft", hclog.Info)
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
	got := buf.lines(t)
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

// TestRaftLogsThroughSlog: a real raft node's lines arrive as slog records
// with raft's level and message, not as one Warn line that holds hclog's
// own timestamp and "[INFO] raft:" text.
func TestRaftLogsThroughSlog(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.Logger = logger })
	c.leader()
	var leaderLine bool
	for _, m := range buf.lines(t) {
		if m["component"] != "raft" {
			continue
		}
		msg, _ := m["msg"].(string)
		if strings.Contains(msg, "[INFO]") || strings.Contains(msg, "[WARN]") || strings.Contains(msg, "[ERROR]") || strings.Contains(msg, "raft: ") {
			t.Errorf("raft line carries hclog's formatting: %v", m)
		}
		if msg == "entering leader state" && m["level"] == "INFO" {
			leaderLine = true
		}
	}
	if !leaderLine {
		t.Fatalf("no INFO \"entering leader state\" line from raft in:\n%v", buf.lines(t))
	}
}
