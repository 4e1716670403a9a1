package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon/internal/app"
)

// templateBusyTries bounds how often Create retries CREATE DATABASE while
// the template is in use (another replica migrating it at start). Postgres
// itself waits up to 5s for the template's sessions to end before failing.
const templateBusyTries = 4

// Create makes sure the customer has a LOGIN role, a database cloned from
// the template owned by that role and closed to everyone else, and the
// role's URL in the secret store. Every step finds what an earlier,
// interrupted attempt left: an existing role keeps its password when the
// stored URL still logs in, and gets a new one when the URL is missing or
// stale. Creates of one customer serialise on an advisory lock.
func (d *Driver) Create(ctx context.Context, customerID string) (app.Database, error) {
	if customerID == "" {
		return app.Database{}, fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	db := app.Database{Name: names.Database(customerID), Ref: names.DatabaseRef(customerID)}
	err := d.withLock(ctx, "customer:"+db.Name, func(c *pgxpool.Conn) error {
		return d.create(ctx, c, db)
	})
	if err != nil {
		return app.Database{}, classify(err)
	}
	return db, nil
}

func (d *Driver) create(ctx context.Context, c *pgxpool.Conn, db app.Database) error {
	name := db.Name // the role has the database's name
	var roleExists, dbExists bool
	err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
		EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&roleExists, &dbExists)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	if !roleExists && !dbExists {
		// A warm pool entry becomes the customer's, made as below when
		// it was filled: only its name and password change.
		if claimed, err := d.claim(ctx, c, db); claimed || err != nil {
			return err
		}
	}
	stored, err := d.secrets.Get(ctx, db.Ref)
	if err != nil && !errors.Is(err, secrets.ErrNotFound) {
		return err
	}
	password := storedPassword(stored, name)
	fresh := !roleExists || password == "" // the role gets a new password
	if fresh {
		password = newPassword()
		if err := setPassword(ctx, c, name, password, roleExists); err != nil {
			return err
		}
	}
	err = d.asMember(ctx, c, name, func() error {
		if !dbExists {
			if err := createDatabase(ctx, c, name); err != nil {
				return err
			}
		}
		if err := d.handOver(ctx, c, name); err != nil {
			return err
		}
		if err := d.limitRole(ctx, c, name); err != nil {
			return err
		}
		return closeDatabase(ctx, c, name)
	})
	if err != nil {
		return err
	}
	if !fresh {
		ok, err := d.canLogin(ctx, name, password)
		if err != nil {
			return err
		}
		if !ok {
			d.log.Warn("stored database URL no longer logs in; resetting the role's password", "database", name)
			password, fresh = newPassword(), true
			if err := setPassword(ctx, c, name, password, true); err != nil {
				return err
			}
		}
	}
	// Also rewritten when only the host or sslmode changed (CUSTOMER_DB_HOST).
	url := d.customerURL(name, name, password)
	if fresh || string(stored) != url {
		if err := d.secrets.Put(ctx, db.Ref, []byte(url)); err != nil {
			return err
		}
	}
	return nil
}

// closeDatabase lets only the role of the same name connect to database
// name.
func closeDatabase(ctx context.Context, c *pgxpool.Conn, name string) error {
	for _, q := range []string{
		"REVOKE CONNECT, TEMPORARY ON DATABASE " + ident(name) + " FROM PUBLIC",
		"GRANT CONNECT ON DATABASE " + ident(name) + " TO " + ident(name),
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("database %s privileges: %w", name, err)
		}
	}
	return nil
}

// setPassword creates the LOGIN role with password, or sets the password of
// the existing role. Only the SCRAM verifier reaches the server.
func setPassword(ctx context.Context, c *pgxpool.Conn, role, password string, exists bool) error {
	verifier, err := customerVerifier(password)
	if err != nil {
		return err
	}
	q := "CREATE ROLE " + ident(role) + " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD "
	if exists {
		q = "ALTER ROLE " + ident(role) + " WITH LOGIN PASSWORD "
	}
	if _, err := c.Exec(ctx, q+literal(verifier)); err != nil {
		return fmt.Errorf("set password of role %s: %w", role, err)
	}
	return nil
}

// limitRole applies the configured limits to the customer's role. They are
// set on every Create (and Restore), so a change of configuration reaches
// existing customers the next time their database is touched; sessions
// already open keep the settings they started with.
func (d *Driver) limitRole(ctx context.Context, c *pgxpool.Conn, role string) error {
	for _, q := range d.limitStatements(role) {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("limit role %s: %w", role, err)
		}
	}
	return nil
}

// limitStatements are the statements that apply the configured limits to
// role.
func (d *Driver) limitStatements(role string) []string {
	l := d.limits
	return []string{
		fmt.Sprintf("ALTER ROLE %s WITH CONNECTION LIMIT %d", ident(role), l.ConnectionLimit),
		fmt.Sprintf("ALTER ROLE %s SET statement_timeout = %d", ident(role), l.StatementTimeout.Milliseconds()),
		fmt.Sprintf("ALTER ROLE %s SET idle_in_transaction_session_timeout = %d", ident(role), l.IdleInTransactionTimeout.Milliseconds()),
	}
}

// createDatabase clones the template. Postgres refuses while anyone is
// connected to the template, which happens only while a replica migrates it
// at start, so that error is retried a few times.
func createDatabase(ctx context.Context, c *pgxpool.Conn, name string) error {
	q := "CREATE DATABASE " + ident(name) + " TEMPLATE " + ident(TemplateDatabase) + " OWNER " + ident(name)
	for try := 1; ; try++ {
		_, err := c.Exec(ctx, q)
		switch {
		case err == nil, sqlState(err) == "42P04": // duplicate_database: it is there
			return nil
		case sqlState(err) != "55006" || try == templateBusyTries: // 55006: object_in_use
			return fmt.Errorf("create database %s: %w", name, err)
		}
		t := time.NewTimer(time.Duration(try) * 250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("create database %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// handOver gives everything the clone inherited from the template owner to
// the customer's role. The caller holds the customer's lock on c.
//
// REASSIGN OWNED also reassigns the shared objects the old role owns. The
// template database belongs to another role (see TemplateOwner), so it
// changes only objects inside the clone and hand-overs of different
// customers run at the same time. A template still owned by TemplateOwner
// (a replica of an earlier build opened it) would move to the customer with
// the rest: then the same transaction gives it back, under the template
// lock, as earlier builds do; concurrent updates of its pg_database row
// would fail with "tuple concurrently updated".
func (d *Driver) handOver(ctx context.Context, c *pgxpool.Conn, name string) error {
	var inherited, shared bool
	err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_shdepend s
		JOIN pg_database db ON db.oid = s.dbid
		JOIN pg_roles r ON r.oid = s.refobjid
		WHERE db.datname = $1 AND r.rolname = $2 AND s.deptype = 'o'),
		EXISTS (SELECT 1 FROM pg_database db JOIN pg_roles r ON r.oid = db.datdba
		WHERE db.datname = $3 AND r.rolname = $2)`, name, TemplateOwner, TemplateDatabase).Scan(&inherited, &shared)
	if err != nil {
		return fmt.Errorf("inspect ownership in %s: %w", name, err)
	}
	if !inherited {
		return nil
	}
	if shared {
		unlock, err := lock(ctx, c, templateLock)
		if err != nil {
			return err
		}
		defer unlock()
	}
	conn, err := d.connect(ctx, name, "", "")
	if err != nil {
		return fmt.Errorf("connect to %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Schema public first: a non-superuser admin may give a table only
		// to a role that can create in the table's schema.
		if _, err := tx.Exec(ctx, "ALTER SCHEMA public OWNER TO "+ident(name)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "REASSIGN OWNED BY "+ident(TemplateOwner)+" TO "+ident(name)); err != nil {
			return err
		}
		var moved bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database db JOIN pg_roles r ON r.oid = db.datdba
			WHERE db.datname = $1 AND r.rolname = $2)`, TemplateDatabase, name).Scan(&moved)
		if err != nil || !moved {
			return err
		}
		_, err = tx.Exec(ctx, "ALTER DATABASE "+ident(TemplateDatabase)+" OWNER TO "+ident(TemplateOwner))
		return err
	})
	if err != nil {
		return fmt.Errorf("hand %s over to its role: %w", name, err)
	}
	return nil
}

// canLogin reports whether role logs in to its database with password. A
// refused login is an answer (false); anything else is an error.
func (d *Driver) canLogin(ctx context.Context, role, password string) (bool, error) {
	conn, err := d.connect(ctx, role, role, password)
	if err == nil {
		conn.Close(ctx) //nolint:errcheck
		return true, nil
	}
	switch sqlState(err) {
	case "28P01", "28000": // invalid_password, invalid_authorization_specification
		return false, nil
	}
	return false, fmt.Errorf("log in to %s: %w", role, err)
}
