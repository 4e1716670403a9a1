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
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

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
const MaxDeliver = 8

// Publisher publishes results on the bus; *bus.Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, subject string, msg proto.Message, env bus.Envelope) (bool, error)
}

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
	Bus     Publisher
	Secrets Secrets
	Ledger  Ledger
	Connect Connector
	// Now is the clock; it dates the first daily memory note.
	Now func() time.Time
	// Metrics is where the service's metrics are registered.
	Metrics prometheus.Registerer
}

// App handles the workspace commands.
type App struct {
	log     *slog.Logger
	bus     Publisher
	secrets Secrets
	ledger  Ledger
	connect Connector
	now     func() time.Time
	m       *metrics
	locks   keyedMutex
}

// New returns an App and registers its metrics.
func New(o Options) (*App, error) {
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &App{log: o.Log, bus: o.Bus, secrets: o.Secrets, ledger: o.Ledger, connect: o.Connect, now: o.Now, m: m}, nil
}

// Register adds the App's handlers to r.
func (a *App) Register(r *bus.Router) {
	bus.Handle(r, subjects.CmdWorkspaceBuild, a.Build)
	bus.Handle(r, subjects.CmdWorkspaceDelete, a.Delete)
	bus.Handle(r, subjects.CmdWorkspaceSkills, a.RenderSkills)
	bus.Handle(r, subjects.CmdWorkspaceRevoke, a.RevokeKeys)
}

// ConsumerConfig is the consumer the handlers run under.
func ConsumerConfig() bus.ConsumerConfig {
	return bus.ConsumerConfig{Name: ConsumerName, MaxDeliver: MaxDeliver}
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

// envelope identifies a result deterministically: the same command attempt
// always yields the same message id.
func envelope(subject string, step interface {
	GetSagaId() string
	GetCustomerId() string
	GetAttempt() int32
}) bus.Envelope {
	return bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%d", subject, step.GetSagaId(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	}
}

// lastDelivery reports whether the message being handled will not be
// delivered again if this attempt fails.
func lastDelivery(ctx context.Context) bool {
	d, ok := bus.DeliveryFrom(ctx)
	return ok && d.Attempt >= MaxDeliver
}
