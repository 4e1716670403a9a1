package runtime

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/config"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/modelproxy"
	"clawdbot.cloud/services/runtime/internal/openclaw"
	"clawdbot.cloud/services/runtime/internal/ratelimit"
)

// defaultAnthropicURL is the Anthropic API the gateway calls when
// ANTHROPIC_BASE_URL is not set.
const defaultAnthropicURL = "https://api.anthropic.com"

// gatewayEnv are the runtime's environment variables the gateway also gets:
// time zone, locale, TLS roots and proxies. Nothing else of the runtime's
// environment reaches it.
var gatewayEnv = []string{"TZ", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}

// planEngine returns plan on its engine: the one the compute service chose
// (the configuration's engine), else the one the operator chose for it in
// spec (RUNTIME_ENGINES, "team=openclaw,pro=runtime", for a runtime started
// by hand), else its catalog engine.
func planEngine(plan plans.Plan, engine, spec string) (plans.Plan, error) {
	if engine != "" {
		p, err := plan.WithEngine(engine)
		if err != nil {
			return plans.Plan{}, fmt.Errorf("engine: %w", err)
		}
		return p, nil
	}
	e, err := plans.ParseEngines(spec)
	if err != nil {
		return plans.Plan{}, err
	}
	p, err := e.For(plan)
	if err != nil {
		return plans.Plan{}, fmt.Errorf("RUNTIME_ENGINES: %w", err)
	}
	return p, nil
}

// openclawEngine is what the openclaw engine adds to an instance: the
// gateway, the provider that forwards chat to it, and the metering model
// proxy that is its only model endpoint.
type openclawEngine struct {
	gateway  *openclaw.Gateway
	provider llm.Provider
	// turns is the front door's reserved turns, lent to the proxy's meter
	// (chat.Service.Lender).
	turns *modelproxy.Turns
	// proxy serves on proxyLn (loopback, a port of its own).
	proxy   *http.Server
	proxyLn net.Listener
	// metrics are the proxy's (GET /metrics).
	metrics *prometheus.Registry
}

// run runs the gateway and the model proxy until ctx is done.
func (e *openclawEngine) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return e.gateway.Run(gctx) })
	g.Go(func() error {
		if err := e.proxy.Serve(e.proxyLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("model proxy: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		_ = e.proxy.Shutdown(sctx)
		return nil
	})
	return g.Wait()
}

// newGateway prepares the OpenClaw gateway of an instance on the openclaw
// engine and its metering model proxy, and returns them with the
// llm.Provider that forwards chat to the gateway. It returns nil, nil when
// no model provider is configured (chat answers 503 as on the runtime
// engine).
//
// The gateway's one model provider is the proxy, on a loopback port of its
// own, with a key made for this start: the platform's model key stays in
// the runtime and never reaches the gateway's environment or config.
func newGateway(ctx context.Context, cfg config.Config, plan plans.Plan, model string, pool *pgxpool.Pool, opts Options, log *slog.Logger) (*openclawEngine, error) {
	env := cfg.Env
	var api, upstream, key string
	switch {
	case cfg.Provider != config.ProviderOpenAI && env.AnthropicAPIKey != "":
		api, upstream, key = modelproxy.Anthropic, cmp.Or(env.AnthropicBaseURL, defaultAnthropicURL), env.AnthropicAPIKey
	case cfg.Provider != config.ProviderAnthropic && env.OpenAIBaseURL != "":
		api, upstream, key = modelproxy.OpenAI, env.OpenAIBaseURL, env.OpenAIAPIKey
	default:
		return nil, nil
	}
	install, err := openclaw.FindInstall(env.OpenClawDir)
	if err != nil {
		return nil, err
	}
	var bwrap string
	switch s := env.OpenClawSandbox; s {
	case "off":
		log.Warn("the OpenClaw gateway runs WITHOUT a sandbox (OPENCLAW_SANDBOX=off): development only")
	case "", "bwrap":
		if bwrap, err = exec.LookPath("bwrap"); err != nil {
			return nil, fmt.Errorf("openclaw engine: bubblewrap not found (apt-get install bubblewrap): %w", err)
		}
	default:
		if bwrap, err = exec.LookPath(s); err != nil {
			return nil, fmt.Errorf("openclaw engine: OPENCLAW_SANDBOX %q: %w", s, err)
		}
	}
	state := opts.OpenClawStateDir
	if state == "" {
		// The process driver starts each runtime in a private directory
		// of its own; the gateway's state lives there.
		state = "openclaw"
	}
	if state, err = filepath.Abs(state); err != nil {
		return nil, fmt.Errorf("openclaw state dir: %w", err)
	}
	var extra []string
	for _, k := range gatewayEnv {
		if v, ok := os.LookupEnv(k); ok {
			extra = append(extra, k+"="+v)
		}
	}
	proxyKey, err := newSecret()
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("model proxy: listen on loopback: %w", err)
	}
	reg := prometheus.NewRegistry()
	turns := &modelproxy.Turns{}
	px, err := modelproxy.New(modelproxy.Options{
		API: api, Upstream: upstream, UpstreamKey: key, Key: proxyKey, Model: model,
		Meter:   &modelproxy.DBMeter{DB: pool, Plan: plan, Turns: turns, Now: opts.Now},
		Limiter: ratelimit.New(opts.RatePerSecond, opts.RateBurst, nil),
		Client:  modelClient(), Metrics: modelproxy.NewMetrics(reg), Log: log.With("component", "model-proxy"),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	gw, err := openclaw.New(openclaw.Options{
		Install: install, Bwrap: bwrap, NoSandbox: bwrap == "", StateDir: state,
		Model:    openclaw.Model{API: api, BaseURL: modelproxy.BaseURL(api, ln.Addr().String()), ID: model, HasKey: true},
		ModelKey: proxyKey, Env: extra,
		MinBackoff: opts.OpenClawBackoff, Log: log.With("engine", plans.EngineOpenClaw),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	e := &openclawEngine{gateway: gw, turns: turns, proxyLn: ln, metrics: reg, proxy: &http.Server{
		Handler:           px,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		// No write timeout: a model's stream lasts as long as it writes;
		// the gateway's own timeouts end a call.
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	ws := &openclaw.WorkspaceSync{
		Dir: gw.Workspace(),
		Read: func(ctx context.Context) ([]customerdb.File, error) {
			return customerdb.ReadWorkspace(ctx, pool)
		},
		StoreMemory: func(ctx context.Context, path, base string, haveBase bool, agent string) (string, error) {
			return customerdb.StoreMemoryFile(ctx, pool, path, base, haveBase, agent)
		},
	}
	// The gateway reads the customer's workspace from its first start,
	// instead of seeding its own.
	if err := ws.Sync(ctx); err != nil {
		ln.Close()
		return nil, err
	}
	e.provider = gw.Provider(ws)
	return e, nil
}

// newSecret is 32 random bytes, base64url.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("model proxy key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
