package customerdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// File is one file of a customer's workspace.
type File struct {
	// Path is relative to the workspace root, slash-separated, e.g.
	// "AGENTS.md" or "memory/2026-01-31.md".
	Path string
	// Content is the file's text.
	Content string
}

// ErrInvalidFiles reports a file set that cannot be stored: an empty path or
// the same path twice.
var ErrInvalidFiles = errors.New("customerdb: invalid workspace files")

// upsertFiles writes every file in a single statement, hence atomically even
// outside a transaction. updated_at moves only when the content changes, so
// delivering the same workspace again is a no-op.
const upsertFiles = `
INSERT INTO workspace_files (path, content, updated_at)
SELECT p, c, now() FROM unnest($1::text[], $2::text[]) AS f(p, c)
ON CONFLICT (path) DO UPDATE
SET content = excluded.content, updated_at = excluded.updated_at
WHERE workspace_files.content IS DISTINCT FROM excluded.content`

// PutFiles creates or overwrites the given files atomically, all of them or
// none, and leaves the others alone (memories the assistant wrote, for
// example); replaying it changes nothing. The runtime writes files with it,
// the workspace service a plan's skills. A signup's whole workspace goes in
// with Deliver.
func PutFiles(ctx context.Context, db DB, files ...File) error {
	if err := writeFiles(ctx, db, files); err != nil {
		return fmt.Errorf("put workspace files: %w", err)
	}
	return nil
}

func writeFiles(ctx context.Context, db DB, files []File) error {
	if len(files) == 0 {
		return nil
	}
	paths := make([]string, len(files))
	contents := make([]string, len(files))
	for i, f := range files {
		paths[i], contents[i] = f.Path, f.Content
	}
	if err := checkPaths(paths); err != nil {
		return err
	}
	if _, err := db.Exec(ctx, upsertFiles, paths, contents); err != nil {
		return err
	}
	return nil
}

// ReadWorkspace returns every workspace file, ordered by path.
func ReadWorkspace(ctx context.Context, db DB) ([]File, error) {
	rows, err := db.Query(ctx, "SELECT path, content FROM workspace_files ORDER BY path")
	if err != nil {
		return nil, fmt.Errorf("read workspace: %w", err)
	}
	defer rows.Close()
	var files []File
	for rows.Next() {
		var f File
		if err := rows.Scan(&f.Path, &f.Content); err != nil {
			return nil, fmt.Errorf("read workspace: %w", err)
		}
		files = append(files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read workspace: %w", err)
	}
	return files, nil
}

// ReadFiles returns the workspace files with the given paths that exist, in
// path order; missing paths are left out.
func ReadFiles(ctx context.Context, db DB, paths ...string) ([]File, error) {
	rows, err := db.Query(ctx, "SELECT path, content FROM workspace_files WHERE path = ANY($1) ORDER BY path", paths)
	if err != nil {
		return nil, fmt.Errorf("read workspace files: %w", err)
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (File, error) {
		var f File
		err := r.Scan(&f.Path, &f.Content)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("read workspace files: %w", err)
	}
	return files, nil
}

// DeleteWorkspace removes every workspace file. Deleting an empty workspace is
// not an error.
func DeleteWorkspace(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, "DELETE FROM workspace_files"); err != nil {
		return fmt.Errorf("delete workspace: %w", err)
	}
	return nil
}

// FilesUnder returns the workspace files whose path starts with prefix, in
// path order.
func FilesUnder(ctx context.Context, db DB, prefix string) ([]File, error) {
	rows, err := db.Query(ctx, "SELECT path, content FROM workspace_files WHERE starts_with(path, $1) ORDER BY path", prefix)
	if err != nil {
		return nil, fmt.Errorf("read workspace files under %s: %w", prefix, err)
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (File, error) {
		var f File
		err := r.Scan(&f.Path, &f.Content)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("read workspace files under %s: %w", prefix, err)
	}
	return files, nil
}

// DeleteFiles removes workspace files by path; missing ones are ignored.
// It returns how many were removed.
func DeleteFiles(ctx context.Context, db DB, paths ...string) (int64, error) {
	tag, err := db.Exec(ctx, "DELETE FROM workspace_files WHERE path = ANY($1)", paths)
	if err != nil {
		return 0, fmt.Errorf("delete workspace files: %w", err)
	}
	return tag.RowsAffected(), nil
}

// checkPaths reports the first empty or repeated path of a file set
// (ErrInvalidFiles).
func checkPaths(paths []string) error {
	seen := make(map[string]bool, len(paths))
	for i, p := range paths {
		if p == "" {
			return fmt.Errorf("%w: file %d has an empty path", ErrInvalidFiles, i)
		}
		if seen[p] {
			return fmt.Errorf("%w: path %q appears twice", ErrInvalidFiles, p)
		}
		seen[p] = true
	}
	return nil
}
