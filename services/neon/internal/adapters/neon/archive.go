package neon

import (
	"context"
	"errors"
	"fmt"
	"io"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon/internal/adapters/archive"
	"clawdbot.cloud/services/neon/internal/adapters/pgdump"
	"clawdbot.cloud/services/neon/internal/app"
)

// Archives is archive storage for database dumps (the local directory or
// S3-compatible object storage of internal/adapters/archive).
type Archives interface {
	Put(ctx context.Context, ref string, r io.Reader) (archive.Info, error)
	Stat(ctx context.Context, ref string) (archive.Info, error)
	Open(ctx context.Context, ref string) (io.ReadCloser, archive.Info, error)
	Delete(ctx context.Context, ref string) error
}

// errNoStorage refuses archive commands when the service has no archive
// storage or no pg_dump/pg_restore.
var errNoStorage = fmt.Errorf("%w: no archive storage or pg_dump/pg_restore configured", app.ErrRejected)

// Archive dumps the customer's database (pg_dump of the branch's direct
// URI, as the customer's role; custom format, without owners and
// privileges) into archive storage, then deletes the branch (or the
// customer's project), its placement and the stored URI, as Delete does.
// The archive is stored only when pg_dump succeeded; archiving again once
// the branch is gone answers with the stored archive.
func (d *Driver) Archive(ctx context.Context, customerID string) (app.Archive, error) {
	if customerID == "" {
		return app.Archive{}, fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	if d.cfg.Archives == nil || d.cfg.BinDir == "" {
		return app.Archive{}, errNoStorage
	}
	name, ref := names.Database(customerID), names.ArchiveRef(customerID)
	defer d.locks.lock(name)()
	b, found, err := d.existing(ctx, name)
	if err != nil {
		return app.Archive{}, err
	}
	var info archive.Info
	if !found {
		info, err = d.cfg.Archives.Stat(ctx, ref)
		if errors.Is(err, archive.ErrNotFound) {
			return app.Archive{}, fmt.Errorf("%w: customer %s has neither a Neon branch nor an archive", app.ErrRejected, customerID)
		}
		if err != nil {
			return app.Archive{}, err
		}
	} else {
		uri, err := d.uri(ctx, b, false)
		if err != nil {
			return app.Archive{}, err
		}
		info, err = pgdump.Dump(ctx, d.cfg.BinDir, uri, func(r io.Reader) (archive.Info, error) {
			return d.cfg.Archives.Put(ctx, ref, r)
		})
		if err != nil {
			return app.Archive{}, fmt.Errorf("archive %s: %w", name, redact(err, uri))
		}
		d.log.Info("database archived", "database", name, "archive_ref", ref, "bytes", info.Bytes, "project_id", b.Project)
	}
	// What an interrupted attempt left goes too.
	if err := d.remove(ctx, name); err != nil {
		return app.Archive{}, err
	}
	if err := d.secrets.Delete(ctx, names.DatabaseRef(customerID)); err != nil {
		return app.Archive{}, err
	}
	return app.Archive{Ref: info.Ref, Bytes: info.Bytes}, nil
}

// existing returns the customer's branch with its endpoint, if it has one.
func (d *Driver) existing(ctx context.Context, name string) (branch, bool, error) {
	p, ok, err := d.locate(ctx, name)
	if err != nil || !ok {
		return branch{}, false, err
	}
	found, err := d.findBranches(ctx, p, name)
	if err != nil || len(found) == 0 {
		return branch{}, false, err
	}
	if err := guard(p, found[0]); err != nil {
		return branch{}, false, err
	}
	ep, err := d.readWriteEndpoint(ctx, p.Project, found[0].Id)
	if err != nil {
		return branch{}, false, err
	}
	return branch{Project: p.Project, ID: found[0].Id, Endpoint: ep}, true, nil
}

// Restore recreates the customer's branch (placed as Create places it)
// and loads the archive ref into it with pg_restore as the customer's role
// (--clean --if-exists: the branch starts with the parent's schema), in one
// transaction; then, as Create does, the role gets a new password and the
// pooled URI is stored. The URI is stored last, so a customer with a
// stored URI is restored already and is only checked like a Create (its
// data since the restore is never overwritten). The archive is kept.
func (d *Driver) Restore(ctx context.Context, customerID, ref string) (app.Database, error) {
	if customerID == "" {
		return app.Database{}, fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	if d.cfg.Archives == nil || d.cfg.BinDir == "" {
		return app.Database{}, errNoStorage
	}
	db := app.Database{Name: names.Database(customerID), Ref: names.DatabaseRef(customerID)}
	defer d.locks.lock(db.Name)()
	_, err := d.secrets.Get(ctx, db.Ref)
	switch {
	case err == nil: // restored before
		b, err := d.provision(ctx, db.Name)
		if err != nil {
			return app.Database{}, err
		}
		return db, d.ensureCredentials(ctx, b, db.Ref)
	case !errors.Is(err, secrets.ErrNotFound):
		return app.Database{}, err
	}
	rc, info, err := d.cfg.Archives.Open(ctx, ref)
	if errors.Is(err, archive.ErrNotFound) || errors.Is(err, archive.ErrCorrupt) {
		return app.Database{}, fmt.Errorf("%w: %w", app.ErrRejected, err)
	}
	if err != nil {
		return app.Database{}, err
	}
	defer rc.Close()
	b, err := d.provision(ctx, db.Name)
	if err != nil {
		return app.Database{}, err
	}
	uri, err := d.uri(ctx, b, false)
	if err != nil {
		return app.Database{}, err
	}
	if err := pgdump.Restore(ctx, d.cfg.BinDir, uri, rc); err != nil {
		return app.Database{}, fmt.Errorf("restore %s into %s: %w", ref, db.Name, redact(err, uri))
	}
	d.log.Info("database restored", "database", db.Name, "archive_ref", ref, "bytes", info.Bytes, "project_id", b.Project)
	if err := d.ensureCredentials(ctx, b, db.Ref); err != nil {
		return app.Database{}, fmt.Errorf("branch %s: %w", db.Name, err)
	}
	return db, nil
}

// DeleteArchive removes the archive ref for good; a missing one is fine.
func (d *Driver) DeleteArchive(ctx context.Context, customerID, ref string) error {
	if d.cfg.Archives == nil {
		return errNoStorage
	}
	if err := d.cfg.Archives.Delete(ctx, ref); err != nil {
		return err
	}
	d.log.Info("archive deleted", "customer_id", customerID, "archive_ref", ref)
	return nil
}
