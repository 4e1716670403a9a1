package deploy

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// SourceMetrics returns the series names service exports, read from the Go
// sources it is built from: every prometheus.*Opts literal with a literal
// Name and every prometheus.NewDesc in the workspace packages the service's
// command imports (its own code, pkg/bus, pkg/service, ...), with the
// _bucket/_sum/_count series of histograms and summaries, plus the Go and
// process collectors every service registers. root is the repository root.
func SourceMetrics(root, service string) (map[string]bool, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{.Module.Path}} {{.Dir}}{{end}}", "./services/"+service+"/cmd/"+service)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %v: %s", service, err, stderr.String())
	}
	names := runtimeCollectorMetrics()
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		mod, dir, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(mod, "clawdbot.cloud/") {
			continue
		}
		if err := packageMetrics(dir, names); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// runtimeCollectorMetrics are the families of the Go and process collectors
// pkg/service registers for every service.
func runtimeCollectorMetrics() map[string]bool {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	names := map[string]bool{}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		addSeries(names, mf.GetName(), mf.GetType().String())
	}
	return names
}

func addSeries(names map[string]bool, name, kind string) {
	names[name] = true
	switch kind {
	case "HISTOGRAM", "GAUGE_HISTOGRAM":
		names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
	case "SUMMARY":
		names[name+"_sum"], names[name+"_count"] = true, true
	}
}

var optsKind = map[string]string{
	"CounterOpts": "COUNTER", "GaugeOpts": "GAUGE", "HistogramOpts": "HISTOGRAM", "SummaryOpts": "SUMMARY",
}

// packageMetrics adds the metrics declared in the non-test Go files of dir.
func packageMetrics(dir string, names map[string]bool) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if !bytes.Contains(src, []byte("prometheus")) {
			continue
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				sel, ok := n.Type.(*ast.SelectorExpr)
				if !ok || optsKind[sel.Sel.Name] == "" {
					return true
				}
				var parts [3]string // Namespace, Subsystem, Name
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key, _ := kv.Key.(*ast.Ident)
					lit, _ := kv.Value.(*ast.BasicLit)
					if key == nil || lit == nil || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					switch key.Name {
					case "Namespace":
						parts[0] = v
					case "Subsystem":
						parts[1] = v
					case "Name":
						parts[2] = v
					}
				}
				if parts[2] != "" {
					addSeries(names, prometheus.BuildFQName(parts[0], parts[1], parts[2]), optsKind[sel.Sel.Name])
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "NewDesc" || len(n.Args) == 0 {
					return true
				}
				if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					// A hand-written collector's type is unknown here: the
					// plain name is what a gauge or counter exports.
					names[v] = true
				}
			}
			return true
		})
	}
	return nil
}

// NATSExporterMetrics are the series the dashboards and alerts read from
// prometheus-nats-exporter (job "nats", run with -varz -jsz=all), plus up.
// They are not in this repository's sources: the list is the exporter's
// names as documented for those flags; a query on any other name fails the
// same check as a service's.
func NATSExporterMetrics() map[string]bool {
	names := map[string]bool{"up": true}
	for _, n := range []string{
		"jetstream_stream_total_messages", "jetstream_stream_total_bytes", "jetstream_stream_consumer_count",
		"jetstream_stream_first_seq", "jetstream_stream_last_seq",
		"jetstream_consumer_num_pending", "jetstream_consumer_num_ack_pending", "jetstream_consumer_num_redelivered",
		"jetstream_consumer_num_waiting", "jetstream_consumer_delivered_consumer_seq", "jetstream_consumer_ack_floor_stream_seq",
		"gnatsd_varz_connections", "gnatsd_varz_in_msgs", "gnatsd_varz_out_msgs", "gnatsd_varz_in_bytes",
		"gnatsd_varz_out_bytes", "gnatsd_varz_slow_consumers", "gnatsd_varz_mem", "gnatsd_varz_cpu",
	} {
		names[n] = true
	}
	return names
}
