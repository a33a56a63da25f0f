package systest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shBlocks returns the ```sh blocks of a markdown file, in order.
func shBlocks(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case !in && line == "```sh":
			in = true
		case in && line == "```":
			in = false
			out.WriteString("\n")
		case in:
			out.WriteString(line + "\n")
		}
	}
	if out.Len() == 0 {
		t.Fatalf("%s has no ```sh blocks", path)
	}
	return out.String()
}

// freeRange finds a base port such that base+1 … base+n are free on
// 127.0.0.1 for both TCP and UDP a moment ago.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base+n > 65535 {
			continue
		}
		ok := true
		for p := base + 1; p <= base+n && ok; p++ {
			a := fmt.Sprintf("127.0.0.1:%d", p)
			l, err := net.Listen("tcp", a)
			if err != nil {
				ok = false
				break
			}
			l.Close()
			u, err := net.ListenPacket("udp", a)
			if err != nil {
				ok = false
				break
			}
			u.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free range of ports")
	return 0
}

// TestWalkthrough runs the shell blocks of docs/walkthrough.md exactly as
// written, with the icn under test first on the PATH, against the real
// processes they start: keys, a 3-node hub cluster, two co-op nodes, the
// operator's and the co-ops' own commands, a member admitted with icn
// wallet, a cross-co-op payment to her, and the period closed, paid,
// confirmed and settled.
func TestWalkthrough(t *testing.T) {
	script := shBlocks(t, "../docs/walkthrough.md")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(icnBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		fmt.Sprintf("ICN_PORT_BASE=%d", freeRange(t, 40)), "ICN_HUB=", "ICN_HUB_DID=", "ICN_KEY=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever the script left running
	}
	logs := func() string {
		var b strings.Builder
		for _, f := range []string{"hub1/log", "coop-a/log", "coop-b/log"} {
			l, _ := os.ReadFile(filepath.Join(dir, "walkthrough", f))
			fmt.Fprintf(&b, "\n--- %s (last 3000 bytes)\n%s", f, tail(string(l), 3000))
		}
		return b.String()
	}
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s%s", err, out.String(), logs())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^status\s+committed$`),                                      // the cross-co-op payment
		regexp.MustCompile(`(?m)^balance\s+2\.50$`),                                         // Bea's balance at coop-b
		regexp.MustCompile(`(?m)\+2\.50\s+hours\s+did:icn:\S+ @coop-a\s+committed\s+bread`), // her history names the payer
		regexp.MustCompile(`(?m)^status\s+confirmed$`),                                      // coop-b's treasurer confirmed
		regexp.MustCompile(`(?m)^1\s+settled\s`),                                            // period 1 is settled
	} {
		if !want.Match(out.Bytes()) {
			t.Errorf("the walkthrough's output lacks %s:\n%s", want, out.String())
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
