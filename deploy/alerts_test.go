package deploy_test

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"clawdbot.cloud/deploy"
)

// alertQueries parses an alert rules file with Prometheus's own rule
// parser (what promtool check rules runs: YAML, PromQL, templates) and
// returns each rule's expression as a deploy.Query named after its alert.
func alertQueries(t *testing.T, content string) ([]deploy.Query, []error) {
	t.Helper()
	groups, errs := rulefmt.Parse([]byte(content), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, errs
	}
	var qs []deploy.Query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				return nil, []error{fmt.Errorf("group %s: a recording rule (%s); this file holds alerts only", g.Name, r.Record)}
			}
			qs = append(qs, deploy.Query{Dashboard: "alerts/" + g.Name, Panel: r.Alert, Expr: r.Expr})
		}
	}
	return qs, nil
}

// The alert rules parse as Prometheus parses them, prometheus.yml loads
// them where compose mounts them, the alerts the operator relies on exist,
// and every metric an expression reads is exported by the service its job
// names (up, which Prometheus writes for every scraped job, included).
func TestAlertRules(t *testing.T) {
	data := readFile(t, "prometheus/alerts.yml")
	qs, errs := alertQueries(t, data)
	if len(errs) > 0 {
		t.Fatalf("prometheus/alerts.yml: %v", errs)
	}
	var p struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, "prometheus/prometheus.yml", &p)
	var c compose
	readYAML(t, "docker-compose.yml", &c)
	for _, f := range p.RuleFiles {
		if !slices.Contains(c.Services["prometheus"].Volumes, "./prometheus/alerts.yml:"+f+":ro") {
			t.Errorf("prometheus.yml loads %s, compose does not mount alerts.yml there", f)
		}
	}
	if len(p.RuleFiles) == 0 {
		t.Error("prometheus.yml has no rule_files")
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Panel)
	}
	for _, want := range []string{"DeadLettersGrowing", "ConsumerStalled", "ConsumerLagGrowing", "NATSExporterDown", "SagasFailing", "SagasStuck", "InstancesDown", "QuotaNoticesFailing", "WebRefusalsSpiking", "OpenClawRolloutFailed"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s (have %v)", want, names)
		}
	}
	exported := map[string]map[string]bool{}
	for _, s := range services(t) {
		if s == "runtime" {
			continue // not scraped
		}
		m, err := deploy.SourceMetrics(root, s)
		if err != nil {
			t.Fatal(err)
		}
		m["up"] = true
		exported[s] = m
	}
	exported["nats"] = deploy.NATSExporterMetrics()
	if missing := deploy.Missing(map[string][]deploy.Query{"alerts": qs}, exported); len(missing) > 0 {
		t.Errorf("alerts read metrics nobody exports:\n%s", strings.Join(missing, "\n"))
	}
}

// The checks fail on a rule Prometheus would refuse and on one that reads a
// metric its job does not export, so TestAlertRules cannot pass vacuously.
func TestAlertRulesCatchBadRules(t *testing.T) {
	for name, content := range map[string]string{
		"bad promql":    "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate(claw_saga_running{job=\"saga\"}[5m])\n",
		"bad template":  "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: claw_saga_running{job=\"saga\"} > 0\n    annotations:\n      summary: \"{{ $value \"\n",
		"unknown field": "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: claw_saga_running{job=\"saga\"} > 0\n    severity: page\n",
		"no alert name": "groups:\n- name: g\n  rules:\n  - expr: claw_saga_running{job=\"saga\"} > 0\n",
	} {
		if _, errs := alertQueries(t, content); len(errs) == 0 {
			t.Errorf("%s: parsed", name)
		}
	}
	qs, errs := alertQueries(t, "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: claw_saga_nope{job=\"saga\"} > 0\n")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	exported := map[string]map[string]bool{"saga": {"claw_saga_running": true}}
	if len(deploy.Missing(map[string][]deploy.Query{"alerts": qs}, exported)) == 0 {
		t.Error("an alert on a metric saga does not export passed")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
