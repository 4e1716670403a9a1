// Package app holds the workspace service's use cases: building a customer's
// workspace into their own database together with their first API key
// (cmd.workspace.build), deleting it again (cmd.workspace.delete), and the
// lifecycle commands: re-rendering the plan's skills after a plan change
// (cmd.workspace.render_skills) and revoking every key (cmd.workspace.revoke_keys).
// A build is refused after its own saga's delete (the ledger is per saga);
// a later saga of the same customer builds again.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/workspace/internal/adapters/ledger"
)

// ConsumerName is the durable consumer the service's replicas share.
const ConsumerName = "workspace"

// MaxDeliver is how often a command is delivered before the service gives
// up. On the last delivery a retryable failure becomes workspace.failed, so
// the saga compensates instead of waiting for its own timeout.
const MaxDeliver = bus.DefaultMaxDeliver

// Secrets is the part of the secret store the service uses; *secrets.Store
// satisfies it.
type Secrets interface {
	Get(ctx context.Context, ref string) ([]byte, error)
	Put(ctx context.Context, ref string, plaintext []byte) error
	Delete(ctx context.Context, ref string) error
}

// Ledger remembers what was done per saga; *ledger.Ledger satisfies it.
type Ledger interface {
	Get(ctx context.Context, sagaID string) (ledger.Record, bool, error)
	MarkBuilt(ctx context.Context, rec ledger.Record) (bool, error)
	MarkDeleted(ctx context.Context, sagaID, customerID string) error
}

// CustomerDB is an open connection to one customer's database; *pgx.Conn
// satisfies it.
type CustomerDB interface {
	customerdb.TxBeginner
	Close(ctx context.Context) error
}

// Connector opens a connection to the customer database at url. It wraps
// customerconn.ErrGone when the database no longer exists.
type Connector func(ctx context.Context, url string) (CustomerDB, error)

// Options are the App's collaborators.
type Options struct {
	Log     *slog.Logger
	Bus     bus.Publisher
	Secrets Secrets
	Ledger  Ledger
	Connect Connector
	// Now is the clock; it dates the first daily memory note.
	Now func() time.Time
	// Metrics is where the service's metrics are registered.
	Metrics prometheus.Registerer
	// GoogleOAuthBaseURL is where a canceled customer's Google grant is
	// revoked (GOOGLE_OAUTH_BASE_URL; Google's own when empty).
	GoogleOAuthBaseURL string
	// HTTP calls Google (a 15-second timeout when nil).
	HTTP *http.Client
	// HandOverTimeout bounds handing a build's workspace to its instance
	// (DefaultHandOverTimeout when zero).
	HandOverTimeout time.Duration
	// Tracer records each hand-over as a client span (nil: the global
	// provider).
	Tracer trace.TracerProvider
}

// App handles the workspace commands; the bus.StepWorker answers them,
// reports failures and counts.
type App struct {
	log     *slog.Logger
	secrets Secrets
	ledger  Ledger
	connect Connector
	now     func() time.Time
	locks   keyedMutex
	worker  *bus.StepWorker
	google  string
	http    *http.Client
	// instances hands workspaces over to running instances.
	instances  *http.Client
	deliveries *prometheus.CounterVec
}

// New returns an App and registers its metrics.
func New(o Options) (*App, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	w, err := bus.NewStepWorker(bus.StepConfig{
		Name: ConsumerName, Bus: o.Bus, Log: o.Log, Metrics: o.Metrics, Failed: subjects.WorkspaceFailed,
	})
	if err != nil {
		return nil, err
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	if o.HandOverTimeout <= 0 {
		o.HandOverTimeout = DefaultHandOverTimeout
	}
	deliveries, err := newDeliveries(o.Metrics)
	if err != nil {
		return nil, err
	}
	a := &App{log: o.Log, secrets: o.Secrets, ledger: o.Ledger, connect: o.Connect, now: o.Now, worker: w,
		google: o.GoogleOAuthBaseURL, http: o.HTTP, instances: newInstanceClient(o.HandOverTimeout, o.Tracer), deliveries: deliveries}
	bus.HandleStep(w, subjects.CmdWorkspaceBuild, subjects.WorkspaceBuilt, a.build)
	// A delete that fails is dead-lettered for an operator to re-drive.
	bus.HandleStep(w, subjects.CmdWorkspaceDelete, subjects.WorkspaceDeleted, a.delete, bus.WithoutFailedEvent())
	bus.HandleStep(w, subjects.CmdWorkspaceSkills, subjects.SkillsRendered, a.renderSkills)
	bus.HandleStep(w, subjects.CmdWorkspaceRevoke, subjects.KeysRevoked, a.revokeKeys)
	return a, nil
}

// Router routes the workspace commands to their handlers.
func (a *App) Router() *bus.Router { return a.worker.Router() }

// ConsumerConfig is the consumer the handlers run under.
func ConsumerConfig() bus.ConsumerConfig {
	return bus.ConsumerConfig{Name: ConsumerName, Filter: subjects.CmdWorkspaceAll, MaxDeliver: MaxDeliver}
}

// PgxConnector adapts a function returning *pgx.Conn to a Connector.
func PgxConnector(connect func(ctx context.Context, url string) (*pgx.Conn, error)) Connector {
	return func(ctx context.Context, url string) (CustomerDB, error) {
		c, err := connect(ctx, url)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
