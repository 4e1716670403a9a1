package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/config"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/openclaw"
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

// newGateway prepares the OpenClaw gateway of an instance on the openclaw
// engine, and returns it with the llm.Provider that forwards chat to it.
// It returns nil, nil when no model provider is configured (chat answers 503
// as on the runtime engine).
func newGateway(ctx context.Context, cfg config.Config, model string, pool *pgxpool.Pool, opts Options, log *slog.Logger) (*openclaw.Gateway, llm.Provider, error) {
	env := cfg.Env
	var m openclaw.Model
	var key string
	switch {
	case cfg.Provider != config.ProviderOpenAI && env.AnthropicAPIKey != "":
		m = openclaw.Model{API: openclaw.APIAnthropic, BaseURL: env.AnthropicBaseURL, ID: model, HasKey: true}
		if m.BaseURL == "" {
			m.BaseURL = defaultAnthropicURL
		}
		key = env.AnthropicAPIKey
	case cfg.Provider != config.ProviderAnthropic && env.OpenAIBaseURL != "":
		m = openclaw.Model{API: openclaw.APIOpenAI, BaseURL: env.OpenAIBaseURL, ID: model, HasKey: env.OpenAIAPIKey != ""}
		key = env.OpenAIAPIKey
	default:
		return nil, nil, nil
	}
	install, err := openclaw.FindInstall(env.OpenClawDir)
	if err != nil {
		return nil, nil, err
	}
	var bwrap string
	switch s := env.OpenClawSandbox; s {
	case "off":
		log.Warn("the OpenClaw gateway runs WITHOUT a sandbox (OPENCLAW_SANDBOX=off): development only")
	case "", "bwrap":
		if bwrap, err = exec.LookPath("bwrap"); err != nil {
			return nil, nil, fmt.Errorf("openclaw engine: bubblewrap not found (apt-get install bubblewrap): %w", err)
		}
	default:
		if bwrap, err = exec.LookPath(s); err != nil {
			return nil, nil, fmt.Errorf("openclaw engine: OPENCLAW_SANDBOX %q: %w", s, err)
		}
	}
	state := opts.OpenClawStateDir
	if state == "" {
		// The process driver starts each runtime in a private directory
		// of its own; the gateway's state lives there.
		state = "openclaw"
	}
	if state, err = filepath.Abs(state); err != nil {
		return nil, nil, fmt.Errorf("openclaw state dir: %w", err)
	}
	var extra []string
	for _, k := range gatewayEnv {
		if v, ok := os.LookupEnv(k); ok {
			extra = append(extra, k+"="+v)
		}
	}
	gw, err := openclaw.New(openclaw.Options{
		Install: install, Bwrap: bwrap, NoSandbox: bwrap == "", StateDir: state,
		Model: m, ModelKey: key, Env: extra,
		MinBackoff: opts.OpenClawBackoff, Log: log.With("engine", plans.EngineOpenClaw),
	})
	if err != nil {
		return nil, nil, err
	}
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
		return nil, nil, err
	}
	return gw, gw.Provider(ws), nil
}
