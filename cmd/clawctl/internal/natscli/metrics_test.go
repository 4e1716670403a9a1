package natscli_test

import (
	"bufio"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"clawdbot.cloud/deploy"
)

// repoRoot is the repository root, seen from this package.
var repoRoot = filepath.Join("..", "..", "..", "..")

// checkDashboards scrapes every running service's /metrics and checks the
// Grafana dashboards against what the services export: what they served
// now plus what their sources declare (a labelled metric appears only once
// it has a value). Every scraped metric of ours must be one the source scan
// finds too, so the deploy module's source-only check cannot go stale.
func checkDashboards(t *testing.T, e *env) {
	t.Helper()
	exported := map[string]map[string]bool{}
	for svc, addr := range e.p.Ops {
		scraped := scrape(t, "http://"+addr+"/metrics")
		declared, err := deploy.SourceMetrics(repoRoot, svc)
		if err != nil {
			t.Fatal(err)
		}
		for name := range scraped {
			if strings.HasPrefix(name, "claw_") && !declared[name] {
				t.Errorf("%s serves %s, which the source scan of deploy does not find", svc, name)
			}
			declared[name] = true
		}
		exported[svc] = declared
	}
	// The NATS dashboard reads prometheus-nats-exporter, which dev mode
	// does not run: its series come from the exporter's known set.
	exported["nats"] = deploy.NATSExporterMetrics()
	dashboards, err := deploy.Dashboards(filepath.Join(repoRoot, "deploy", "grafana", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	if missing := deploy.Missing(dashboards, exported); len(missing) > 0 {
		t.Errorf("dashboards query metrics the running services do not export:\n%s", strings.Join(missing, "\n"))
	}
}

// scrape returns the sample names served at url (text exposition format).
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		names[name] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("%s served no metrics", url)
	}
	return names
}
