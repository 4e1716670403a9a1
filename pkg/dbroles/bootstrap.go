package dbroles

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// bootstrapLock serialises bootstraps of one database ("clawrole" in ASCII).
const bootstrapLock int64 = 0x636c6177726f6c65

// DB is what Bootstrap needs: *pgx.Conn, *pgxpool.Pool and pgx.Tx satisfy it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Bootstrap makes the control-plane database least-privilege, idempotently,
// in one transaction: it closes the database and schema public to PUBLIC,
// creates (or updates) every service's role with its derived password and
// CONNECT, gives each role its schemas (created if missing; schemas and
// tables an earlier build created as the admin are handed over), and
// creates the secret store's table with row-level security: a policy per
// role, command and reference prefix of Services. db must be connected to
// the control-plane database as a superuser or a role with CREATEROLE that
// owns the database.
func (set Set) Bootstrap(ctx context.Context, db DB) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, bootstrapLock); err != nil {
			return fmt.Errorf("bootstrap: lock: %w", err)
		}
		var database string
		var super bool
		if err := tx.QueryRow(ctx, `SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&database, &super); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if err := exec(ctx, tx,
			"REVOKE ALL ON DATABASE "+ident(database)+" FROM PUBLIC",
			"REVOKE ALL ON SCHEMA public FROM PUBLIC",
		); err != nil {
			return err
		}
		for _, s := range Services {
			role := set.Role(s.Name)
			if err := ensureLoginRole(ctx, tx, role, "NOCREATEDB NOCREATEROLE", set.Secret, super); err != nil {
				return err
			}
			if err := exec(ctx, tx, "GRANT CONNECT ON DATABASE "+ident(database)+" TO "+ident(role)); err != nil {
				return err
			}
			for _, schema := range s.Schemas {
				if err := ownSchema(ctx, tx, schema, role); err != nil {
					return err
				}
			}
		}
		return set.secretStore(ctx, tx)
	})
}

// ensureLoginRole creates role, or brings an existing one back to a
// LOGIN role with exactly the attributes attrs adds, with the password
// derived from secret. A non-superuser admin makes itself a member, as
// ALTER ... OWNER TO the role requires.
func ensureLoginRole(ctx context.Context, tx pgx.Tx, role, attrs string, secret []byte, super bool) error {
	pw, err := Password(secret, role)
	if err != nil {
		return err
	}
	verifier, err := SCRAMVerifier(pw)
	if err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("bootstrap: role %s: %w", role, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	q := verb + " ROLE " + ident(role) + " WITH LOGIN NOSUPERUSER " + attrs + " NOREPLICATION NOBYPASSRLS PASSWORD " + literal(verifier)
	if err := exec(ctx, tx, q); err != nil {
		return err
	}
	if !super {
		return exec(ctx, tx, "GRANT "+ident(role)+" TO CURRENT_USER")
	}
	return nil
}

// ownSchema creates schema for role, or hands an existing one and
// everything in it to role.
func ownSchema(ctx context.Context, tx pgx.Tx, schema, role string) error {
	if err := exec(ctx, tx,
		"CREATE SCHEMA IF NOT EXISTS "+ident(schema)+" AUTHORIZATION "+ident(role),
		"ALTER SCHEMA "+ident(schema)+" OWNER TO "+ident(role),
		"REVOKE ALL ON SCHEMA "+ident(schema)+" FROM PUBLIC",
	); err != nil {
		return err
	}
	// Tables first (their owned sequences and indexes follow), then any
	// sequence still owned by someone else.
	for _, kinds := range []string{"'r','p','v','m','f'", "'S'"} {
		rows, err := tx.Query(ctx, `SELECT format('ALTER TABLE %I.%I OWNER TO %I', n.nspname, c.relname, $2::text)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind IN (`+kinds+`)
			AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $2)`, schema, role)
		if err != nil {
			return fmt.Errorf("bootstrap: schema %s: %w", schema, err)
		}
		stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("bootstrap: schema %s: %w", schema, err)
		}
		if err := exec(ctx, tx, stmts...); err != nil {
			return err
		}
	}
	return nil
}

// secretStore creates secrets.secrets (as pkg/secrets does) and replaces
// its policies with those of Services. Every service role may SELECT (so
// secrets.Open's check passes) but sees only the rows a policy gives it.
func (set Set) secretStore(ctx context.Context, tx pgx.Tx) error {
	if err := exec(ctx, tx,
		`CREATE SCHEMA IF NOT EXISTS secrets`,
		`CREATE TABLE IF NOT EXISTS secrets.secrets (
			ref        text PRIMARY KEY,
			ciphertext bytea NOT NULL,
			created_at timestamptz NOT NULL DEFAULT now()
		)`,
		`ALTER TABLE secrets.secrets ADD COLUMN IF NOT EXISTS taken_at timestamptz`,
		`CREATE INDEX IF NOT EXISTS secrets_taken_at ON secrets.secrets (taken_at) WHERE taken_at IS NOT NULL`,
		`REVOKE ALL ON SCHEMA secrets FROM PUBLIC`,
		`REVOKE ALL ON secrets.secrets FROM PUBLIC`,
		`ALTER TABLE secrets.secrets ENABLE ROW LEVEL SECURITY`,
	); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT format('DROP POLICY %I ON secrets.secrets', policyname)
		FROM pg_policies WHERE schemaname = 'secrets' AND tablename = 'secrets'`)
	if err != nil {
		return fmt.Errorf("bootstrap: secret policies: %w", err)
	}
	drops, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("bootstrap: secret policies: %w", err)
	}
	if err := exec(ctx, tx, drops...); err != nil {
		return err
	}
	for _, s := range Services {
		role := ident(set.Role(s.Name))
		grants := map[string]bool{"SELECT": true}
		var stmts []string
		for i, a := range s.Secrets {
			for _, cmd := range a.Commands {
				grants[cmd] = true
				name := ident(fmt.Sprintf("%s_%d_%s", set.Role(s.Name), i, strings.ToLower(cmd)))
				cond := "(starts_with(ref, " + literal(a.Prefix) + "))"
				q := "CREATE POLICY " + name + " ON secrets.secrets FOR " + cmd + " TO " + role
				switch cmd {
				case "INSERT":
					q += " WITH CHECK " + cond
				case "UPDATE":
					q += " USING " + cond + " WITH CHECK " + cond
				default:
					q += " USING " + cond
				}
				stmts = append(stmts, q)
			}
		}
		var cmds []string
		for _, c := range []string{"SELECT", "INSERT", "UPDATE", "DELETE"} {
			if grants[c] {
				cmds = append(cmds, c)
			}
		}
		stmts = append([]string{
			"REVOKE ALL ON secrets.secrets FROM " + role,
			"GRANT USAGE ON SCHEMA secrets TO " + role,
			"GRANT " + strings.Join(cmds, ", ") + " ON secrets.secrets TO " + role,
		}, stmts...)
		if err := exec(ctx, tx, stmts...); err != nil {
			return err
		}
	}
	return nil
}

// exec runs each statement in order.
func exec(ctx context.Context, tx pgx.Tx, stmts ...string) error {
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			// The statement names roles and schemas, never a password
			// (roles get SCRAM verifiers, and those only on CREATE/ALTER
			// ROLE, which is reported without the statement).
			if strings.Contains(q, "PASSWORD") {
				return fmt.Errorf("bootstrap: set role password: %w", err)
			}
			return fmt.Errorf("bootstrap: %s: %w", q, err)
		}
	}
	return nil
}

// ident quotes a name for SQL.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes s as an SQL string literal (utility statements take no
// bind parameters).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// BootstrapCustomerAdmin creates (or updates) the role the neon service
// administers the customer-database server with: LOGIN, CREATEROLE and
// CREATEDB, not superuser, with its derived password and CONNECT on the
// database db is connected to (where the service takes its advisory
// locks). A template database another role owns (an earlier build ran the
// driver as a superuser) is handed to the role. db must be a superuser connection.
func (set Set) BootstrapCustomerAdmin(ctx context.Context, db DB, template string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, bootstrapLock); err != nil {
			return fmt.Errorf("bootstrap: lock: %w", err)
		}
		role := set.CustomerAdmin()
		if err := ensureLoginRole(ctx, tx, role, "CREATEDB CREATEROLE", set.Secret, true); err != nil {
			return err
		}
		var database string
		var foreignTemplate bool
		err := tx.QueryRow(ctx, `SELECT current_database(), coalesce((SELECT r.rolname <> $2 FROM pg_database d
			JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1), false)`, template, role).Scan(&database, &foreignTemplate)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		stmts := []string{"GRANT CONNECT ON DATABASE " + ident(database) + " TO " + ident(role)}
		if foreignTemplate {
			stmts = append(stmts, "ALTER DATABASE "+ident(template)+" OWNER TO "+ident(role))
		}
		return exec(ctx, tx, stmts...)
	})
}
