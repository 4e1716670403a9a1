// Package deploy holds the deployment files of the platform (container
// images, docker-compose.yml, NATS, Prometheus and Grafana configuration)
// and the checks that keep them true to the code: the dashboards may only
// query metrics their services export. The checks are exported so the
// end-to-end tests (cmd/clawctl) can run them against a live platform too.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Query is one PromQL expression of a dashboard panel.
type Query struct {
	Dashboard, Panel, Expr string
}

// Selector is a metric a query reads and the jobs (services) it reads it from.
type Selector struct {
	Metric string
	Jobs   []string
}

// Dashboards returns every panel query of the dashboards (*.json) in dir,
// keyed by dashboard file name without extension.
func Dashboards(dir string) (map[string][]Query, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string][]Query{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d struct {
			Title  string  `json:"title"`
			UID    string  `json:"uid"`
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if d.Title == "" || d.UID == "" {
			return nil, fmt.Errorf("%s: dashboard without title or uid", f)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		qs := []Query{}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for _, t := range p.Targets {
					qs = append(qs, Query{Dashboard: name, Panel: p.Title, Expr: t.Expr})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		out[name] = qs
	}
	return out, nil
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // rows
}

var (
	// A metric selector as the dashboards write them: name{labels}.
	selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)
	jobRE      = regexp.MustCompile(`(?:^|,)\s*job\s*(=~|=)\s*"([^"]*)"`)
	// A name that looks like a metric of ours or of the Go client.
	metricNameRE = regexp.MustCompile(`\b(?:claw|go|process|nats|promhttp)_[a-zA-Z0-9_:]*`)
)

// Selectors returns the metrics expr reads. Every metric must be written
// with braces and a job matcher (job="saga" or job=~"saga|neon"), so that
// each query names the service that exports it; a metric name outside a
// selector is an error.
func Selectors(expr string) ([]Selector, error) {
	var out []Selector
	rest := expr
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		name, labels := m[1], m[2]
		jm := jobRE.FindStringSubmatch(labels)
		if jm == nil {
			return nil, fmt.Errorf("%s: no job matcher (write %s{job=\"<service>\"})", name, name)
		}
		jobs := []string{jm[2]}
		if jm[1] == "=~" {
			jobs = strings.Split(jm[2], "|")
		}
		out = append(out, Selector{Metric: name, Jobs: jobs})
		rest = strings.Replace(rest, m[0], "", 1)
	}
	if stray := metricNameRE.FindAllString(rest, -1); len(stray) > 0 {
		return nil, fmt.Errorf("metric %s without a {job=...} selector", strings.Join(stray, ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no metric selector in %q", expr)
	}
	return out, nil
}

// Missing lists, for every query of dashboards, the metrics a job does not
// export according to exported (job → series names). An unknown job is
// reported too.
func Missing(dashboards map[string][]Query, exported map[string]map[string]bool) []string {
	var out []string
	for _, qs := range dashboards {
		for _, q := range qs {
			sels, err := Selectors(q.Expr)
			if err != nil {
				out = append(out, fmt.Sprintf("%s / %q: %v", q.Dashboard, q.Panel, err))
				continue
			}
			for _, s := range sels {
				for _, job := range s.Jobs {
					names, ok := exported[job]
					switch {
					case !ok:
						out = append(out, fmt.Sprintf("%s / %q: job %q is no service", q.Dashboard, q.Panel, job))
					case !names[s.Metric]:
						out = append(out, fmt.Sprintf("%s / %q: %s does not export %s", q.Dashboard, q.Panel, job, s.Metric))
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
