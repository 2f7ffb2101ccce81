package hookline

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/hookline/hookline"

// TestImportRules keeps imports flowing one way, in layers:
//
//	cmd → server (transports) → internal core (pipeline, subscription)
//	    → internal technology (eventlog, index, idset, fanout, config)
//	    → gen, and the root package (provider names, embedded OpenAPI)
//
// with adapters beside the core: the server and cmd use them, nothing
// under internal/ does. A provider package imports only the adapter
// contract, gen and the root; the core imports no transport (no gRPC, no
// net/http, no grpc-gateway); technology packages do not import the core;
// nothing imports cmd; only tests import the test kits (go list reports
// non-test imports).
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			dep := imp
			if imp == module || strings.HasPrefix(imp, module+"/") {
				dep = strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			} else if !isTransport(imp) {
				continue
			} else {
				dep = "transport:" + imp
			}
			if why := forbidden(rel, dep); why != "" {
				t.Errorf("%s imports %s: %s", rel, dep, why)
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked only %d packages", checked)
	}
}

// core are the domain packages under internal/ that know no transport.
var core = []string{"internal/pipeline", "internal/subscription", "internal/reprocess"}

// testKits are imported by tests only.
var testKits = []string{"internal/testpki", "internal/testkit"}

// isTransport reports whether an import outside the module is a network
// transport the core must not know.
func isTransport(imp string) bool {
	for _, p := range []string{"net/http", "google.golang.org/grpc", "github.com/grpc-ecosystem/grpc-gateway"} {
		if imp == p || strings.HasPrefix(imp, p+"/") {
			return true
		}
	}
	return false
}

// forbidden returns why package rel may not import dep ("" for the root
// package, "transport:…" for a transport outside the module), or "".
func forbidden(rel, dep string) string {
	isProvider := func(p string) bool {
		return strings.HasPrefix(p, "adapters/") && p != "adapters/adaptertest" && p != "adapters/registry"
	}
	in := func(p string, set []string) bool {
		for _, s := range set {
			if p == s || strings.HasPrefix(p, s+"/") {
				return true
			}
		}
		return false
	}
	transport := strings.HasPrefix(dep, "transport:")
	switch {
	case transport && in(rel, core):
		return "the core imports no transport"
	case transport:
		return ""
	case strings.HasPrefix(dep, "cmd/"):
		return "nothing imports a binary"
	case in(dep, testKits):
		return "test kits are for tests only"
	case strings.HasPrefix(rel, "gen/"):
		return "generated code imports no hand-written package"
	case rel == "" && !strings.HasPrefix(dep, "gen/"):
		return "the root package imports only gen"
	case isProvider(rel) && !(dep == "adapters" || dep == "" || strings.HasPrefix(dep, "gen/")):
		return "a provider imports only the adapter contract, the root and gen"
	case rel == "adapters" && !(dep == "" || strings.HasPrefix(dep, "gen/")):
		return "the adapter contract imports only the root and gen"
	case rel == "adapters/adaptertest" && !(dep == "adapters" || dep == "" || strings.HasPrefix(dep, "gen/")):
		return "the adapter test kit imports only the contract, the root and gen"
	case strings.HasPrefix(rel, "internal/") && (strings.HasPrefix(dep, "server") || strings.HasPrefix(dep, "adapters")):
		return "internal packages sit below the server and beside the adapters"
	case strings.HasPrefix(rel, "internal/") && !in(rel, core) && in(dep, core):
		return "technology packages sit below the core"
	}
	return ""
}

func TestForbiddenCatchesViolations(t *testing.T) {
	bad := [][2]string{
		{"adapters/truv", "adapters/finicity"},
		{"adapters/truv", "server"},
		{"adapters/swyft", "internal/eventlog"},
		{"internal/index", "server"},
		{"server", "cmd/hookline"},
		{"gen/hookline/v1", "adapters"},
		{"cmd/hookline", "internal/testpki"},
		{"server", "internal/testkit"},
		{"internal/pipeline", "transport:net/http"},
		{"internal/subscription", "transport:google.golang.org/grpc/status"},
		{"internal/eventlog", "internal/pipeline"},
		{"", "adapters"},
		{"adapters", "internal/eventlog"},
	}
	for _, b := range bad {
		if forbidden(b[0], b[1]) == "" {
			t.Errorf("%s → %s was allowed", b[0], b[1])
		}
	}
	for _, ok := range [][2]string{{"server", "adapters"}, {"cmd/hookline", "server"}, {"adapters/registry", "adapters/truv"},
		{"internal/index", "gen/hookline/v1"}, {"internal/pipeline", "internal/eventlog"}, {"server", "internal/subscription"},
		{"server", "transport:google.golang.org/grpc"}, {"adapters", ""}, {"internal/eventlog", ""}} {
		if why := forbidden(ok[0], ok[1]); why != "" {
			t.Errorf("%s → %s refused: %s", ok[0], ok[1], why)
		}
	}
}
