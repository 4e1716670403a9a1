package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/app"
)

// Delete ends the sessions of the customer's database and role, drops both
// and deletes the stored URL. What is already gone is skipped, so a repeated
// delete succeeds.
func (d *Driver) Delete(ctx context.Context, customerID string) error {
	if customerID == "" {
		return fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	name := names.Database(customerID)
	err := d.withLock(ctx, "customer:"+name, func(c *pgxpool.Conn) error {
		return d.drop(ctx, c, customerID)
	})
	return classify(err)
}

// drop removes the customer's database, role and stored URL; the caller
// holds the customer's lock on c.
func (d *Driver) drop(ctx context.Context, c *pgxpool.Conn, customerID string) error {
	if err := d.dropName(ctx, c, names.Database(customerID)); err != nil {
		return err
	}
	return d.secrets.Delete(ctx, names.DatabaseRef(customerID))
}

// dropName ends the sessions of the database and the role called name and
// drops both; the caller holds name's lock on c (or the pool's, for pool
// entries).
func (d *Driver) dropName(ctx context.Context, c *pgxpool.Conn, name string) error {
	const terminate = `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE (datname = $1 OR usename = $1) AND pid <> pg_backend_pid()`
	var roleExists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&roleExists); err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	// Ending the role's sessions and dropping its database need its
	// membership; dropping the role ends that too.
	if roleExists {
		if err := d.member(ctx, c, name); err != nil {
			return err
		}
	}
	if _, err := c.Exec(ctx, terminate, name); err != nil {
		return fmt.Errorf("end sessions of %s: %w", name, err)
	}
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	// A session of the role elsewhere may have started meanwhile.
	if _, err := c.Exec(ctx, terminate, name); err != nil {
		return fmt.Errorf("end sessions of %s: %w", name, err)
	}
	if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name)); err != nil {
		return fmt.Errorf("drop role %s: %w", name, err)
	}
	return nil
}

// sqlState returns the SQLSTATE of a Postgres error in err's chain, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// classify marks as rejected the Postgres errors that repeating the request
// cannot fix: class 42, syntax errors and access-rule violations such as an
// admin role without the privileges the driver needs.
func classify(err error) error {
	if err != nil && strings.HasPrefix(sqlState(err), "42") {
		return fmt.Errorf("%w: %w", app.ErrRejected, err)
	}
	return err
}
