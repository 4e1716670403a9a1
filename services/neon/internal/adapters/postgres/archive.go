package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/adapters/archive"
	"clawdbot.cloud/services/neon/internal/adapters/pgdump"
	"clawdbot.cloud/services/neon/internal/app"
)

// Archives is archive storage for database dumps (*archive.Dir satisfies it).
type Archives interface {
	Put(ctx context.Context, ref string, r io.Reader) (archive.Info, error)
	Stat(ctx context.Context, ref string) (archive.Info, error)
	Open(ctx context.Context, ref string) (io.ReadCloser, archive.Info, error)
	Delete(ctx context.Context, ref string) error
}

// Archive dumps the customer's database (pg_dump, custom format, without
// owners and privileges) into archive storage, then drops the database, the
// role and the stored URL. The dump is committed only when pg_dump
// succeeded, so a failed attempt leaves the database and no archive; a
// repeated archive of a dropped database returns the stored archive.
func (d *Driver) Archive(ctx context.Context, customerID string) (app.Archive, error) {
	if customerID == "" {
		return app.Archive{}, fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	if d.archives == nil || d.binDir == "" {
		return app.Archive{}, fmt.Errorf("%w: no archive storage or pg_dump configured", app.ErrRejected)
	}
	name, ref := names.Database(customerID), names.ArchiveRef(customerID)
	var out archive.Info
	err := d.withLock(ctx, "customer:"+name, func(c *pgxpool.Conn) error {
		exists, err := databaseExists(ctx, c, name)
		if err != nil {
			return err
		}
		if !exists {
			out, err = d.archives.Stat(ctx, ref)
			if errors.Is(err, archive.ErrNotFound) {
				return fmt.Errorf("%w: customer %s has neither a database nor an archive", app.ErrRejected, customerID)
			}
			if err != nil {
				return err
			}
			return d.drop(ctx, c, customerID) // what an interrupted attempt left
		}
		// pg_dump reads the role's tables as the admin, which needs the
		// role's membership (its CONNECT and its tables' privileges).
		err = d.asMember(ctx, c, name, func() error {
			out, err = d.dump(ctx, name, ref)
			return err
		})
		if err != nil {
			return err
		}
		d.log.Info("database archived", "database", name, "archive_ref", ref, "bytes", out.Bytes, "sha256", out.SHA256)
		return d.drop(ctx, c, customerID)
	})
	if err != nil {
		return app.Archive{}, classify(err)
	}
	return app.Archive{Ref: out.Ref, Bytes: out.Bytes}, nil
}

// Restore recreates the customer's role and database from the archive ref:
// pg_restore into a scratch database owned by the role, renamed to the
// customer's database only once complete, so the customer's database exists
// only whole. Then, as Create does, the role gets a new password and its URL
// is stored. A database that exists already is only checked like Create.
func (d *Driver) Restore(ctx context.Context, customerID, ref string) (app.Database, error) {
	if customerID == "" {
		return app.Database{}, fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	if d.archives == nil || d.binDir == "" {
		return app.Database{}, fmt.Errorf("%w: no archive storage or pg_restore configured", app.ErrRejected)
	}
	db := app.Database{Name: names.Database(customerID), Ref: names.DatabaseRef(customerID)}
	err := d.withLock(ctx, "customer:"+db.Name, func(c *pgxpool.Conn) error {
		exists, err := databaseExists(ctx, c, db.Name)
		if err != nil {
			return err
		}
		if !exists {
			if err := d.restore(ctx, c, db.Name, ref); err != nil {
				return err
			}
		}
		return d.create(ctx, c, db)
	})
	if err != nil {
		return app.Database{}, classify(err)
	}
	return db, nil
}

// restore loads archive ref into a new database name owned by role name.
func (d *Driver) restore(ctx context.Context, c *pgxpool.Conn, name, ref string) error {
	rc, info, err := d.archives.Open(ctx, ref)
	if errors.Is(err, archive.ErrNotFound) || errors.Is(err, archive.ErrCorrupt) {
		return fmt.Errorf("%w: %w", app.ErrRejected, err)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	var roleExists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&roleExists); err != nil {
		return err
	}
	// pg_restore logs in with this password; Create then sets the one the
	// runtime will use, so this one is never stored.
	password := newPassword()
	if err := setPassword(ctx, c, name, password, roleExists); err != nil {
		return err
	}
	// The admin needs the role's membership to make a database it owns and
	// to rename that database; create takes it again after.
	err = d.asMember(ctx, c, name, func() error {
		scratch := "claw_restore_" + name[len("claw_"):]
		for _, q := range []string{
			"DROP DATABASE IF EXISTS " + ident(scratch) + " WITH (FORCE)",
			"CREATE DATABASE " + ident(scratch) + " TEMPLATE template0 OWNER " + ident(name),
			"REVOKE CONNECT, TEMPORARY ON DATABASE " + ident(scratch) + " FROM PUBLIC",
		} {
			if _, err := c.Exec(ctx, q); err != nil {
				return fmt.Errorf("prepare restore of %s: %w", name, err)
			}
		}
		// pg_restore logs in as the customer's role, not the admin: an archive
		// is the customer's data, and whatever SQL it holds runs with no more
		// than the customer's rights (SET ROLE would not be enough: the archive
		// could RESET ROLE back to the admin). Everything restored belongs to
		// the role because the role created it.
		cmd := d.pgCommandAs(ctx, "pg_restore", scratch, name, password, "--no-owner", "--no-privileges",
			"--exit-on-error", "--single-transaction", "--dbname="+scratch)
		cmd.Stdin = rc
		if err := pgdump.Run(cmd); err != nil {
			return fmt.Errorf("pg_restore %s into %s: %w", ref, name, err)
		}
		if _, err := c.Exec(ctx, "ALTER DATABASE "+ident(scratch)+" RENAME TO "+ident(name)); err != nil {
			return fmt.Errorf("restore %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.log.Info("database restored", "database", name, "archive_ref", ref, "bytes", info.Bytes)
	return nil
}

// DeleteArchive removes the archive ref for good; a missing one is fine.
func (d *Driver) DeleteArchive(ctx context.Context, customerID, ref string) error {
	if d.archives == nil {
		return fmt.Errorf("%w: no archive storage configured", app.ErrRejected)
	}
	if err := d.archives.Delete(ctx, ref); err != nil {
		return err
	}
	d.log.Info("archive deleted", "customer_id", customerID, "archive_ref", ref)
	return nil
}

// dump streams pg_dump of database name into archive storage as ref.
func (d *Driver) dump(ctx context.Context, name, ref string) (archive.Info, error) {
	cmd := d.pgCommand(ctx, "pg_dump", name, "--format=custom", "--no-owner", "--no-privileges")
	info, err := pgdump.Stream(cmd, func(r io.Reader) (archive.Info, error) { return d.archives.Put(ctx, ref, r) })
	if err != nil {
		return archive.Info{}, fmt.Errorf("%s: %w", name, err)
	}
	return info, nil
}

// pgCommand prepares a PostgreSQL client program connecting as the admin
// to database. Credentials go in the PG* environment of the child (readable
// only by its owner and root), never on its command line (world-readable).
func (d *Driver) pgCommand(ctx context.Context, prog, database string, args ...string) *exec.Cmd {
	return d.pgCommandAs(ctx, prog, database, d.connCfg.User, d.connCfg.Password, args...)
}

// pgCommandAs is pgCommand logging in as user with password.
func (d *Driver) pgCommandAs(ctx context.Context, prog, database, user, password string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(d.binDir, prog), args...)
	cfg := d.connCfg
	env := []string{
		"PGHOST=" + cfg.Host,
		"PGPORT=" + strconv.Itoa(int(cfg.Port)),
		"PGUSER=" + user,
		"PGDATABASE=" + database,
		"PGAPPNAME=claw-neon-" + prog,
		"PGCONNECT_TIMEOUT=10",
		"PGPASSFILE=/dev/null",
	}
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	if d.sslmode != "" {
		env = append(env, "PGSSLMODE="+d.sslmode)
	}
	cmd.Env = env
	return cmd
}

// databaseExists reports whether database name exists.
func databaseExists(ctx context.Context, c *pgxpool.Conn, name string) (bool, error) {
	var ok bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("inspect %s: %w", name, err)
	}
	return ok, nil
}
