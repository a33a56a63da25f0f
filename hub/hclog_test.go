package hub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
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
