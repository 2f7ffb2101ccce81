// Command benchreport writes the current figures into BENCHMARKS.md: it
// reads the output of a benchmark run and replaces one generated section of
// the document, between the lines `<!-- begin:NAME -->` and
// `<!-- end:NAME -->`, with a header (date, machine, Go version, commit), a
// table of the goals of that section (met or not), and the figures. The
// prose around the sections (the method) is written by hand.
//
//	benchreport -section go -in bench.txt [-doc BENCHMARKS.md] [-goals scripts/benchreport/goals.tsv]
//	benchreport -section ingest -in ingest.txt ...
//	benchreport -section ingest-external -in ingest-external.txt ...
//
// Section "go" reads `go test -bench` output: one table per benchmark, one
// row per sub-benchmark, a column per metric. Sections "ingest" and
// "ingest-external" (the gateway on a nats-server of its own, checked
// against the same goals) read the `name key value key value ...` lines
// scripts/bench.sh prints.
//
// The goals file has one goal per line, tab-separated: section, a regular
// expression matched against the benchmark (or ingest line) name, the
// metric, `>=` or `<=`, the threshold, and a description. A goal whose
// figure is missing from the run is reported as "not measured".
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	section := fs.String("section", "", "the section to write: go, ingest or ingest-external")
	in := fs.String("in", "", "the benchmark output to read")
	doc := fs.String("doc", "BENCHMARKS.md", "the document to update")
	goalsPath := fs.String("goals", "scripts/benchreport/goals.tsv", "the goals file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || (*section != "go" && *section != "ingest" && *section != "ingest-external") {
		return errors.New("need -section go|ingest|ingest-external and -in FILE")
	}
	raw, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var res results
	if *section == "go" {
		res = parseGo(raw)
	} else {
		res = parseLines(raw)
	}
	if len(res.rows) == 0 {
		return fmt.Errorf("%s holds no figures", *in)
	}
	// The ingest goals hold whichever NATS the gateway uses.
	goals, err := readGoals(*goalsPath, strings.TrimSuffix(*section, "-external"))
	if err != nil {
		return err
	}
	d, err := os.ReadFile(*doc)
	if err != nil {
		return err
	}
	out, err := replaceSection(d, *section, render(res, goals, machine(res)))
	if err != nil {
		return err
	}
	return os.WriteFile(*doc, out, 0o644)
}

// row is one benchmark or ingest line with its metrics.
type row struct {
	group, name string
	metrics     map[string]float64
	order       []string // metric names as they appeared
}

type results struct {
	rows []row
	cpu  string // from go test's "cpu:" line
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

// parseGo reads `go test -bench` output.
func parseGo(b []byte) results {
	var res results
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(strings.TrimPrefix(line, "pkg: "), "github.com/hookline/hookline/")
		case strings.HasPrefix(line, "cpu: "):
			res.cpu = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		default:
			m := benchLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			// One table per benchmark and its sub-benchmarks: the metrics of
			// different benchmarks rarely share columns.
			top, _, _ := strings.Cut(m[1], "/")
			r := row{group: pkg + ": " + top, name: m[1], metrics: map[string]float64{}}
			f := strings.Fields(m[4])
			for i := 0; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					break
				}
				r.add(f[i+1], v)
			}
			res.rows = append(res.rows, r)
		}
	}
	return res
}

// parseLines reads `name key value key value ...` lines; words that are
// not followed by a number are skipped.
func parseLines(b []byte) results {
	var res results
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		r := row{group: "ingest", name: f[0], metrics: map[string]float64{}}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			r.add("value", v)
		}
		for i := 1; i+1 < len(f); i++ {
			if v, err := strconv.ParseFloat(strings.TrimSuffix(f[i+1], ","), 64); err == nil && !isNumber(f[i]) {
				r.add(f[i], v)
				i++
			}
		}
		if len(r.metrics) > 0 {
			res.rows = append(res.rows, r)
		}
	}
	return res
}

func isNumber(s string) bool { _, err := strconv.ParseFloat(s, 64); return err == nil }

func (r *row) add(metric string, v float64) {
	if _, ok := r.metrics[metric]; !ok {
		r.order = append(r.order, metric)
	}
	r.metrics[metric] = v
}

// goal is one line of the goals file.
type goal struct {
	match     *regexp.Regexp
	metric    string
	atLeast   bool
	threshold float64
	what      string
}

func readGoals(path, section string) ([]goal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []goal
	for n, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			return nil, fmt.Errorf("%s:%d: want 6 tab-separated fields, have %d", path, n+1, len(f))
		}
		if f[0] != section {
			continue
		}
		re, err := regexp.Compile("^" + f[1] + "$")
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
		}
		th, err := strconv.ParseFloat(f[4], 64)
		if err != nil || (f[3] != ">=" && f[3] != "<=") {
			return nil, fmt.Errorf("%s:%d: want >= or <= and a number", path, n+1)
		}
		out = append(out, goal{match: re, metric: f[2], atLeast: f[3] == ">=", threshold: th, what: f[5]})
	}
	return out, nil
}

// machine describes where the figures were measured.
func machine(res results) string {
	cpu := res.cpu
	if cpu == "" {
		cpu = cpuModel()
	}
	commit := "unknown"
	if out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("Measured %s on %s/%s, %d cores (%s), %s, commit `%s`.",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, runtime.Version(), commit)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "cpu unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "cpu unknown"
}

// render writes the section: header, goals, then one table per group
// (for Go benchmarks, one per benchmark of a package).
func render(res results, goals []goal, header string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "_%s_\n\n", header)
	if len(goals) > 0 {
		b.WriteString("| goal | measured | met |\n|---|--:|---|\n")
		for _, g := range goals {
			v, name, ok := find(res, g)
			switch {
			case !ok:
				fmt.Fprintf(&b, "| %s | not measured | — |\n", g.what)
			default:
				met := "no"
				if (g.atLeast && v >= g.threshold) || (!g.atLeast && v <= g.threshold) {
					met = "yes"
				}
				fmt.Fprintf(&b, "| %s | %s %s (`%s`) | %s |\n", g.what, num(v), g.metric, name, met)
			}
		}
		b.WriteString("\n")
	}
	var groups []string
	for _, r := range res.rows {
		if !slices.Contains(groups, r.group) {
			groups = append(groups, r.group)
		}
	}
	for _, grp := range groups {
		var rows []row
		var cols []string
		for _, r := range res.rows {
			if r.group != grp {
				continue
			}
			rows = append(rows, r)
			for _, m := range r.order {
				if !slices.Contains(cols, m) {
					cols = append(cols, m)
				}
			}
		}
		fmt.Fprintf(&b, "**%s**\n\n| benchmark | %s |\n|---|%s\n", grp, strings.Join(cols, " | "), strings.Repeat("--:|", len(cols)))
		for _, r := range rows {
			cells := make([]string, len(cols))
			for i, c := range cols {
				if v, ok := r.metrics[c]; ok {
					cells[i] = num(v)
				}
			}
			fmt.Fprintf(&b, "| `%s` | %s |\n", r.name, strings.Join(cells, " | "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// find returns the value of g's metric in the first row g matches.
func find(res results, g goal) (float64, string, bool) {
	for _, r := range res.rows {
		if g.match.MatchString(r.name) {
			if v, ok := r.metrics[g.metric]; ok {
				return v, r.name, true
			}
		}
	}
	return 0, "", false
}

// num formats a figure: whole numbers and figures of 1000 or more without
// decimals, others with three significant digits.
func num(v float64) string {
	if v == float64(int64(v)) || max(v, -v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// replaceSection puts body between the section's markers.
func replaceSection(doc []byte, section, body string) ([]byte, error) {
	begin, end := "<!-- begin:"+section+" -->\n", "<!-- end:"+section+" -->"
	s := string(doc)
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("the document has no %q … %q section", strings.TrimSpace(begin), end)
	}
	return []byte(s[:i+len(begin)] + body + s[j:]), nil
}
