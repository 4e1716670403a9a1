// Package app holds the database service's use cases: the handlers of
// cmd.database.create and cmd.database.delete, written against the Driver
// port so that the embedded postgres driver and the Neon driver are
// interchangeable.
package app

import (
	"context"
	"errors"
	"fmt"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/bus/pgjournal"
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
	// Archive dumps the customer's database into archive storage under
	// names.ArchiveRef, then removes the live database, role and stored
	// URL. Archiving again after that returns the archive as it is.
	// Neither database nor archive: an error wrapping ErrRejected.
	Archive(ctx context.Context, customerID string) (Archive, error)
	// Restore recreates the customer's database and role from the archive
	// ref with a new password, stored like Create stores it. A database
	// that is already restored is returned as is; the archive is kept
	// (DeleteArchive removes it).
	Restore(ctx context.Context, customerID, ref string) (Database, error)
	// DeleteArchive removes the archive ref for good. Deleting a missing
	// archive succeeds.
	DeleteArchive(ctx context.Context, customerID, ref string) error
}

// Archive describes a customer's database archive.
type Archive struct {
	// Ref names it in archive storage (names.ArchiveRef).
	Ref string
	// Bytes is its size.
	Bytes int64
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

// App is the database service's message handling: only the driver calls;
// the bus.StepWorker answers, journals, reports failures and counts.
type App struct {
	driver   Driver
	bus      *bus.Bus
	journal  *pgjournal.Journal
	worker   *bus.StepWorker
	consumer bus.ConsumerConfig
}

// New builds the service around driver. Run and the tests use it; a test
// passes a driver decorator to inject faults.
func New(driver Driver, env *service.Env) (*App, error) {
	if driver == nil {
		return nil, errors.New("app: nil driver")
	}
	// The journal makes a replayed command change nothing: a create
	// replayed after its saga's delete never resurrects the database.
	j := pgjournal.New(env.DB, schema)
	w, err := bus.NewStepWorker(bus.StepConfig{
		Name: ConsumerName, Bus: env.Bus, Log: env.Log, Metrics: env.Metrics,
		Failed: subjects.DatabaseFailed, Journal: j,
		Permanent: func(err error) bool { return errors.Is(err, ErrRejected) },
	})
	if err != nil {
		return nil, err
	}
	a := &App{driver: driver, bus: env.Bus, journal: j, worker: w,
		consumer: bus.ConsumerConfig{Name: ConsumerName, Filter: subjects.CmdDatabaseAll, MaxDeliver: 8}}
	// A failed create is journaled: the saga compensates on database.failed
	// and a replay must not create a database nobody will delete. Deletes
	// report no failure: re-driving the dead letter is how an operator
	// finishes one.
	bus.HandleStep(w, subjects.CmdDatabaseCreate, subjects.DatabaseCreated, a.create, bus.JournalFailure())
	bus.HandleStep(w, subjects.CmdDatabaseDelete, subjects.DatabaseDeleted, a.delete, bus.WithoutFailedEvent())
	bus.HandleStep(w, subjects.CmdDatabaseArchive, subjects.DatabaseArchived, a.archive)
	bus.HandleStep(w, subjects.CmdDatabaseRestore, subjects.DatabaseRestored, a.restore)
	bus.HandleStep(w, subjects.CmdDatabaseDropArchive, subjects.ArchiveDeleted, a.deleteArchive)
	return a, nil
}

// SetConcurrency sets how many commands the service handles at once (the
// bus's default is 8). Call it before Run.
func (a *App) SetConcurrency(n int) { a.consumer.Workers = n }

// schema is the service's own schema in the control-plane database.
const schema = "neon"

// Run prepares the service's schema, then handles database commands until
// ctx ends, lets in-flight handlers finish and returns.
func (a *App) Run(ctx context.Context) error {
	if err := a.journal.Migrate(ctx); err != nil {
		return err
	}
	if err := a.bus.Run(ctx, a.consumer, a.worker.Router()); err != nil {
		return fmt.Errorf("consume database commands: %w", err)
	}
	return nil
}
