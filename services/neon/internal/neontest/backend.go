package neontest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// backend is the Postgres server behind the branches. A branch's database
// is a database cloned from its parent's; a branch's role is a Postgres
// role of its own that owns the clone and alone may connect to it, which
// is how Neon's per-branch computes isolate branches.
type backend struct {
	admin   *pgxpool.Pool
	connCfg *pgx.ConnConfig
	host    string // host:port of the URIs handed out
	sslmode string
	prefix  string // of every database and role this server makes

	mu   sync.Mutex // serialises DDL
	seq  int
	made []string // "db:<name>" and "role:<name>", for the cleanup
}

func newBackend(t testing.TB, adminURL string) (*backend, error) {
	u, err := url.Parse(adminURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("admin URL is not a postgres://user:password@host:port URL")
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return nil, fmt.Errorf("admin URL: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgxpool.New(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	be := &backend{admin: admin, connCfg: cfg, host: u.Host, sslmode: u.Query().Get("sslmode"), prefix: "nt" + hex.EncodeToString(b)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := be.cleanup(ctx); err != nil {
			t.Errorf("neontest: cleanup: %v", err)
		}
		admin.Close()
	})
	return be, nil
}

// name returns a fresh name for a database or role.
func (b *backend) name(kind string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return fmt.Sprintf("%s_%s%d", b.prefix, kind, b.seq)
}

func (b *backend) exec(ctx context.Context, qs ...string) error {
	for _, q := range qs {
		if _, err := b.admin.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(q, " PASSWORD", 2)[0], err)
		}
	}
	return nil
}

// createParent makes the parent branch's role and database, then runs
// prepare in the database as that role. The database belongs to the admin
// and only the objects in it to the role, so that cloning and handing them
// over never touches the parent's own catalog row.
func (b *backend) createParent(ctx context.Context, role, password, db string, prepare func(context.Context, *pgx.Conn) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.made = append(b.made, "role:"+role, "db:"+db)
	if err := b.exec(ctx,
		"CREATE ROLE "+ident(role)+" LOGIN PASSWORD "+literal(password),
		"CREATE DATABASE "+ident(db),
		"REVOKE CONNECT, TEMPORARY ON DATABASE "+ident(db)+" FROM PUBLIC",
		"GRANT CONNECT ON DATABASE "+ident(db)+" TO "+ident(role),
	); err != nil {
		return err
	}
	conn, err := b.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	for _, q := range []string{
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE, CREATE ON SCHEMA public TO " + ident(role),
		"SET ROLE " + ident(role),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("parent database: %s: %w", q, err)
		}
	}
	return prepare(ctx, conn)
}

// clone makes a branch's database from its parent's and a NOLOGIN role
// with the parent role's password (a branch starts with its parent's
// roles, passwords included); the role owns the clone and everything in it.
func (b *backend) clone(ctx context.Context, parentDB, parentRole, db, role, password string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.made = append(b.made, "role:"+role, "db:"+db)
	if err := b.exec(ctx,
		"CREATE ROLE "+ident(role)+" NOLOGIN PASSWORD "+literal(password),
		"CREATE DATABASE "+ident(db)+" TEMPLATE "+ident(parentDB)+" OWNER "+ident(role),
		"REVOKE CONNECT, TEMPORARY ON DATABASE "+ident(db)+" FROM PUBLIC",
		"GRANT CONNECT ON DATABASE "+ident(db)+" TO "+ident(role),
	); err != nil {
		return err
	}
	conn, err := b.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := conn.Exec(ctx, "REASSIGN OWNED BY "+ident(parentRole)+" TO "+ident(role)); err != nil {
		return fmt.Errorf("hand %s over to %s: %w", db, role, err)
	}
	return nil
}

// login lets role log in, as the branch's compute starts.
func (b *backend) login(ctx context.Context, role string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exec(ctx, "ALTER ROLE "+ident(role)+" LOGIN")
}

// setPassword applies a reset password.
func (b *backend) setPassword(ctx context.Context, role, password string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exec(ctx, "ALTER ROLE "+ident(role)+" PASSWORD "+literal(password))
}

// drop removes a branch's databases and roles.
func (b *backend) drop(ctx context.Context, dbs, roles []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, db := range dbs {
		if err := b.exec(ctx, "DROP DATABASE IF EXISTS "+ident(db)+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	for _, r := range roles {
		if err := b.exec(ctx,
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = "+literal(r),
			"DROP ROLE IF EXISTS "+ident(r),
		); err != nil {
			return err
		}
	}
	return nil
}

// cleanup drops everything the server made, databases first.
func (b *backend) cleanup(ctx context.Context) error {
	var dbs, roles []string
	for _, m := range b.made {
		if db, ok := strings.CutPrefix(m, "db:"); ok {
			dbs = append(dbs, db)
		} else {
			roles = append(roles, strings.TrimPrefix(m, "role:"))
		}
	}
	return b.drop(ctx, dbs, roles)
}

// connect opens an admin connection to db.
func (b *backend) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg := b.connCfg.Copy()
	cfg.Database = db
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", db, err)
	}
	return conn, nil
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
