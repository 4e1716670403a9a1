package customerdb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
)

// A Delivery is a rendered workspace on its way into the customer's
// database, with the hash of the API key its saga issued. The workspace
// service hands it to the customer's runtime, which applies it through the
// connection it already holds (PUT /platform/workspace), or applies it
// itself over a connection of its own; both call Deliver. Its JSON form is
// the runtime endpoint's request body.
type Delivery struct {
	Files  []DeliveredFile `json:"files"`
	APIKey DeliveredKey    `json:"api_key"`
}

// DeliveredFile is one file of a Delivery.
type DeliveredFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	// PlanManaged marks what the plan owns (the skills, openclaw.json):
	// written on every delivery. The other files are written only into a
	// database without a workspace; once delivered they are the customer's
	// (their memories, their USER.md, a BOOTSTRAP.md the agent deleted).
	PlanManaged bool `json:"plan_managed,omitempty"`
}

// DeliveredKey is the API key of a Delivery: its SHA-256 and its
// displayable prefix, never the key.
type DeliveredKey struct {
	Hash   []byte `json:"hash"`
	Prefix string `json:"prefix"`
}

// ErrInvalidDelivery reports a Delivery that cannot be stored: invalid
// files (it then also matches ErrInvalidFiles) or a malformed key.
var ErrInvalidDelivery = errors.New("customerdb: invalid workspace delivery")

// MaxKeyPrefixLen bounds a delivered key's prefix (apikey.Prefix is 13
// characters).
const MaxKeyPrefixLen = 32

// deliver writes, in one statement and so atomically, the files a database
// without a workspace gets (all of them) or one with a workspace gets (only
// the plan's), and adds the key's hash. Every part of a data-modifying WITH
// sees the snapshot taken before any of it, so "had" is the state before
// this delivery, and each part runs once whether or not another reads it.
// Adding a stored hash again does nothing — in particular it does not bring a
// revoked key back — and updated_at moves only when a file's content
// changes, so a delivery replayed changes nothing.
const deliver = `
WITH had AS (SELECT EXISTS (SELECT 1 FROM workspace_files) AS workspace),
files AS (
	INSERT INTO workspace_files (path, content, updated_at)
	SELECT f.p, f.c, now() FROM unnest($1::text[], $2::text[], $3::bool[]) AS f(p, c, managed), had
	WHERE f.managed OR NOT had.workspace
	ON CONFLICT (path) DO UPDATE
	SET content = excluded.content, updated_at = excluded.updated_at
	WHERE workspace_files.content IS DISTINCT FROM excluded.content
)
INSERT INTO api_keys (prefix, hash) VALUES ($4, $5) ON CONFLICT (hash) DO NOTHING`

// Deliver applies d to a migrated customer database in one round trip (see
// Delivery). It is what a signup's workspace step does; replaying it changes
// nothing.
func Deliver(ctx context.Context, db DB, d Delivery) error {
	if err := d.Validate(); err != nil {
		return err
	}
	paths := make([]string, len(d.Files))
	contents := make([]string, len(d.Files))
	managed := make([]bool, len(d.Files))
	for i, f := range d.Files {
		paths[i], contents[i], managed[i] = f.Path, f.Content, f.PlanManaged
	}
	if _, err := db.Exec(ctx, deliver, paths, contents, managed, d.APIKey.Prefix, d.APIKey.Hash); err != nil {
		return fmt.Errorf("deliver workspace: %w", err)
	}
	return nil
}

// Validate reports why d cannot be stored (ErrInvalidDelivery), or nil.
func (d Delivery) Validate() error {
	if len(d.APIKey.Hash) != sha256.Size {
		return fmt.Errorf("%w: api key hash is %d bytes, want %d", ErrInvalidDelivery, len(d.APIKey.Hash), sha256.Size)
	}
	if p := d.APIKey.Prefix; p == "" || len(p) > MaxKeyPrefixLen {
		return fmt.Errorf("%w: api key prefix must be 1 to %d bytes", ErrInvalidDelivery, MaxKeyPrefixLen)
	}
	paths := make([]string, len(d.Files))
	for i, f := range d.Files {
		paths[i] = f.Path
	}
	if err := checkPaths(paths); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDelivery, err)
	}
	return nil
}
