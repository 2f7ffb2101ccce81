package hookline

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/hookline/hookline"

// TestImportRules keeps imports flowing one way:
// cmd → server → {adapters, internal/…} → gen. A provider package imports
// only the adapter contract, the generated code and protobuf; internal
// packages never import the server or a provider; nothing imports cmd;
// only tests import internal/testpki (go list reports non-test imports).
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
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
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

// forbidden returns why package rel may not import dep, or "".
func forbidden(rel, dep string) string {
	isProvider := func(p string) bool {
		return strings.HasPrefix(p, "adapters/") && p != "adapters/adaptertest" && p != "adapters/registry"
	}
	switch {
	case strings.HasPrefix(dep, "cmd/"):
		return "nothing imports a binary"
	case dep == "internal/testpki":
		return "throwaway test certificates are for tests only"
	case strings.HasPrefix(rel, "gen/"):
		return "generated code imports no hand-written package"
	case isProvider(rel) && !(dep == "adapters" || strings.HasPrefix(dep, "gen/")):
		return "a provider imports only the adapter contract and gen"
	case rel == "adapters" && !strings.HasPrefix(dep, "gen/"):
		return "the adapter contract imports only gen"
	case rel == "adapters/adaptertest" && !(dep == "adapters" || strings.HasPrefix(dep, "gen/")):
		return "the adapter test kit imports only the contract and gen"
	case strings.HasPrefix(rel, "internal/") && (strings.HasPrefix(dep, "server") || strings.HasPrefix(dep, "adapters")):
		return "internal packages sit below the server and beside the adapters"
	case strings.HasPrefix(rel, "server") && dep == "":
		return "the server gets embedded artifacts from cmd"
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
	}
	for _, b := range bad {
		if forbidden(b[0], b[1]) == "" {
			t.Errorf("%s → %s was allowed", b[0], b[1])
		}
	}
	for _, ok := range [][2]string{{"server", "adapters"}, {"cmd/hookline", "server"}, {"adapters/registry", "adapters/truv"}, {"internal/index", "gen/hookline/v1"}} {
		if why := forbidden(ok[0], ok[1]); why != "" {
			t.Errorf("%s → %s refused: %s", ok[0], ok[1], why)
		}
	}
}
