package customerdb

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func readAll(t *testing.T, db DB) []File {
	t.Helper()
	files, err := ReadWorkspace(t.Context(), db)
	if err != nil {
		t.Fatalf("ReadWorkspace: %v", err)
	}
	return files
}

func TestWorkspace(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)

	if got := readAll(t, pool); len(got) != 0 {
		t.Fatalf("new workspace holds %v", got)
	}
	rendered := []File{{"SOUL.md", "soul v1"}, {"AGENTS.md", "agents v1"}}
	if err := PutFiles(ctx, pool, rendered...); err != nil {
		t.Fatal(err)
	}
	if err := PutFiles(ctx, pool, File{"memory/2026-01-31.md", "remember"}); err != nil {
		t.Fatal(err)
	}
	// A re-render (plan change) overwrites its files and keeps the memory.
	if err := PutFiles(ctx, pool, File{"AGENTS.md", "agents v2"}, File{"TOOLS.md", "tools"}); err != nil {
		t.Fatal(err)
	}
	want := []File{
		{"AGENTS.md", "agents v2"},
		{"SOUL.md", "soul v1"},
		{"TOOLS.md", "tools"},
		{"memory/2026-01-31.md", "remember"},
	}
	if diff := cmp.Diff(want, readAll(t, pool)); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}

	if err := DeleteWorkspace(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, pool); len(got) != 0 {
		t.Errorf("after DeleteWorkspace: %v", got)
	}
	if err := DeleteWorkspace(ctx, pool); err != nil {
		t.Errorf("DeleteWorkspace of an empty workspace: %v", err)
	}
}

func TestWorkspaceRejectsBadSetsWhole(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	for name, files := range map[string][]File{
		"duplicate":  {{"a.md", "1"}, {"b.md", "2"}, {"a.md", "3"}},
		"empty path": {{"a.md", "1"}, {"", "2"}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := PutFiles(ctx, pool, files...); !errors.Is(err, ErrInvalidFiles) {
				t.Errorf("PutFiles = %v, want ErrInvalidFiles", err)
			}
			if got := readAll(t, pool); len(got) != 0 {
				t.Errorf("a rejected set was partly written: %v", got)
			}
		})
	}
	if err := PutFiles(ctx, pool); err != nil {
		t.Errorf("PutFiles of nothing: %v", err)
	}
}

func TestReplayingWorkspaceKeepsUpdatedAt(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	updatedAt := func() time.Time {
		var at time.Time
		if err := pool.QueryRow(ctx, "SELECT updated_at FROM workspace_files WHERE path = 'a.md'").Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	files := []File{{"a.md", "same"}}
	if err := PutFiles(ctx, pool, files...); err != nil {
		t.Fatal(err)
	}
	first := updatedAt()
	// now() is the transaction's start time, so the replay gets a later one.
	if err := PutFiles(ctx, pool, files...); err != nil {
		t.Fatal(err)
	}
	if got := updatedAt(); !got.Equal(first) {
		t.Errorf("replaying an unchanged file moved updated_at from %v to %v", first, got)
	}
	if err := PutFiles(ctx, pool, File{"a.md", "changed"}); err != nil {
		t.Fatal(err)
	}
	if got := updatedAt(); !got.After(first) {
		t.Errorf("changing the file left updated_at at %v", got)
	}
}

func TestWorkspaceInCallerTransaction(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := PutFiles(ctx, tx, File{"a.md", "1"}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, tx); len(got) != 1 {
		t.Errorf("inside the transaction: %v", got)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, pool); len(got) != 0 {
		t.Errorf("after rollback: %v", got)
	}
}
