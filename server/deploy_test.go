package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

// The operations files under deploy/ that TestDeployFilesUseExportedMetrics
// checks, relative to this package.
const (
	deployDashboard = "../deploy/grafana/hookline.json"
	deployAlerts    = "../deploy/prometheus/alerts.yml"
)

// TestDeployFilesUseExportedMetrics checks the Grafana dashboard and the
// Prometheus rules under deploy/ against the /metrics of a running gateway
// after one delivery: every metric an expression names is exported, every
// label it selects on or groups by is one that metric has, and every alert
// carries what an on-call engineer needs (for, severity, summary,
// description, a runbook that exists). promtool checks the rules' syntax
// and behaviour (make check-deploy); this test keeps them in step with the
// code.
func TestDeployFilesUseExportedMetrics(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	body := orderBody("aaac461e7b774a38a72fd9c7c0eef8ee", "fed192646b3c48be96651a0ff25cef85", "completed", "2024-07-11T21:40:48.424655+00:00")
	acc := e.post(t, "truv", body)
	e.waitApplied(t, acc.Events[0].Sequence)
	if got := e.scrape(t)[`hookline_deliveries_accepted_total{provider="truv",source="default"}`]; got != "1" {
		t.Fatalf("hookline_deliveries_accepted_total for truv/default = %q after one delivery, want 1", got)
	}
	families := e.metricFamilies(t)

	exprs := map[string][]string{
		deployDashboard: dashboardExprs(t),
		deployAlerts:    alertExprs(t),
	}
	for file, list := range exprs {
		if len(list) == 0 {
			t.Errorf("%s: no expressions found", file)
		}
		for _, expr := range list {
			for _, problem := range checkExpr(expr, families) {
				t.Errorf("%s: %s in %q", file, problem, expr)
			}
		}
	}
}

// family is what the test knows of one metric family on /metrics.
type family struct {
	typ    dto.MetricType
	labels map[string]bool
}

// metricFamilies returns the families of /metrics with the label names
// their series carry. The scrape helper flattens series to values and
// leaves summaries out (go_gc_duration_seconds is one); this keeps the
// families whole.
func (e *testEnv) metricFamilies(t *testing.T) map[string]family {
	t.Helper()
	out := map[string]family{}
	for name, f := range e.parseMetrics(t) {
		fam := family{typ: f.GetType(), labels: map[string]bool{}}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				fam.labels[l.GetName()] = true
			}
		}
		out[name] = fam
	}
	return out
}

// dashboardExprs returns the PromQL of the dashboard: each panel's target
// expressions and the templating queries. It fails the test when the
// dashboard is not valid JSON or a panel has no query.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(deployDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		Panels        []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", deployDashboard, err)
	}
	if dash.SchemaVersion == 0 || len(dash.Panels) == 0 {
		t.Fatalf("%s: schemaVersion %d, %d panels: not a dashboard", deployDashboard, dash.SchemaVersion, len(dash.Panels))
	}
	var out []string
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no targets", deployDashboard, p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: panel %q has a target without expr", deployDashboard, p.Title)
			}
			out = append(out, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			if s, ok := q["query"].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// alertExprs returns the expressions of the alert rules, and the metric
// names their annotations mention, after checking that each rule is
// complete and its runbook points at a file and heading that exist.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(deployAlerts)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("%s does not parse: %v", deployAlerts, err)
	}
	if len(file.Groups) != 1 || file.Groups[0].Name != "hookline" {
		t.Fatalf("%s: want one group named hookline", deployAlerts)
	}
	var out []string
	for _, r := range file.Groups[0].Rules {
		if r.Alert == "" || r.Expr == "" || r.For == "" {
			t.Errorf("%s: rule %q: alert, expr and for are required", deployAlerts, r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: %s: severity %q, want critical or warning", deployAlerts, r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: %s: no %s annotation", deployAlerts, r.Alert, a)
			}
		}
		if err := checkRunbook(r.Annotations["runbook"]); err != "" {
			t.Errorf("%s: %s: runbook %q: %s", deployAlerts, r.Alert, r.Annotations["runbook"], err)
		}
		out = append(out, r.Expr)
		// A metric named in the text must exist too; its labels are not
		// checked (there is no selector).
		out = append(out, metricName.FindAllString(r.Annotations["description"], -1)...)
	}
	return out
}

// checkRunbook says what is wrong with a runbook reference, a path from
// the repository root with an optional #heading anchor; "" when nothing.
func checkRunbook(ref string) string {
	path, anchor, _ := strings.Cut(ref, "#")
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		return "no such file"
	}
	if anchor == "" {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if title, ok := strings.CutPrefix(line, "#"); ok && headingAnchor(strings.TrimLeft(title, "#")) == anchor {
			return ""
		}
	}
	return "no heading with that anchor"
}

// headingAnchor is the anchor GitHub gives a Markdown heading.
func headingAnchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(title)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

var (
	// metricName finds the gateway's metric names in an expression.
	metricName = regexp.MustCompile(`\b(?:hookline|go|process)_[a-z0-9_]+\b`)
	// selector finds a metric name with its label matchers.
	selector = regexp.MustCompile(`\b((?:hookline|go|process)_[a-z0-9_]+)\s*\{([^}]*)\}`)
	// matcherLabel finds the label of each matcher, quoted values removed.
	matcherLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// grouping finds the label lists of by, without, on and ignoring.
	grouping = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
	// labelValues finds the label of a Grafana label_values(metric, label).
	labelValues = regexp.MustCompile(`label_values\(\s*([a-z0-9_]+)\s*(?:\{[^}]*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
	quoted      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// checkExpr lists what is wrong with one expression: metrics /metrics does
// not export, and labels the metrics it names do not have.
func checkExpr(expr string, families map[string]family) []string {
	var problems []string
	inExpr := map[string]bool{} // the labels of every metric the expression names
	for _, l := range targetLabels {
		inExpr[l] = true
	}
	labelsOf := map[string]map[string]bool{}
	for _, name := range metricName.FindAllString(expr, -1) {
		labels, ok := seriesLabels(name, families)
		if !ok {
			problems = append(problems, name+" is not on /metrics")
			continue
		}
		labelsOf[name] = labels
		for l := range labels {
			inExpr[l] = true
		}
	}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		labels, ok := labelsOf[m[1]]
		if !ok {
			continue // reported above
		}
		for _, l := range matcherLabel.FindAllStringSubmatch(quoted.ReplaceAllString(m[2], `""`), -1) {
			if !labels[l[1]] {
				problems = append(problems, m[1]+" has no label "+l[1])
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !inExpr[l] {
				problems = append(problems, "no metric in the expression has label "+l)
			}
		}
	}
	for _, m := range labelValues.FindAllStringSubmatch(expr, -1) {
		if labels, ok := labelsOf[m[1]]; ok && !labels[m[2]] {
			problems = append(problems, m[1]+" has no label "+m[2])
		}
	}
	return problems
}

// seriesLabels returns the labels a series named name carries in
// Prometheus: its family's, the target's, and le or quantile for the
// series of a histogram or summary. ok is false when /metrics has no such
// series.
func seriesLabels(name string, families map[string]family) (labels map[string]bool, ok bool) {
	with := func(f family, extra ...string) map[string]bool {
		out := map[string]bool{}
		for l := range f.labels {
			out[l] = true
		}
		for _, l := range slices.Concat(targetLabels, extra) {
			out[l] = true
		}
		return out
	}
	if f, ok := families[name]; ok {
		if f.typ == dto.MetricType_SUMMARY {
			return with(f, "quantile"), true
		}
		return with(f), true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		base, cut := strings.CutSuffix(name, suffix)
		f, ok := families[base]
		if !cut || !ok {
			continue
		}
		switch {
		case f.typ == dto.MetricType_HISTOGRAM && suffix == "_bucket":
			return with(f, "le"), true
		case f.typ == dto.MetricType_HISTOGRAM || f.typ == dto.MetricType_SUMMARY && suffix != "_bucket":
			return with(f), true
		}
	}
	return nil, false
}
