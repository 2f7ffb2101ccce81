// Package reliability tries to lose or duplicate data: it builds the real
// hookline binary, runs it as a child process (on its embedded store, on an
// external NATS server started in the test, or on a three-server NATS
// cluster), and attacks it with SIGKILL, duplicate storms, leader failover,
// stuck subscribers, resuming subscribers and a corpus of bad input. Every
// scenario ends by reading the whole log back and naming each delivery that
// was acknowledged but is missing, or stored more than once.
//
// The package holds only tests, so it adds nothing to the import graph.
//
// By default (go test, make test, CI) every scenario runs a few rounds and
// the whole package finishes in well under three minutes on two cores. With
// -reliability.full (make reliability) the scenarios run their full counts
// and TestMain writes RELIABILITY.md at the repository root with the
// figures of that run.
//
// No test asserts on timing: waits are bounded only so that a hung gateway
// fails the test instead of the test binary's timeout.
package reliability

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var fullRun = flag.Bool("reliability.full", false,
	"run every scenario at its full count and write RELIABILITY.md at the repository root")

var prebuilt = flag.String("reliability.bin", "",
	"test this hookline binary instead of building ./cmd/hookline (e.g. a release build, or another branch's)")

// gatewayBin is the hookline binary TestMain builds once for every test.
var gatewayBin string

// runReport collects the figures of every scenario of this run.
var runReport = newReport()

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "hookline-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewayBin = filepath.Join(dir, "hookline")
	if *prebuilt != "" {
		gatewayBin = *prebuilt
	} else {
		build := exec.Command("go", "build", "-o", gatewayBin, "./cmd/hookline")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "reliability: go build ./cmd/hookline: %v\n%s", err, out)
			return 1
		}
	}
	start := time.Now()
	code := m.Run()
	if *fullRun {
		path := filepath.Join(root, "RELIABILITY.md")
		if err := runReport.write(path, root, time.Since(start)); err != nil {
			fmt.Fprintln(os.Stderr, "reliability: write RELIABILITY.md:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "reliability: wrote", path)
	}
	return code
}

// repoRoot is the directory of the module's go.mod, above the working
// directory (go test runs in the package directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// counts returns short in the default run and full with -reliability.full.
func counts(short, full int) int {
	if *fullRun {
		return full
	}
	return short
}
