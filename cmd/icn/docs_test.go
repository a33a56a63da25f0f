package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// icnCommand finds an `icn …` command in documentation: a line of a code
// block or a code span that starts with "icn ".
var icnCommand = regexp.MustCompile("(?m)(?:^|`|\\$ )(icn [a-z][^`\n#|]*)")

// TestDocsNameRealCommandsAndFlags: every `icn …` command that README.md and
// docs/ show names commands that exist and flags that those commands take,
// so the documentation cannot promise a flag (like a --stale that was never
// there) or a subcommand the binary does not have.
func TestDocsNameRealCommandsAndFlags(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	root := newRootCmd()
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range icnCommand.FindAllStringSubmatch(string(b), -1) {
			if msg := checkCommandLine(root, m[1]); msg != "" {
				t.Errorf("%s: %q: %s", filepath.Base(f), strings.TrimSpace(m[1]), msg)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("found only %d icn commands in the docs; is the pattern broken?", checked)
	}
}

// checkCommandLine walks line's words down the command tree and checks its
// --flags; it returns what is wrong, or "".
func checkCommandLine(root *cobra.Command, line string) string {
	words := strings.Fields(line)[1:]
	cmd := root
	for len(words) > 0 && !strings.HasPrefix(words[0], "-") {
		sub, _, err := cmd.Find([]string{words[0]})
		if err != nil || sub == cmd {
			break // an argument (a DID, a period, a placeholder)
		}
		cmd, words = sub, words[1:]
	}
	if cmd == root {
		return "names no icn subcommand"
	}
	for _, w := range words {
		if !strings.HasPrefix(w, "--") || w == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		name = strings.TrimRight(name, ",.;:)")
		if name == "" || strings.ContainsAny(name, "…<>[]") {
			continue
		}
		if cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
			return "`" + cmd.CommandPath() + "` has no flag --" + name
		}
	}
	return ""
}

func TestCheckCommandLine(t *testing.T) {
	root := newRootCmd()
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"icn settlement show 7 -o csv --figures", true},
		{"icn trust show did:icn:x --stale", true},
		{"icn cluster join --did D --raft-addr A --grpc-addr G", true},
		{"icn cluster status --stale", false},
		{"icn settlement close --perod 1", false},
		{"icn frobnicate", false},
	} {
		if msg := checkCommandLine(root, tc.line); (msg == "") != tc.ok {
			t.Errorf("%q: %q, want ok=%v", tc.line, msg, tc.ok)
		}
	}
}
