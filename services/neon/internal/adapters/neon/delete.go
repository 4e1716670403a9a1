package neon

import (
	"context"
	"fmt"
	"net/http"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/app"
)

// Delete deletes the customer's branches (normally one) or, with
// PlaceProject, the customer's project, waits until Neon has removed them,
// then forgets the placement and deletes the stored URI. What is already
// gone (204 or 404) counts as deleted, so a repeated Delete succeeds; the
// parent, a shared project's default branch and the configured project are
// never deleted.
func (d *Driver) Delete(ctx context.Context, customerID string) error {
	if customerID == "" {
		return fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	name := names.Database(customerID)
	defer d.locks.lock(name)()
	if err := d.remove(ctx, name); err != nil {
		return err
	}
	return d.secrets.Delete(ctx, names.DatabaseRef(customerID))
}

// remove deletes what holds the customer's database named name and forgets
// its placement.
func (d *Driver) remove(ctx context.Context, name string) error {
	p, ok, err := d.locate(ctx, name)
	if err != nil || !ok {
		return err
	}
	if p.Own {
		if err := d.deleteProject(ctx, p.Project, name); err != nil {
			return err
		}
		return d.forget(ctx, name)
	}
	found, err := d.findBranches(ctx, p, name)
	if err != nil {
		return err
	}
	for _, b := range found {
		if err := guard(p, b); err != nil {
			return err
		}
		r, err := d.api.DeleteProjectBranchWithResponse(ctx, p.Project, b.Id)
		err = answer("delete branch", r, err)
		switch {
		case status(err) == http.StatusNotFound:
			continue
		case err != nil:
			return fmt.Errorf("delete branch %s: %w", name, err)
		case r.StatusCode() == http.StatusNoContent || r.JSON200 == nil:
			continue // already deleted
		}
		if err := d.wait(ctx, p.Project, "delete branch "+name, r.JSON200.Operations); err != nil {
			return err
		}
		d.log.Info("neon branch deleted", "branch", name, "branch_id", b.Id, "project_id", p.Project)
	}
	return d.forget(ctx, name)
}

// deleteProject deletes the customer's own project (Neon deletes it at
// once; a missing one is gone already).
func (d *Driver) deleteProject(ctx context.Context, id, name string) error {
	if id == d.cfg.ProjectID {
		return fmt.Errorf("%w: project %s is the configured project, not a customer's", app.ErrRejected, id)
	}
	r, err := d.api.DeleteProjectWithResponse(ctx, id)
	if err := answer("delete project", r, err); err != nil && status(err) != http.StatusNotFound {
		return fmt.Errorf("delete project %s: %w", name, err)
	}
	d.log.Info("neon project deleted", "project", name, "project_id", id)
	return nil
}
