// Package app holds the database service's use cases: the handlers of
// cmd.database.create and cmd.database.delete, written against the Driver
// port so that the embedded postgres driver and the Neon driver are
// interchangeable.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/proto/subjects"
)

// ConsumerName is the durable consumer the service's replicas share.
const ConsumerName = "neon"

// Driver provisions customer databases. Both operations are idempotent and
// derive every name from the customer id, so a retried or replayed command
// finds what an earlier attempt made instead of making a second one.
type Driver interface {
	// Create makes sure the customer has a database with the customer schema,
	// a role that owns it and nothing else, and the role's connection URL
	// stored in the secret store under Database.Ref.
	Create(ctx context.Context, customerID string) (Database, error)
	// Delete removes the customer's database, role and stored URL. Deleting
	// what does not exist succeeds.
	Delete(ctx context.Context, customerID string) error
}

// Database describes a customer's database without its credentials.
type Database struct {
	// Name is the database's name on its server.
	Name string
	// Ref names the connection URL in the secret store.
	Ref string
}

// ErrRejected marks a driver failure that repeating the same request cannot
// fix (the provider refused it). Drivers wrap it; the handlers turn it into a
// database.failed event and a dead letter instead of retrying.
var ErrRejected = errors.New("rejected")

// App is the database service's message handling.
type App struct {
	driver   Driver
	bus      *bus.Bus
	log      *slog.Logger
	metrics  *metrics
	journal  journal
	consumer bus.ConsumerConfig
}

// New builds the service around driver. Run and the tests use it; a test
// passes a driver decorator to inject faults.
func New(driver Driver, env *service.Env) (*App, error) {
	if driver == nil {
		return nil, errors.New("app: nil driver")
	}
	m, err := newMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	return &App{
		driver:   driver,
		bus:      env.Bus,
		log:      env.Log,
		metrics:  m,
		journal:  journal{db: env.DB},
		consumer: bus.ConsumerConfig{Name: ConsumerName, MaxDeliver: maxDeliver},
	}, nil
}

// Run prepares the service's schema, then handles database commands until
// ctx ends, lets in-flight handlers finish and returns.
func (a *App) Run(ctx context.Context) error {
	if err := a.journal.migrate(ctx); err != nil {
		return err
	}
	r := bus.NewRouter()
	bus.Handle(r, subjects.CmdDatabaseCreate, a.create)
	bus.Handle(r, subjects.CmdDatabaseDelete, a.delete)
	if err := a.bus.Run(ctx, a.consumer, r); err != nil {
		return fmt.Errorf("consume database commands: %w", err)
	}
	return nil
}
