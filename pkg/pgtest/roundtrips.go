package pgtest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RoundTrips counts what a pool's connections send and then wait for: a
// statement sent alone (Exec, Query, a transaction's begin or commit) or a
// batch, whatever it holds. It is the pgx tracer NewCountedPool installs.
type RoundTrips struct{ n atomic.Int64 }

// Load returns the count.
func (r *RoundTrips) Load() int64 { return r.n.Load() }

// Reset sets the count to zero.
func (r *RoundTrips) Reset() { r.n.Store(0) }

// TraceQueryStart counts a statement sent alone.
func (r *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (r *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch.
func (r *RoundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (r *RoundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (r *RoundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// NewCountedPool is NewPool with at most maxConns connections (0: pgxpool's
// default) whose round trips the returned RoundTrips counts.
func NewCountedPool(t testing.TB, maxConns int32) (*pgxpool.Pool, *RoundTrips) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(NewDatabase(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	count := &RoundTrips{}
	cfg.ConnConfig.Tracer = count
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	return newPoolWith(t, cfg), count
}
