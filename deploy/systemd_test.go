package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSystemdUnits: the units for icn hub and icn coop pass
// systemd-analyze verify with no complaint, carry the hardening the
// deployment relies on, and systemd-analyze security rates them at most 2.0
// ("OK"). verify checks that ExecStart's binary exists, so the copies it
// checks point at this test binary instead of /usr/local/bin/icn.
func TestSystemdUnits(t *testing.T) {
	sa := tool(t, "systemd-analyze", "systemd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var units []string
	for _, u := range []string{"icn-hub.service", "icn-coop.service"} {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		body := string(b)
		for _, want := range []string{"\nProtectSystem=strict\n", "\nNoNewPrivileges=yes\n", "\nDynamicUser=yes\n",
			"\nStateDirectory=icn-", "\nCapabilityBoundingSet=\n", "\nSystemCallFilter=@system-service\n", "\nExecStart=/usr/local/bin/icn "} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", u, strings.TrimSpace(want))
			}
		}
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "/usr/local/bin/icn", self)), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	if out, err := runTool(t, nil, sa, append([]string{"verify", "--man=no"}, units...)...); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	score := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, p := range units {
		out, err := runTool(t, nil, sa, "security", "--offline=true", p)
		m := score.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", filepath.Base(p), err, out)
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v > 2.0 {
			t.Errorf("%s: exposure %s, want at most 2.0\n%s", filepath.Base(p), m[1], out)
		}
		t.Logf("%s: systemd-analyze verify clean, security exposure %s", filepath.Base(p), m[1])
	}
}

// TestPrometheusRules: the alert rules and the scrape configuration pass
// promtool's checks, and every alert's unit tests pass; each alert has a
// test.
func TestPrometheusRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "prometheus/icn-rules.yml"},
		{"check", "config", "prometheus/prometheus.yml"},
		{"test", "rules", "prometheus/icn-rules.test.yml"},
	} {
		out, err := runTool(t, nil, promtool, args...)
		if err != nil || !strings.Contains(out, "SUCCESS") {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	rules, _ := os.ReadFile("prometheus/icn-rules.yml")
	tests, _ := os.ReadFile("prometheus/icn-rules.test.yml")
	for _, m := range regexp.MustCompile(`(?m)^\s+- alert: (\w+)`).FindAllStringSubmatch(string(rules), -1) {
		if !strings.Contains(string(tests), "alertname: "+m[1]+"\n") {
			t.Errorf("alert %s has no unit test in icn-rules.test.yml", m[1])
		}
		if !strings.Contains(string(tests), "alertname: "+m[1]+"\n        exp_alerts:\n          - exp_labels") {
			t.Errorf("alert %s: no test that it fires", m[1])
		}
	}
	ops, _ := os.ReadFile("../docs/operations.md")
	for _, m := range regexp.MustCompile(`runbook: docs/operations.md#(\w+)`).FindAllStringSubmatch(string(rules), -1) {
		if !strings.Contains(strings.ToLower(string(ops)), "### "+m[1]) {
			t.Errorf("runbook anchor #%s: docs/operations.md has no heading ### %s", m[1], m[1])
		}
	}
}
