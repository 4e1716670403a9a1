package deploy_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"clawdbot.cloud/deploy"
)

// Every dashboard parses, there is one per service plus the overview, and
// every metric a panel queries is exported by the service its job names,
// as the service's Go sources declare it.
func TestDashboardsQueryExportedMetrics(t *testing.T) {
	dashboards, err := deploy.Dashboards("grafana/dashboards")
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]map[string]bool{}
	for _, s := range services(t) {
		if _, ok := dashboards[s]; !ok {
			t.Errorf("no dashboard for %s", s)
		}
		if len(dashboards[s]) == 0 {
			t.Errorf("dashboard %s has no queries", s)
		}
		if s == "runtime" {
			continue // not scraped: no job of its own
		}
		names, err := deploy.SourceMetrics(root, s)
		if err != nil {
			t.Fatal(err)
		}
		exported[s] = names
	}
	if _, ok := dashboards["platform"]; !ok {
		t.Error("no platform overview dashboard")
	}
	if len(dashboards["nats"]) == 0 {
		t.Error("no NATS dashboard (stream depth, consumer lag)")
	}
	exported["nats"] = deploy.NATSExporterMetrics()
	for _, want := range []string{"jetstream_stream_total_messages", "jetstream_consumer_num_pending"} {
		found := false
		for _, q := range dashboards["nats"] {
			found = found || strings.Contains(q.Expr, want+`{job="nats"`)
		}
		if !found {
			t.Errorf("the NATS dashboard has no panel on %s", want)
		}
	}
	if !exported["saga"]["claw_saga_step_duration_seconds_bucket"] || !exported["neon"]["go_goroutines"] || !exported["railway"]["claw_compute_instances"] {
		t.Fatalf("source scan misses known metrics: %v", exported["saga"])
	}
	if missing := deploy.Missing(dashboards, exported); len(missing) > 0 {
		t.Errorf("panels query metrics nobody exports:\n%s", strings.Join(missing, "\n"))
	}
}

// The checker itself catches a panel that queries a metric its job lacks,
// a selector without a job and an unknown job.
func TestMissingCatchesBadQueries(t *testing.T) {
	exported := map[string]map[string]bool{"saga": {"claw_saga_running": true}}
	for _, expr := range []string{
		`claw_saga_nope{job="saga"}`,
		`sum(claw_saga_running)`,
		`claw_saga_running{job="ghost"}`,
		`claw_saga_running{job=~"saga|neon"}`,
	} {
		got := deploy.Missing(map[string][]deploy.Query{"d": {{Dashboard: "d", Panel: "p", Expr: expr}}}, exported)
		if len(got) == 0 {
			t.Errorf("%s passed", expr)
		}
	}
	ok := deploy.Missing(map[string][]deploy.Query{"d": {{Expr: `rate(claw_saga_running{job="saga"}[5m])`}}}, exported)
	if len(ok) != 0 {
		t.Errorf("good query rejected: %v", ok)
	}
}

// Every dashboard reads its data source from a ${datasource} variable of
// type prometheus, not from a fixed uid, so it works in any Grafana.
func TestDashboardsTakeDatasourceVariable(t *testing.T) {
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range files {
		var d struct {
			Templating struct {
				List []struct{ Name, Type, Query string } `json:"list"`
			} `json:"templating"`
		}
		data := readFile(t, f)
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		found := false
		for _, v := range d.Templating.List {
			found = found || v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
		}
		if !found {
			t.Errorf("%s: no datasource variable of type prometheus", f)
		}
		if n := strings.Count(data, `"uid": "${datasource}"`); n == 0 || strings.Contains(data, `"uid": "prometheus"`) {
			t.Errorf("%s: %d panels on ${datasource}, and a fixed uid remains: %v", f, n, strings.Contains(data, `"uid": "prometheus"`))
		}
	}
}
