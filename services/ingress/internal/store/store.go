// Package store is the ingress service's Postgres read model in schema
// "ingress": signups by Checkout Session, the progress the projector
// follows, and the Stripe events already processed or refused.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
)

// Schema is the Postgres schema the service owns.
const Schema = "ingress"

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned for a checkout session the read model does not know.
var ErrNotFound = errors.New("not found")

// Statuses of a signup.
const (
	StatusProvisioning = "provisioning"
	StatusReady        = "ready"
	StatusFailed       = "failed"
)

// Step statuses.
const (
	StepStarted = "started"
	StepDone    = "done"
	StepFailed  = "failed"
)

// Store reads and writes the read model. It is safe for concurrent use.
type Store struct {
	db *pgxpool.Pool
}

// Open migrates schema "ingress" and returns a Store on db.
func Open(ctx context.Context, db *pgxpool.Pool) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Apply(ctx, db, Schema, sub); err != nil {
		return nil, fmt.Errorf("ingress store: %w", err)
	}
	return &Store{db: db}, nil
}
