package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goOutput = `goos: linux
goarch: amd64
pkg: github.com/hookline/hookline/server
cpu: Test CPU @ 2.0GHz
BenchmarkCatchUp-2   	       1	2000000000 ns/op	    250000 events/s	    400000 log-read-events/s
BenchmarkFanout-2    	       1	 900000000 ns/op	        12.5 p50-ms	        60.0 p99-ms
PASS
pkg: github.com/hookline/hookline/internal/idset
BenchmarkLookup/hit-2 	 1000000	      1234 ns/op	     512 B/op	       3 allocs/op
`

const goals = `# comment
go	BenchmarkCatchUp	events/s	>=	100000	catch-up ≥ 100 000 events/s
go	BenchmarkFanout	p99-ms	<=	50	fan-out p99 ≤ 50 ms
go	BenchmarkMissing	x	<=	1	not run
ingest	ratio-vs-floor	value	>=	0.85	ingest ratio
`

// TestGoSection: the go section gets a header, the goals with met / not
// met / not measured, and one table per benchmark; the prose around it is
// kept.
func TestGoSection(t *testing.T) {
	dir := t.TempDir()
	in, doc, gl := filepath.Join(dir, "bench.txt"), filepath.Join(dir, "B.md"), filepath.Join(dir, "goals.tsv")
	write(t, in, goOutput)
	write(t, gl, goals)
	write(t, doc, "# Benchmarks\n\nmethod\n\n<!-- begin:go -->\nold figures\n<!-- end:go -->\n\nafter\n")
	if err := run([]string{"-section", "go", "-in", in, "-doc", doc, "-goals", gl}, os.Stderr); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	got := string(b)
	for _, want := range []string{
		"# Benchmarks\n\nmethod\n\n<!-- begin:go -->\n_Measured ",
		"Test CPU @ 2.0GHz",
		"| catch-up ≥ 100 000 events/s | 250000 events/s (`BenchmarkCatchUp`) | yes |",
		"| fan-out p99 ≤ 50 ms | 60 p99-ms (`BenchmarkFanout`) | no |",
		"| not run | not measured | — |",
		"**server: BenchmarkCatchUp**\n\n| benchmark | ns/op | events/s | log-read-events/s |",
		"**server: BenchmarkFanout**\n\n| benchmark | ns/op | p50-ms | p99-ms |",
		"| `BenchmarkFanout` | 900000000 | 12.5 | 60 |",
		"**internal/idset: BenchmarkLookup**",
		"| `BenchmarkLookup/hit` | 1234 | 512 | 3 |",
		"<!-- end:go -->\n\nafter\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("document lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old figures") || strings.Contains(got, "ingest ratio") {
		t.Errorf("old figures or another section's goals remain:\n%s", got)
	}
}

// TestIngestSection reads bench.sh's lines: a bare figure is `value`,
// other figures are key/value pairs.
func TestIngestSection(t *testing.T) {
	res := parseLines([]byte("ratio-vs-floor 0.612 (goal >= 0.85)\ngw-paced sent 50000 in 10.0s (5000 req/s) p50-ms 1.20 p99-ms 7.50\nwrk -t2 -c64\n"))
	if len(res.rows) != 2 {
		t.Fatalf("rows %+v, want 2", res.rows)
	}
	if v := res.rows[0].metrics["value"]; v != 0.612 {
		t.Errorf("ratio-vs-floor value %v", v)
	}
	if m := res.rows[1].metrics; m["sent"] != 50000 || m["p99-ms"] != 7.5 || m["p50-ms"] != 1.2 {
		t.Errorf("gw-paced metrics %v", m)
	}
}

func TestMissingSection(t *testing.T) {
	if _, err := replaceSection([]byte("no markers"), "go", "x"); err == nil {
		t.Error("a document without the section's markers was accepted")
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
