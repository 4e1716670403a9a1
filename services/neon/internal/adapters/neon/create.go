package neon

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

// Create makes sure the customer has a branch (named names.Database) of the
// parent with a read_write endpoint, that the branch's role has a password
// of its own, and that the role's pooled connection URI is in the secret
// store under names.DatabaseRef.
//
// A branch starts with the parent's role and password, which every other
// branch shares; so the password is reset before any URI is stored, and a
// stored URI whose password Neon still reports is proof that the reset was
// done. A repeated Create therefore changes nothing: it finds the branch by
// name and the URI in the store, and leaves the password the customer's
// runtime uses alone.
func (d *Driver) Create(ctx context.Context, customerID string) (app.Database, error) {
	if customerID == "" {
		return app.Database{}, fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	db := app.Database{Name: names.Database(customerID), Ref: names.DatabaseRef(customerID)}
	defer d.locks.lock(db.Name)()
	b, err := d.provision(ctx, db.Name)
	if err != nil {
		return app.Database{}, err
	}
	if err := d.ensureCredentials(ctx, b, db.Ref); err != nil {
		return app.Database{}, fmt.Errorf("branch %s: %w", db.Name, err)
	}
	return db, nil
}

// provision places the customer (Config.Placement) and finds or makes its
// branch. When Neon refuses a branch in a shard over its branch limit
// (branches someone else made there), the shard is marked full and the
// customer placed once more; a refusal elsewhere names the limit and the
// way out.
func (d *Driver) provision(ctx context.Context, name string) (branch, error) {
	p, err := d.assign(ctx, name)
	if err != nil {
		return branch{}, rejectLimit(err, d.cfg.Placement)
	}
	b, err := d.ensureBranch(ctx, p, name)
	if errLimit(err) && d.cfg.Placement == PlaceSharded {
		d.log.Warn("neon refused a branch under the recorded shard capacity; marking the shard full", "project_id", p.Project)
		if err := d.shards.full(ctx, p.Project); err != nil {
			return branch{}, err
		}
		if err := d.shards.forget(ctx, name); err != nil {
			return branch{}, err
		}
		if p, err = d.assign(ctx, name); err != nil {
			return branch{}, rejectLimit(err, d.cfg.Placement)
		}
		b, err = d.ensureBranch(ctx, p, name)
	}
	return b, rejectLimit(err, d.cfg.Placement)
}

// ensureCredentials stores the branch's pooled URI, resetting the role's
// password first unless the stored URI proves it was reset.
func (d *Driver) ensureCredentials(ctx context.Context, b branch, ref string) error {
	stored, err := d.secrets.Get(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		stored = nil
	case err != nil:
		return err
	}
	if stored != nil {
		uri, err := d.connectionURI(ctx, b)
		if err != nil {
			return err
		}
		if sameLogin(string(stored), uri) {
			if string(stored) == uri {
				return nil
			}
			return d.secrets.Put(ctx, ref, []byte(uri)) // Neon changed the URI's form, not the login
		}
		d.log.Warn("stored URI is not this branch's current login; resetting the role's password", "branch_id", b.ID)
	}
	if err := d.resetPassword(ctx, b); err != nil {
		return err
	}
	uri, err := d.connectionURI(ctx, b)
	if err != nil {
		return err
	}
	return d.secrets.Put(ctx, ref, []byte(uri))
}

// resetPassword gives the branch's role a new password and waits until the
// compute applies it. The password in the answer is not kept: the URI is
// read afterwards, in the form Neon gives it.
func (d *Driver) resetPassword(ctx context.Context, b branch) error {
	r, err := d.api.ResetProjectBranchRolePasswordWithResponse(ctx, b.Project, b.ID, d.cfg.RoleName)
	if err := answer("reset role password", r, err); err != nil {
		return err
	}
	if r.JSON200 == nil {
		return errMalformed("reset role password")
	}
	return d.wait(ctx, b.Project, "reset password of "+d.cfg.RoleName, r.JSON200.Operations)
}

// connectionURI returns the pooled connection URI of the role on the
// branch's read_write endpoint. Neither the URI nor the answer's body ever
// reaches an error or a log.
func (d *Driver) connectionURI(ctx context.Context, b branch) (string, error) {
	return d.uri(ctx, b, true)
}

// uri returns the role's connection URI on the branch's read_write
// endpoint: pooled (through Neon's PgBouncer) for runtimes, direct for
// migrations, pg_dump and pg_restore, which need a session of their own.
func (d *Driver) uri(ctx context.Context, b branch, pooled bool) (string, error) {
	r, err := d.api.GetConnectionURIWithResponse(ctx, b.Project, &neonapi.GetConnectionURIParams{
		BranchId:     &b.ID,
		EndpointId:   &b.Endpoint.Id,
		DatabaseName: d.cfg.DatabaseName,
		RoleName:     d.cfg.RoleName,
		Pooled:       &pooled,
	})
	if err := answer("get connection URI", r, err); err != nil {
		return "", err
	}
	if r.JSON200 == nil {
		return "", errMalformed("get connection URI")
	}
	uri := r.JSON200.Uri
	if u, err := url.Parse(uri); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return "", errors.New("neon API: get connection URI: the answer is not a postgres:// URI with credentials")
	}
	return uri, nil
}

// sameLogin reports whether two URIs log in the same way: same host,
// database, role and password (query parameters may differ).
func sameLogin(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil || ua.User == nil {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil || ub.User == nil {
		return false
	}
	pa, _ := ua.User.Password()
	pb, _ := ub.User.Password()
	return ua.Host == ub.Host && ua.Path == ub.Path && ua.User.Username() == ub.User.Username() && pa == pb && pa != ""
}
