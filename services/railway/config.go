package railway

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	railwaydriver "clawdbot.cloud/services/railway/internal/adapters/railway"
)

// Config is the compute service's own configuration, read from the
// environment (the platform-wide settings are read by pkg/service).
type Config struct {
	// Driver is the compute backend (COMPUTE_DRIVER): "process", the
	// embedded default, or "railway".
	Driver string
	// RuntimeBinary is the customer runtime executable the process driver
	// runs (RUNTIME_BINARY), absolute.
	RuntimeBinary string
	// RuntimeVersion is the release the runtimes report (RUNTIME_VERSION).
	RuntimeVersion string
	// StartTimeout bounds the wait for a runtime to answer (RUNTIME_START_TIMEOUT).
	StartTimeout time.Duration
	// StopGrace is a runtime's time to exit after SIGTERM (RUNTIME_STOP_GRACE).
	StopGrace time.Duration
	// Concurrency is how many compute commands a replica handles at once
	// (COMPUTE_CONCURRENCY, default 32). A provision spends most of its
	// time waiting for the runtime (process) or Railway (railway) to
	// answer, so eight at a time, the bus's default, made a burst of
	// signups queue here.
	Concurrency int
	// RuntimeProvider and RuntimeModel (RUNTIME_PROVIDER: anthropic or
	// openai; RUNTIME_MODEL) go into every runtime's configuration when
	// set; empty leaves the runtime's defaults (provider from the
	// environment, the plan's model).
	RuntimeProvider, RuntimeModel string
	// RuntimeEnv is the runtimes' environment: the variables of
	// ForwardedVars that are set.
	RuntimeEnv []string
	// Engines is the engine the operator chose per plan (RUNTIME_ENGINES,
	// "team=openclaw"); a plan it does not name runs its catalog engine.
	// The compute service decides a runtime's engine and tells it in the
	// runtime's configuration (both drivers).
	Engines plans.Engines
	// EngineStartTimeout bounds the wait, in a resize onto the openclaw
	// engine, for the new runtime's /health to answer 200: its gateway
	// has started (OPENCLAW_START_TIMEOUT, default 5m).
	EngineStartTimeout time.Duration
	// OpenClawInstalls holds one OpenClaw install per version
	// (OPENCLAW_INSTALLS/<version>/); OpenClawVersion is the version pinned
	// at the first start (OPENCLAW_VERSION, required with it); a rollout
	// waits RolloutTimeout for each instance (OPENCLAW_ROLLOUT_TIMEOUT,
	// default 5m). Process driver.
	OpenClawInstalls, OpenClawVersion string
	RolloutTimeout                    time.Duration
	// Isolation keeps the process driver's runtimes apart (COMPUTE_ISOLATION,
	// COMPUTE_UID_RANGE, COMPUTE_CGROUP_PARENT, COMPUTE_PIDS_LIMIT).
	Isolation process.Isolation
	// Railway configures the railway driver.
	Railway RailwayConfig
}

// RailwayConfig is the railway driver's configuration (RAILWAY_*).
type RailwayConfig struct {
	// APIURL is Railway's GraphQL endpoint (RAILWAY_API_URL).
	APIURL string
	// Token (RAILWAY_TOKEN) and TokenKind (RAILWAY_TOKEN_KIND: account,
	// team or project) authenticate the driver.
	Token, TokenKind string
	// ProjectID and EnvironmentID (RAILWAY_PROJECT_ID,
	// RAILWAY_ENVIRONMENT_ID) are where customers' services are created.
	ProjectID, EnvironmentID string
	// Image is the runtime's container image (RAILWAY_RUNTIME_IMAGE).
	Image string
	// OpenClawImage is the image of the plans on the openclaw engine
	// (RAILWAY_OPENCLAW_IMAGE, deploy/openclaw/Dockerfile), pinned by
	// digest; required when RUNTIME_ENGINES puts a plan on that engine.
	OpenClawImage string
	// Region is the deployment region (RAILWAY_REGION); empty is Railway's
	// default.
	Region string
	// RatePerSecond and RatePerHour are this replica's request budget
	// (RAILWAY_RATE_PER_SECOND, RAILWAY_RATE_PER_HOUR).
	RatePerSecond, RatePerHour int
	// PollInterval and DeployTimeout pace and bound the wait for a
	// deployment (RAILWAY_POLL_INTERVAL, RAILWAY_DEPLOY_TIMEOUT).
	PollInterval, DeployTimeout time.Duration
	// DomainScheme is how the services' domains are reached
	// (RAILWAY_DOMAIN_SCHEME): "https", always, against Railway. "http" is
	// for a test server on this machine whose "domains" are local
	// addresses of plain-http runtimes (services/railway/railwaytest in
	// runtime mode); it is refused unless RAILWAY_API_URL is such a server.
	DomainScheme string
	// Vars are the variables of RailwayForwardedVars that are set: they
	// become variables of every customer service.
	Vars map[string]string
}

// ForwardedVars are the settings of the compute service that reach every
// runtime's environment: model-provider settings, the Google OAuth client
// (Gmail and Calendar) and process basics. Nothing
// else is passed on: the service's environment also holds the control-plane
// DATABASE_URL and CLAW_ENCRYPTION_KEY, which a customer's runtime must
// never see.
var ForwardedVars = []string{
	"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
	"SEARCH_BACKEND", "SEARXNG_URL", "BRAVE_API_KEY", "BRAVE_BASE_URL", "CHROMIUM_PATH",
	"TELEGRAM_API_BASE_URL",
	// The openclaw engine: the Node/OpenClaw install, the sandbox
	// (services/runtime/README.md). Which plans run it (RUNTIME_ENGINES)
	// is the compute service's decision, sent in each runtime's
	// configuration.
	"OPENCLAW_DIR", "OPENCLAW_SANDBOX",
	"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_OAUTH_BASE_URL", "GOOGLE_API_BASE_URL", "LOG_FORMAT", "PATH", "HOME", "TMPDIR", "TZ", "LANG",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
	// Traces: where they go and how many are kept (never
	// OTEL_EXPORTER_OTLP_HEADERS, which may hold the platform's collector
	// credentials).
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

// RailwayForwardedVars are the settings of the compute service that become
// variables of every customer's Railway service: the model-provider
// settings, the web search backend and the log format. Process basics
// (PATH, HOME, ...) are the container's own.
var RailwayForwardedVars = []string{
	"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "LOG_FORMAT",
	"SEARCH_BACKEND", "SEARXNG_URL", "BRAVE_API_KEY", "BRAVE_BASE_URL", "TELEGRAM_API_BASE_URL",
	"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_OAUTH_BASE_URL", "GOOGLE_API_BASE_URL",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

// DefaultRailwayAPIURL is Railway's public GraphQL endpoint
// (../shared/reference/railway/SOURCE.md).
const DefaultRailwayAPIURL = "https://backboard.railway.com/graphql/v2"

// LoadConfig reads the configuration from l, recording every problem in l
// (the caller returns l.Err()).
func LoadConfig(l *config.Loader) Config {
	c := Config{
		Driver:             l.OneOf("COMPUTE_DRIVER", "process", "process", "railway"),
		RuntimeVersion:     l.String("RUNTIME_VERSION", "dev"),
		StartTimeout:       l.Duration("RUNTIME_START_TIMEOUT", time.Minute),
		StopGrace:          l.Duration("RUNTIME_STOP_GRACE", 15*time.Second),
		Concurrency:        l.Int("COMPUTE_CONCURRENCY", 32),
		RuntimeModel:       l.String("RUNTIME_MODEL", ""),
		EngineStartTimeout: l.Duration("OPENCLAW_START_TIMEOUT", 5*time.Minute),
	}
	if c.EngineStartTimeout <= 0 {
		l.Problem("OPENCLAW_START_TIMEOUT must be positive")
	}
	if spec, ok := l.Lookup("RUNTIME_ENGINES"); ok {
		e, err := plans.ParseEngines(spec)
		if err != nil {
			l.Problem("%v", err)
		}
		c.Engines = e
	}
	c.OpenClawInstalls = l.String("OPENCLAW_INSTALLS", "")
	c.OpenClawVersion = l.String("OPENCLAW_VERSION", "")
	c.RolloutTimeout = l.Duration("OPENCLAW_ROLLOUT_TIMEOUT", 5*time.Minute)
	switch {
	case c.OpenClawInstalls != "" && c.Driver != "process":
		l.Problem("OPENCLAW_INSTALLS: only the process compute driver runs OpenClaw installs (railway: RAILWAY_OPENCLAW_IMAGE)")
	case c.OpenClawInstalls != "" && c.OpenClawVersion == "":
		l.Problem("OPENCLAW_VERSION is required with OPENCLAW_INSTALLS: the version (a directory of it) new instances run")
	case c.OpenClawInstalls == "" && c.OpenClawVersion != "":
		l.Problem("OPENCLAW_VERSION needs OPENCLAW_INSTALLS (one directory per version)")
	}
	if c.RolloutTimeout <= 0 {
		l.Problem("OPENCLAW_ROLLOUT_TIMEOUT must be positive")
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		l.Problem("COMPUTE_CONCURRENCY must be between 1 and 1024")
	}
	c.RuntimeProvider = l.OneOf("RUNTIME_PROVIDER", "", "", "anthropic", "openai")
	if c.Driver == "process" {
		c.RuntimeBinary = l.Required("RUNTIME_BINARY",
			"the customer runtime executable the process compute driver runs (`make build` produces bin/runtime)")
		if c.RuntimeBinary != "" {
			c.RuntimeBinary = checkBinary(l, c.RuntimeBinary)
		}
	}
	for _, k := range ForwardedVars {
		if v, ok := l.Lookup(k); ok {
			c.RuntimeEnv = append(c.RuntimeEnv, k+"="+v)
		}
	}
	if c.Driver == "process" {
		c.Isolation = loadIsolation(l)
	}
	if c.Driver == "railway" {
		c.Railway = loadRailway(l, c.Engines)
	}
	return c
}

// loadIsolation reads the process driver's isolation settings.
func loadIsolation(l *config.Loader) process.Isolation {
	i := process.Isolation{
		Mode: l.OneOf("COMPUTE_ISOLATION", process.IsolationAuto,
			process.IsolationAuto, process.IsolationOn, process.IsolationOff),
		CgroupParent: l.String("COMPUTE_CGROUP_PARENT", process.DefaultCgroupParent),
		Pids:         int64(l.Int("COMPUTE_PIDS_LIMIT", process.DefaultPids)),
		OpenClawPids: int64(l.Int("COMPUTE_OPENCLAW_PIDS_LIMIT", process.DefaultOpenClawPids)),
	}
	def := fmt.Sprintf("%d-%d", process.DefaultUIDMin, process.DefaultUIDMax)
	lo, hi, ok := strings.Cut(l.String("COMPUTE_UID_RANGE", def), "-")
	a, errA := strconv.Atoi(strings.TrimSpace(lo))
	b, errB := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case !ok || errA != nil || errB != nil:
		l.Problem("COMPUTE_UID_RANGE must be <min>-<max>, e.g. %s", def)
	case a < 1000 || b < a || b > math.MaxInt32-1:
		l.Problem("COMPUTE_UID_RANGE %d-%d: want 1000 <= min <= max < 2^31-1, apart from system and login users", a, b)
	default:
		i.UIDMin, i.UIDMax = a, b
	}
	if strings.ContainsAny(i.CgroupParent, "/.") || i.CgroupParent == "" {
		l.Problem("COMPUTE_CGROUP_PARENT %q must be one path element", i.CgroupParent)
	}
	if i.Pids < 16 {
		l.Problem("COMPUTE_PIDS_LIMIT must be at least 16 (a Go runtime alone uses a dozen threads)")
	}
	if i.OpenClawPids < 64 {
		l.Problem("COMPUTE_OPENCLAW_PIDS_LIMIT must be at least 64 (the runtime and an idle OpenClaw gateway use about 60 tasks)")
	}
	return i
}

// loadRailway reads the railway driver's settings; every missing one is a
// problem of its own, so one start lists them all.
func loadRailway(l *config.Loader, engines plans.Engines) RailwayConfig {
	c := RailwayConfig{
		APIURL: l.URL("RAILWAY_API_URL", DefaultRailwayAPIURL, "https", "http"),
		Token: l.Required("RAILWAY_TOKEN",
			"a Railway account, team or project token for the railway compute driver"),
		ProjectID: l.Required("RAILWAY_PROJECT_ID",
			"the Railway project that holds the customers' services"),
		EnvironmentID: l.Required("RAILWAY_ENVIRONMENT_ID",
			"the environment of RAILWAY_PROJECT_ID the services are created in"),
		Image: l.Required("RAILWAY_RUNTIME_IMAGE",
			"the runtime's container image (deploy/runtime/Dockerfile), e.g. ghcr.io/you/clawdbot-runtime:v1"),
		OpenClawImage: l.String("RAILWAY_OPENCLAW_IMAGE", ""),
		Region:        l.String("RAILWAY_REGION", ""),
		RatePerSecond: l.Int("RAILWAY_RATE_PER_SECOND", 10),
		RatePerHour:   l.Int("RAILWAY_RATE_PER_HOUR", 1000),
		PollInterval:  l.Duration("RAILWAY_POLL_INTERVAL", 2*time.Second),
		DeployTimeout: l.Duration("RAILWAY_DEPLOY_TIMEOUT", 10*time.Minute),
		DomainScheme:  l.OneOf("RAILWAY_DOMAIN_SCHEME", "https", "https", "http"),
	}
	if _, ok := l.Lookup("RAILWAY_TOKEN_KIND"); !ok {
		l.Problem("RAILWAY_TOKEN_KIND is required: account, team (both sent as Authorization: Bearer) or project (sent as Project-Access-Token)")
	} else {
		c.TokenKind = l.OneOf("RAILWAY_TOKEN_KIND", "", "account", "team", "project")
	}
	// The token must not cross the network in clear: plain http only to
	// this machine (a test server).
	if u, err := url.Parse(c.APIURL); err == nil && u.Scheme == "http" && !loopback(u.Hostname()) {
		l.Problem("RAILWAY_API_URL must use https (http is for a local test server only)")
	}
	if u, err := url.Parse(c.APIURL); c.DomainScheme == "http" && (err != nil || !loopback(u.Hostname())) {
		l.Problem("RAILWAY_DOMAIN_SCHEME=http is for a Railway test server on this machine only (RAILWAY_API_URL is not one)")
	}
	if c.OpenClawImage != "" {
		if err := railwaydriver.CheckOpenClawImage(c.OpenClawImage); err != nil {
			l.Problem("RAILWAY_OPENCLAW_IMAGE: %v", err)
		}
	} else {
		for plan, engine := range engines {
			if engine == plans.EngineOpenClaw {
				l.Problem("RUNTIME_ENGINES: %s=openclaw: RAILWAY_OPENCLAW_IMAGE is required (deploy/openclaw/Dockerfile: the official OpenClaw image pinned by digest with the runtime on top)", plan)
			}
		}
	}
	if c.RatePerSecond <= 0 || c.RatePerHour <= 0 {
		l.Problem("RAILWAY_RATE_PER_SECOND and RAILWAY_RATE_PER_HOUR must be positive")
	}
	if c.PollInterval <= 0 || c.DeployTimeout <= 0 {
		l.Problem("RAILWAY_POLL_INTERVAL and RAILWAY_DEPLOY_TIMEOUT must be positive")
	}
	c.Vars = map[string]string{}
	for _, k := range RailwayForwardedVars {
		if v, ok := l.Lookup(k); ok {
			c.Vars[k] = v
		}
	}
	return c
}

// loopback reports whether host is this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkBinary returns path made absolute, recording a problem unless it is
// an executable file.
func checkBinary(l *config.Loader, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		l.Problem("RUNTIME_BINARY=%q: %v", path, err)
		return path
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		l.Problem("RUNTIME_BINARY=%q does not exist (run `make build`, which produces bin/runtime)", path)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		l.Problem("RUNTIME_BINARY=%q is not an executable file", path)
	}
	return abs
}
