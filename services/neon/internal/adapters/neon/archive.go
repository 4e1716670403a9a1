package neon

import (
	"context"
	"fmt"

	"clawdbot.cloud/services/neon/internal/app"
)

// errNoArchive is the answer of the lifecycle archive operations, which the
// Neon driver does not implement yet. The plan for them: Archive = pg_dump
// of the branch's direct connection URI into archive storage, then delete
// the branch; Restore = create the branch from the parent and pg_restore;
// or, cheaper, keep the branch and rely on Neon's own scale-to-zero and
// history retention. Until then the step fails for good with this reason,
// so the saga compensates instead of retrying.
var errNoArchive = fmt.Errorf("%w: archive and restore are not supported by the neon driver yet", app.ErrRejected)

// Archive is not supported yet (errNoArchive).
func (d *Driver) Archive(context.Context, string) (app.Archive, error) {
	return app.Archive{}, errNoArchive
}

// Restore is not supported yet (errNoArchive).
func (d *Driver) Restore(context.Context, string, string) (app.Database, error) {
	return app.Database{}, errNoArchive
}

// DeleteArchive is not supported yet (errNoArchive).
func (d *Driver) DeleteArchive(context.Context, string, string) error {
	return errNoArchive
}
