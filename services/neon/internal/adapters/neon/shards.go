package neon

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// shard is a project customers' branches are spread across
// (PlaceSharded).
type shard struct {
	// Seq orders shards: customers fill the lowest with room first. The
	// configured project is shard 0.
	Seq int
	// Project and Parent are the project's id and the branch customers'
	// branches start from.
	Project, Parent string
	// Capacity is how many customers the shard takes.
	Capacity int
}

// shardStore is the record of shards and placements in the control-plane
// database (the service's own schema).
type shardStore struct {
	db                 *pgxpool.Pool
	schema             string
	shards, placements string // qualified table names
}

func newShardStore(db *pgxpool.Pool, schema string) *shardStore {
	return &shardStore{db: db, schema: schema,
		shards:     pgx.Identifier{schema, "neon_shards"}.Sanitize(),
		placements: pgx.Identifier{schema, "neon_placements"}.Sanitize()}
}

// migrate creates the tables if they are missing.
func (s *shardStore) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	return migrate.Apply(ctx, s.db, s.schema, sub)
}

// register records sh unless its sequence number is taken (a recorded
// shard keeps its capacity).
func (s *shardStore) register(ctx context.Context, sh shard) error {
	_, err := s.db.Exec(ctx, `INSERT INTO `+s.shards+` (seq, project_id, parent_branch_id, capacity)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, sh.Seq, sh.Project, sh.Parent, max(sh.Capacity, 0))
	if err != nil {
		return fmt.Errorf("record shard %s: %w", sh.Project, err)
	}
	return nil
}

// lookup returns the recorded place of the customer database name.
func (s *shardStore) lookup(ctx context.Context, name string) (place, bool, error) {
	return lookupIn(ctx, s.db, s, name)
}

func lookupIn(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, s *shardStore, name string) (place, bool, error) {
	var p place
	err := q.QueryRow(ctx, `SELECT s.project_id, s.parent_branch_id FROM `+s.placements+` p
		JOIN `+s.shards+` s USING (project_id) WHERE p.database = $1`, name).Scan(&p.Project, &p.Parent)
	if errors.Is(err, pgx.ErrNoRows) {
		return place{}, false, nil
	}
	if err != nil {
		return place{}, false, fmt.Errorf("read placement of %s: %w", name, err)
	}
	return p, true, nil
}

// place records the customer database name in the lowest shard with
// room, making a shard (newShard) when all are full. Replicas place one
// customer at a time (a transaction-scoped advisory lock), so no shard
// takes more than its capacity.
func (s *shardStore) place(ctx context.Context, name string, newShard func(context.Context, int) (shard, error)) (place, error) {
	var p place
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("neon placement "+s.schema)); err != nil {
			return err
		}
		var ok bool
		var err error
		if p, ok, err = lookupIn(ctx, tx, s, name); err != nil || ok {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT s.project_id, s.parent_branch_id FROM `+s.shards+` s
			WHERE s.capacity > (SELECT count(*) FROM `+s.placements+` p WHERE p.project_id = s.project_id)
			ORDER BY s.seq LIMIT 1`).Scan(&p.Project, &p.Parent)
		if errors.Is(err, pgx.ErrNoRows) {
			var seq int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM `+s.shards).Scan(&seq); err != nil {
				return err
			}
			sh, err := newShard(ctx, seq)
			if err != nil {
				return err
			}
			if sh.Capacity < 1 {
				return fmt.Errorf("new shard %s has no room for a customer (branches per project too low)", sh.Project)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+s.shards+` (seq, project_id, parent_branch_id, capacity)
				VALUES ($1, $2, $3, $4)`, sh.Seq, sh.Project, sh.Parent, sh.Capacity); err != nil {
				return err
			}
			p = place{Project: sh.Project, Parent: sh.Parent}
		} else if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+s.placements+` (database, project_id) VALUES ($1, $2)`, name, p.Project)
		return err
	})
	if err != nil {
		return place{}, fmt.Errorf("place %s: %w", name, err)
	}
	return p, nil
}

// forget removes the customer's placement.
func (s *shardStore) forget(ctx context.Context, name string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM `+s.placements+` WHERE database = $1`, name); err != nil {
		return fmt.Errorf("forget placement of %s: %w", name, err)
	}
	return nil
}

// full marks project as holding no more customers than it has now (Neon
// refused a branch in it: someone else made branches there).
func (s *shardStore) full(ctx context.Context, project string) error {
	_, err := s.db.Exec(ctx, `UPDATE `+s.shards+` SET capacity =
		(SELECT count(*) FROM `+s.placements+` WHERE project_id = $1) - 1 WHERE project_id = $1`, project)
	return err
}
