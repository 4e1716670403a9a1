package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root (the test runs in deploy/).
const root = ".."

// services are the platform services: one directory under services/ each.
func services(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "services"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, "services", e.Name(), "cmd", e.Name())); err == nil {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no services found")
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		NetworkMode string            `yaml:"network_mode"`
		Ports       []string          `yaml:"ports"`
		Profiles    []string          `yaml:"profiles"`
		Restart     string            `yaml:"restart"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Build *struct {
			Context    string            `yaml:"context"`
			Dockerfile string            `yaml:"dockerfile"`
			Args       map[string]string `yaml:"args"`
		} `yaml:"build"`
	} `yaml:"services"`
}

// The compose file parses, builds every service from a Dockerfile that
// exists with a SERVICE that exists, mounts only files that exist, and
// runs the platform on a replicated NATS cluster.
func TestCompose(t *testing.T) {
	var c compose
	readYAML(t, "docker-compose.yml", &c)
	built := map[string]bool{}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
		if s.Build == nil {
			continue
		}
		df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
		if _, err := os.Stat(df); err != nil {
			t.Errorf("%s: Dockerfile %s: %v", name, df, err)
		}
		svc := s.Build.Args["SERVICE"]
		if svc == "" {
			svc = filepath.Base(filepath.Dir(s.Build.Dockerfile)) // deploy/runtime/Dockerfile
		}
		if _, err := os.Stat(filepath.Join(root, "services", svc, "cmd", svc)); err != nil {
			t.Errorf("%s builds unknown service %q", name, svc)
		}
		built[svc] = true
		if svc == "runtime" {
			continue
		}
		env := s.Environment
		if env["NATS_REPLICAS"] != "3" || strings.Count(env["NATS_URL"], "tls://") != 3 {
			t.Errorf("%s: NATS_REPLICAS=%q NATS_URL=%q, want 3 replicas on 3 nodes", name, env["NATS_REPLICAS"], env["NATS_URL"])
		}
		if !strings.Contains(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://jaeger:4318") {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT=%q, want the compose Jaeger by default", name, env["OTEL_EXPORTER_OTLP_ENDPOINT"])
		}
		for _, k := range []string{"DATABASE_URL", "CLAW_ENCRYPTION_KEY", "OPS_ADDR"} {
			if env[k] == "" {
				t.Errorf("%s: %s unset", name, k)
			}
		}
	}
	for _, s := range services(t) {
		if !built[s] {
			t.Errorf("no compose service builds %s", s)
		}
	}
	for _, s := range []string{"nats-1", "nats-2", "nats-3", "nats-exporter-1", "nats-exporter-2", "nats-exporter-3", "jaeger", "control-db", "customer-db", "db-bootstrap", "prometheus", "grafana"} {
		if _, ok := c.Services[s]; !ok {
			t.Errorf("compose has no %s", s)
		}
	}
}

// Compose runs like production: every long-running container says when it
// is healthy, JetStream keeps its data on volumes, NATS is not published
// outside the compose network, and the operator API is on.
func TestComposeOperations(t *testing.T) {
	var c compose
	readYAML(t, "docker-compose.yml", &c)
	for name, s := range c.Services {
		if slices.Contains(s.Profiles, "build-only") || s.Restart == "no" { // one-shots
			continue
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
		if strings.HasPrefix(name, "nats-") && !strings.HasPrefix(name, "nats-exporter-") {
			if len(s.Ports) > 0 {
				t.Errorf("%s publishes %v", name, s.Ports)
			}
			if !slices.Contains(s.Volumes, name+":/data") {
				t.Errorf("%s keeps JetStream off a volume: %v", name, s.Volumes)
			}
		}
	}
	if !strings.Contains(c.Services["ingress"].Environment["ADMIN_TOKEN"], "ADMIN_TOKEN") {
		t.Error("ingress runs without ADMIN_TOKEN")
	}
	for _, f := range []string{"Dockerfile.dockerignore", "runtime/Dockerfile.dockerignore"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(string(data), "\n"), ".data") {
			t.Errorf("%s does not keep .data/ out of the build context", f)
		}
	}
}

// Prometheus scrapes every service that has ops endpoints, by its name, at
// an address compose gives it.
func TestPrometheusConfig(t *testing.T) {
	var p struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &p)
	var c compose
	readYAML(t, "docker-compose.yml", &c)
	jobs := map[string]bool{}
	for _, sc := range p.ScrapeConfigs {
		jobs[sc.JobName] = true
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, _ := strings.Cut(target, ":")
				if host == "localhost" {
					continue
				}
				if _, ok := c.Services[host]; !ok {
					t.Errorf("job %s scrapes %s: no such compose service", sc.JobName, target)
				}
				// A service sharing another's network namespace listens on its own OPS_ADDR there.
				owner := sc.JobName
				if _, ok := c.Services[owner]; ok && c.Services[owner].NetworkMode != "service:"+host && owner != host {
					t.Errorf("job %s scrapes %s, not its own container", sc.JobName, target)
				}
				if ops := c.Services[owner].Environment["OPS_ADDR"]; ops != "" && !strings.HasSuffix(ops, ":"+port) {
					t.Errorf("job %s scrapes port %s, the service listens on %s", sc.JobName, port, ops)
				}
			}
		}
	}
	for _, s := range services(t) {
		if s != "runtime" && !jobs[s] {
			t.Errorf("no scrape job for %s", s)
		}
	}
	if !jobs["nats"] {
		t.Error("no scrape job for the NATS exporters")
	}
}

// The cluster configuration is valid for the real server (with the files
// `clawctl nats-auth` writes beside it): three routes, JetStream on, a
// server name from the environment, every write fsynced before its ack.
func TestNATSClusterConfig(t *testing.T) {
	opts, _, _ := clusterWithSecrets(t, "nats-2")
	if opts.ServerName != "nats-2" || !opts.JetStream || opts.Cluster.Name != "clawdbot" || len(opts.Routes) != 3 {
		t.Errorf("server_name=%q jetstream=%v cluster=%q routes=%d", opts.ServerName, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
	}
	if !opts.SyncAlways {
		t.Error("JetStream does not fsync every write (sync_interval: always)")
	}
}

// Every image builds its binary with `make build-one`, the rule `make build`
// uses, and that rule is one go build of the service's command.
func TestImagesBuildLikeMake(t *testing.T) {
	for _, df := range []string{"Dockerfile", "runtime/Dockerfile"} {
		data, err := os.ReadFile(df)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if !strings.Contains(s, "make build-one SERVICE=") || strings.Contains(s, "./services/") {
			t.Errorf("%s does not build its service with make build-one", df)
		}
		if !strings.Contains(s, "CGO_ENABLED=0") || !strings.Contains(s, "USER nonroot") {
			t.Errorf("%s: want a static binary run as nonroot", df)
		}
	}
	out, err := exec.Command("make", "-C", root, "-n", "--no-print-directory", "build-one", "SERVICE=saga", "OUT=/out/service").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build-one: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !slices.Contains(lines, "CGO_ENABLED=0 go build -o /out/service ./services/saga/cmd/saga") {
		t.Errorf("make build-one runs:\n%s", out)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "$(MAKE) --no-print-directory build-one SERVICE=$$s") {
		t.Error("make build does not build the services with build-one")
	}
}

// The control plane and the customer databases are separate servers; every
// service logs in to the control plane as its own role (never the
// superuser), neon administers customer-db as the customer admin role, and
// only the db-bootstrap one-shot holds the role secret and the superuser.
func TestComposeDatabases(t *testing.T) {
	var c compose
	readYAML(t, "docker-compose.yml", &c)
	for name, s := range c.Services {
		if s.Build == nil || s.Build.Args["SERVICE"] == "" {
			continue
		}
		svc := s.Build.Args["SERVICE"]
		want := "postgres://clawsvc_" + svc + ":"
		if u := s.Environment["DATABASE_URL"]; !strings.HasPrefix(u, want) || !strings.Contains(u, "@control-db:") {
			t.Errorf("%s: DATABASE_URL %q, want %s…@control-db", name, u, want)
		}
		for k, v := range s.Environment {
			if k == "CLAW_DB_ROLE_SECRET" || strings.Contains(v, "POSTGRES_PASSWORD") {
				t.Errorf("%s holds %s (the superuser or the role secret)", name, k)
			}
		}
	}
	neon := c.Services["neon"].Environment
	if !strings.HasPrefix(neon["DATABASE_ADMIN_URL"], "postgres://clawsvc_customer_admin:") || !strings.Contains(neon["DATABASE_ADMIN_URL"], "@customer-db:") ||
		neon["CUSTOMER_DB_HOST"] != "customer-db:5432" {
		t.Errorf("neon administers %q (customers reach %q), want clawsvc_customer_admin on customer-db", neon["DATABASE_ADMIN_URL"], neon["CUSTOMER_DB_HOST"])
	}
	b := c.Services["db-bootstrap"]
	if b.Restart != "no" || !slices.Equal(b.Entrypoint, []string{"/clawctl", "db", "bootstrap"}) || b.Environment["CLAW_DB_ROLE_SECRET"] == "" ||
		!strings.Contains(b.Environment["CONTROL_DB_ADMIN_URL"], "@control-db:") || !strings.Contains(b.Environment["CUSTOMER_DB_SUPERUSER_URL"], "@customer-db:") {
		t.Errorf("db-bootstrap: %+v", b)
	}
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "go build -o /out/clawctl ./cmd/clawctl") {
		t.Error("the neon image does not carry clawctl for db-bootstrap")
	}
}
