// Package workspace is the workspace service: it renders each customer's
// OpenClaw workspace (the Markdown files the assistant reads, the skills its
// plan grants and the gateway config) and delivers it into the customer's
// own database, where their runtime reads it; it issues the customer's first
// API key (only its hash is stored; the plaintext waits, encrypted, for a
// one-time reveal); it deletes both when the saga compensates; on a plan
// change it re-renders the skills and openclaw.json without touching the
// customer's own files; on cancellation it revokes every key and the customer's Google grant.
//
// Settings (environment):
//
//	WORKSPACE_DB_CONNECT_TIMEOUT  how long to wait for a customer database (default 10s)
//	WORKSPACE_HANDOVER_TIMEOUT    how long a build waits for the signup's running instance
//	                              to write its workspace (default 10s); after that, or
//	                              any other failure, the service writes it itself
//	WORKSPACE_RETRY_BASE          first redelivery delay after a failure for now (default 200ms)
//	WORKSPACE_RETRY_MAX           longest redelivery delay (default 30s); after 12 deliveries
//	                              the build fails for good with workspace.failed
//	GOOGLE_OAUTH_BASE_URL         where a canceled customer's Google grant is revoked
//	                              (default https://oauth2.googleapis.com; a test server)
package workspace

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/workspace/internal/adapters/customerconn"
	"clawdbot.cloud/services/workspace/internal/adapters/ledger"
	"clawdbot.cloud/services/workspace/internal/app"
)

// Run runs the workspace service until ctx ends. It is a service.Service.
func Run(ctx context.Context, env *service.Env) error {
	connectTimeout := env.Config.Duration("WORKSPACE_DB_CONNECT_TIMEOUT", 10*time.Second)
	if connectTimeout <= 0 {
		env.Config.Problem("WORKSPACE_DB_CONNECT_TIMEOUT must be positive")
	}
	handOver := env.Config.Duration("WORKSPACE_HANDOVER_TIMEOUT", app.DefaultHandOverTimeout)
	if handOver <= 0 {
		env.Config.Problem("WORKSPACE_HANDOVER_TIMEOUT must be positive")
	}
	consumer := app.ConsumerConfig()
	consumer.RetryBase = env.Config.Duration("WORKSPACE_RETRY_BASE", 200*time.Millisecond)
	consumer.RetryMax = env.Config.Duration("WORKSPACE_RETRY_MAX", 30*time.Second)
	googleBase := env.Config.URL("GOOGLE_OAUTH_BASE_URL", "", "http", "https")
	if err := env.Config.Err(); err != nil {
		return err
	}
	led, err := ledger.Open(ctx, env.DB)
	if err != nil {
		return err
	}
	a, err := app.New(app.Options{
		Log:     env.Log,
		Bus:     env.Bus,
		Secrets: env.Secrets,
		Ledger:  led,
		Connect: app.PgxConnector(func(ctx context.Context, url string) (*pgx.Conn, error) {
			return customerconn.Connect(ctx, url, env.Name, connectTimeout)
		}),
		Now:     env.Now,
		Metrics: env.Metrics,

		GoogleOAuthBaseURL: googleBase,
		HandOverTimeout:    handOver,
		Tracer:             env.Tracer,
	})
	if err != nil {
		return err
	}
	return env.Bus.Run(ctx, consumer, a.Router())
}
