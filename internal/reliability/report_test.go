package reliability

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// figures are one scenario's numbers for RELIABILITY.md.
type figures struct {
	Scenario string
	Passed   bool
	// Rounds: kills, restarts or failovers (or cases, for the corpus).
	Rounds int
	// Sent is every webhook request made; OK the 2xx answers among them.
	Sent, OK int
	// Retried is how many acknowledged deliveries were sent again at the
	// end to check they are recognized as duplicates.
	Retried int
	// Stored is the number of events in the log at the end.
	Stored int
	// Duplicates and Lost must be 0.
	Duplicates, Lost int
	// Failures counts the non-2xx answers by status ("503", "transport
	// error", …).
	Failures map[string]int
	// PeakRSS is the largest gateway RSS seen, in bytes (0: not measured).
	PeakRSS  int64
	Duration time.Duration
	// Notes are further lines (failing cases, subscriber figures).
	Notes []string
}

// newFigures starts a scenario's figures; when the test ends they go into
// the run's report with its verdict.
func newFigures(t *testing.T, scenario string) *figures {
	f := &figures{Scenario: scenario, Failures: map[string]int{}}
	start := time.Now()
	t.Cleanup(func() {
		f.Duration = time.Since(start)
		f.Passed = !t.Failed()
		t.Logf("%s: %s", scenario, f.summary())
		runReport.add(*f)
	})
	return f
}

func (f *figures) note(format string, args ...any) {
	f.Notes = append(f.Notes, fmt.Sprintf(format, args...))
}

func (f *figures) summary() string {
	return fmt.Sprintf("rounds %d, sent %d, 2xx %d, stored %d, duplicates %d, lost %d, failures %s, peak RSS %s, %s",
		f.Rounds, f.Sent, f.OK, f.Stored, f.Duplicates, f.Lost, f.failures(), mib(f.PeakRSS), f.Duration.Round(time.Millisecond))
}

func (f *figures) failures() string {
	if len(f.Failures) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f.Failures)) {
		parts = append(parts, fmt.Sprintf("%s × %d", k, f.Failures[k]))
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// report collects the figures of a run. It is safe for concurrent use.
type report struct {
	mu        sync.Mutex
	scenarios []figures
}

func newReport() *report { return &report{} }

func (r *report) add(f figures) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scenarios = append(r.scenarios, f)
}

// write writes RELIABILITY.md: the figures of this run only.
func (r *report) write(path, root string, total time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.SortFunc(r.scenarios, func(a, b figures) int { return strings.Compare(a.Scenario, b.Scenario) })
	var b strings.Builder
	fmt.Fprintf(&b, "# Reliability\n\n")
	fmt.Fprintf(&b, "Figures of the last `make reliability` run (`go test ./internal/reliability -reliability.full`, then the fuzzers). "+
		"The suite tries to lose or duplicate data: it runs the built binary and kills it, storms it with copies, "+
		"fails its NATS cluster over, stalls its subscribers and feeds it bad input; then it reads the whole log back. "+
		"Duplicates and lost deliveries must be 0. The tests live in `internal/reliability/`, one file per scenario.\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| machine | %d cores, %s/%s, %s |\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "| commit | %s |\n", commit(root))
	if *prebuilt != "" {
		fmt.Fprintf(&b, "| binary | `%s` (given with -reliability.bin, not built from this commit) |\n", *prebuilt)
	}
	fmt.Fprintf(&b, "| suite duration | %s |\n\n", total.Round(time.Second))

	fmt.Fprintf(&b, "| scenario | result | rounds | deliveries sent | 2xx answers | stored | duplicates | lost | failures by status | peak gateway RSS | duration |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, f := range r.scenarios {
		result := "pass"
		if !f.Passed {
			result = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n",
			f.Scenario, result, f.Rounds, f.Sent, f.OK, f.Stored, f.Duplicates, f.Lost, f.failures(), mib(f.PeakRSS), f.Duration.Round(100*time.Millisecond))
	}
	b.WriteString("\n")
	for _, f := range r.scenarios {
		if len(f.Notes) == 0 && f.Retried == 0 {
			continue
		}
		fmt.Fprintf(&b, "**%s.**", f.Scenario)
		if f.Retried > 0 {
			fmt.Fprintf(&b, " %d acknowledged deliveries were sent again at the end, each to be answered as a duplicate of its first sequence.", f.Retried)
		}
		b.WriteString("\n")
		for _, n := range f.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// commit is the short HEAD commit, with "+dirty" when the tree has changes.
func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	// The report itself does not count: it is rewritten by every run.
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--", ".", ":!RELIABILITY.md").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "+dirty"
	}
	return c
}
