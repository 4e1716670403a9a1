package neon

import (
	"context"
	"fmt"
	"net/http"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/app"
)

// Delete deletes every branch named after the customer (normally one),
// waits until Neon has removed them, then deletes the stored URI. A branch
// already gone (204 or 404) counts as deleted, so a repeated Delete
// succeeds; the parent and the project's default branch are never deleted.
func (d *Driver) Delete(ctx context.Context, customerID string) error {
	if customerID == "" {
		return fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	name := names.Database(customerID)
	defer d.locks.lock(name)()
	found, err := d.findBranches(ctx, name)
	if err != nil {
		return err
	}
	for _, b := range found {
		if err := d.guard(b); err != nil {
			return err
		}
		r, err := d.api.DeleteProjectBranchWithResponse(ctx, d.cfg.ProjectID, b.Id)
		err = answer("delete branch", r, err)
		switch {
		case status(err) == http.StatusNotFound:
			continue
		case err != nil:
			return fmt.Errorf("delete branch %s: %w", name, err)
		case r.StatusCode() == http.StatusNoContent || r.JSON200 == nil:
			continue // already deleted
		}
		if err := d.wait(ctx, "delete branch "+name, r.JSON200.Operations); err != nil {
			return err
		}
		d.log.Info("neon branch deleted", "branch", name, "branch_id", b.Id)
	}
	return d.secrets.Delete(ctx, names.DatabaseRef(customerID))
}
