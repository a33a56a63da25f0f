package layers

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/icn-coop/icn/"

type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if len(ps) < 20 {
		t.Fatalf("go list found only %d packages", len(ps))
	}
	return ps
}

// domain are the pure packages and what each may import: the project's
// lower domain packages and the outside libraries named here (DESIGN.md;
// identity's curve25519-voi, golang-lru and go-json-experiment are stated
// departures: a faster Ed25519 with stdlib verdicts, the memo of expanded
// keys, the strict JSON decoder).
var domain = map[string][]string{
	"money":      {"github.com/shopspring/decimal"},
	"identity":   {"github.com/mr-tron/base58", "github.com/oasisprotocol/curve25519-voi/", "github.com/hashicorp/golang-lru/v2", "github.com/go-json-experiment/json", "golang.org/x/crypto/"},
	"payment":    {mod + "money", mod + "identity"},
	"trust":      {mod + "money", mod + "identity"},
	"clearing":   {mod + "money", mod + "identity", mod + "trust"},
	"settlement": {mod + "money", mod + "identity", mod + "clearing", "github.com/shopspring/decimal"},
	"governance": {mod + "money", mod + "identity"},
}

// io are standard packages a domain package must not import: no network,
// no disk, no processes (time is allowed for its types; clocks are checked
// in the source below).
var io = []string{"net", "net/http", "os", "os/exec", "os/signal", "syscall", "io/fs", "path/filepath", "database/sql", "log", "log/slog"}

// TestLayering: domain packages import only what their rule allows and do
// no I/O; hub and coopnode never import each other (they meet on the wire,
// proto/); the transport (routing) and proto import neither of them.
func TestLayering(t *testing.T) {
	for _, p := range listPackages(t) {
		name := strings.TrimPrefix(p.ImportPath, mod)
		for _, imp := range p.Imports {
			if msg := check(name, imp); msg != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, msg)
			}
		}
	}
}

// check returns why package name may not import imp, or "".
func check(name, imp string) string {
	top, _, _ := strings.Cut(name, "/")
	inMod := strings.HasPrefix(imp, mod)
	rel := strings.TrimPrefix(imp, mod)
	if allowed, ok := domain[name]; ok {
		if slices.Contains(io, imp) {
			return "a domain package does no I/O (DESIGN.md: pure, no network, no disk, no clocks)"
		}
		std := !strings.Contains(strings.Split(imp, "/")[0], ".")
		if std {
			return ""
		}
		for _, a := range allowed {
			if imp == a || strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a) || strings.HasPrefix(imp, a+"/") {
				return ""
			}
		}
		return "not among the imports DESIGN.md allows a domain package"
	}
	switch {
	case top == "coopnode" && name != "coopnode/store" && (imp == "go.etcd.io/bbolt" || strings.HasPrefix(imp, "go.etcd.io/bbolt/")):
		return "the co-op's state file is coopnode/store's alone: write through its commands, read through its View"
	case !inMod:
		return ""
	case top == "internal" && domainPkg(rel):
		return ""
	case top == "hub" && strings.HasPrefix(rel, "coopnode"):
		return "hub and coopnode meet only on the wire (proto/)"
	case top == "coopnode" && strings.HasPrefix(rel, "hub"):
		return "hub and coopnode meet only on the wire (proto/)"
	case (top == "routing" || top == "proto") && (strings.HasPrefix(rel, "hub") || strings.HasPrefix(rel, "coopnode") || strings.HasPrefix(rel, "devfed")):
		return "the transport serves both sides and knows neither"
	case strings.HasPrefix(rel, "cmd/") && !strings.HasPrefix(name, "cmd/"):
		return "nothing imports the binary (its helpers live under cmd/icn/internal)"
	case name == "hub/fsm" && (strings.HasPrefix(rel, "hub") || rel == "routing" || strings.HasPrefix(imp, "google.golang.org/grpc")):
		return "the state machine depends on no other part of the hub, and on no network"
	case name == "hub/dataplane" && strings.HasPrefix(rel, "hub") && rel != "hub/fsm":
		return "the data plane needs of the node only its Cluster interface"
	case top == "internal" && inMod && !strings.HasPrefix(rel, "internal/"):
		return "internal/ holds leaf helpers that import no project package above the domain layer"
	}
	return ""
}

func domainPkg(rel string) bool { _, ok := domain[rel]; return ok }

// TestDomainReadsNoClock: no domain package calls time.Now or time.Since
// (time comes in as an argument) or starts a goroutine.
func TestDomainReadsNoClock(t *testing.T) {
	for _, p := range listPackages(t) {
		if _, ok := domain[strings.TrimPrefix(p.ImportPath, mod)]; !ok {
			continue
		}
		for _, f := range p.GoFiles {
			fs := token.NewFileSet()
			file, err := parser.ParseFile(fs, filepath.Join(p.Dir, f), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.GoStmt:
					t.Errorf("%s: a domain package starts no goroutine", fs.Position(x.Pos()))
				case *ast.SelectorExpr:
					if id, ok := x.X.(*ast.Ident); ok && id.Name == "time" && (x.Sel.Name == "Now" || x.Sel.Name == "Since" || x.Sel.Name == "Until") {
						t.Errorf("%s: a domain package reads no clock (time.%s); pass the time in", fs.Position(x.Pos()), x.Sel.Name)
					}
				}
				return true
			})
		}
	}
}

// TestCheck: the rules refuse what they must (so TestLayering can fail).
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, imp string
		ok        bool
	}{
		{"settlement", mod + "clearing", true},
		{"settlement", "encoding/json", true},
		{"settlement", mod + "hub", false},
		{"governance", mod + "identity", true},
		{"governance", mod + "money", true},
		{"governance", "crypto/sha256", true},
		{"governance", mod + "coopnode/ledger", false},
		{"governance", mod + "clearing", false},
		{"governance", "github.com/robfig/cron/v3", false},
		{"governance", "os", false},
		{"coopnode/ledger", mod + "governance", true},
		{"identity", "os", false},
		{"identity", "net/http", false},
		{"money", mod + "identity", false},
		{"trust", "github.com/prometheus/client_golang/prometheus", false},
		{"hub/ui", mod + "coopnode/client", false},
		{"coopnode/gateway", mod + "hub", false},
		{"coopnode/gateway", mod + "payment", true},
		{"routing", mod + "hub", false},
		{"hub", mod + "routing", true},
		{"cmd/icn", mod + "hub", true},
		{"devfed", mod + "cmd/icn", false},
		{"cmd/icn", mod + "cmd/icn/internal/peerbench", true},
		{"hub", mod + "cmd/icn/internal/peerbench", false},
		{"internal/peerbench", mod + "coopnode/ledger", false},
		{"hub/fsm", mod + "hub/dataplane", false},
		{"hub/fsm", mod + "routing", false},
		{"hub/dataplane", mod + "hub/fsm", true},
		{"hub/dataplane", mod + "hub/ui", false},
		{"internal/keyfile", mod + "identity", true},
		{"internal/httpserve", mod + "hub", false},
		{"coopnode/store", "go.etcd.io/bbolt", true},
		{"coopnode/ledger", "go.etcd.io/bbolt", false},
		{"coopnode", "go.etcd.io/bbolt", false},
		{"hub/fsm", "go.etcd.io/bbolt", true},
	} {
		if got := check(tc.name, tc.imp) == ""; got != tc.ok {
			t.Errorf("check(%s, %s) ok=%v, want %v", tc.name, tc.imp, got, tc.ok)
		}
	}
}
