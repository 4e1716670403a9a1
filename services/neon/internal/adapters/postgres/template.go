package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/customerdb"
)

// The template every customer database is cloned from, and the role that
// owns everything in it. Cloning copies ownership, so each clone is handed
// to its customer's role with REASSIGN OWNED.
//
// The template database itself belongs to the admin role, not to
// TemplateOwner: REASSIGN OWNED also reassigns the shared objects a role
// owns, so with the template owned by TemplateOwner every hand-over would
// rewrite the template's pg_database row, and hand-overs of different
// customers would have to take turns.
const (
	TemplateDatabase = "claw_template"
	TemplateOwner    = "claw_template_owner"
)

// templateLock serialises changes to the template.
const templateLock = "template"

// templateComment prefixes the template's COMMENT, which records the
// customerdb version it is migrated to, readable without connecting to it.
const templateComment = "Clawdbot customer database template; customerdb version "

// ensureTemplate makes sure the template owner role and the template
// database exist, that the template carries every customerdb migration of
// this build, and that it is a closed template: IS_TEMPLATE, no connections.
// Replicas starting together serialise on the template lock; a template
// already up to date is left untouched.
func (d *Driver) ensureTemplate(ctx context.Context) error {
	return d.withLock(ctx, templateLock, func(c *pgxpool.Conn) error {
		var roleExists, dbExists bool
		err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
			EXISTS (SELECT 1 FROM pg_database WHERE datname = $2)`, TemplateOwner, TemplateDatabase).Scan(&roleExists, &dbExists)
		if err != nil {
			return fmt.Errorf("inspect template: %w", err)
		}
		if !roleExists {
			if _, err := c.Exec(ctx, "CREATE ROLE "+ident(TemplateOwner)+" NOLOGIN"); err != nil {
				return fmt.Errorf("create role %s: %w", TemplateOwner, err)
			}
		}
		if err := d.member(ctx, c, TemplateOwner); err != nil {
			return err
		}
		if !dbExists {
			if _, err := c.Exec(ctx, "CREATE DATABASE "+ident(TemplateDatabase)); err != nil {
				return fmt.Errorf("create database %s: %w", TemplateDatabase, err)
			}
		}
		if err := ownTemplate(ctx, c); err != nil {
			return err
		}
		var isTemplate, allowConn bool
		var comment *string
		err = c.QueryRow(ctx, `SELECT datistemplate, datallowconn, shobj_description(oid, 'pg_database')
			FROM pg_database WHERE datname = $1`, TemplateDatabase).Scan(&isTemplate, &allowConn, &comment)
		if err != nil {
			return fmt.Errorf("inspect template: %w", err)
		}
		want := customerdb.LatestVersion()
		if isTemplate && !allowConn && commentVersion(comment) >= want {
			return nil
		}
		d.log.Info("migrating the customer database template", "template", TemplateDatabase, "version", want)
		if _, err := c.Exec(ctx, "ALTER DATABASE "+ident(TemplateDatabase)+" WITH ALLOW_CONNECTIONS true"); err != nil {
			return fmt.Errorf("open template: %w", err)
		}
		if err := d.migrateTemplate(ctx); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, "ALTER DATABASE "+ident(TemplateDatabase)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
			return fmt.Errorf("close template: %w", err)
		}
		if _, err := c.Exec(ctx, "COMMENT ON DATABASE "+ident(TemplateDatabase)+" IS "+literal(templateComment+strconv.Itoa(want))); err != nil {
			return fmt.Errorf("record template version: %w", err)
		}
		return nil
	})
}

// ownTemplate gives the template database to the admin role (see
// TemplateOwner) and lets TemplateOwner create in it. Templates of earlier
// builds belonged to TemplateOwner; this moves them, and is a no-op when
// nothing needs to change. The database's privileges are not copied to
// clones, which start with the default ones.
func ownTemplate(ctx context.Context, c *pgxpool.Conn) error {
	var ownedByAdmin bool
	err := c.QueryRow(ctx, `SELECT datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)
		FROM pg_database WHERE datname = $1`, TemplateDatabase).Scan(&ownedByAdmin)
	if err != nil {
		return fmt.Errorf("inspect template owner: %w", err)
	}
	if !ownedByAdmin {
		if _, err := c.Exec(ctx, "ALTER DATABASE "+ident(TemplateDatabase)+" OWNER TO CURRENT_USER"); err != nil {
			return fmt.Errorf("own template: %w", err)
		}
	}
	if _, err := c.Exec(ctx, "GRANT CREATE, TEMPORARY ON DATABASE "+ident(TemplateDatabase)+" TO "+ident(TemplateOwner)); err != nil {
		return fmt.Errorf("template privileges: %w", err)
	}
	return nil
}

// migrateTemplate applies the customerdb migrations to the template as its
// owner role, so every object they create belongs to that role.
func (d *Driver) migrateTemplate(ctx context.Context) error {
	conn, err := d.connect(ctx, TemplateDatabase, "", "")
	if err != nil {
		return fmt.Errorf("connect to template: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	// Before PostgreSQL 15 every role may create in schema public; clones
	// must not inherit that.
	// Schema public belongs to the database owner (pg_database_owner from
	// PostgreSQL 15), which is no longer TemplateOwner; giving it to
	// TemplateOwner lets the migrations create in it and hands it to the
	// customer's role with everything else.
	for _, q := range []string{
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"ALTER SCHEMA public OWNER TO " + ident(TemplateOwner),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("template schema privileges: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, "SET ROLE "+ident(TemplateOwner)); err != nil {
		return fmt.Errorf("template: set role: %w", err)
	}
	if err := customerdb.Migrate(ctx, conn); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	return nil
}

// commentVersion reads the version templateComment records, 0 if none.
func commentVersion(comment *string) int {
	if comment == nil {
		return 0
	}
	v, ok := strings.CutPrefix(*comment, templateComment)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return n
}
