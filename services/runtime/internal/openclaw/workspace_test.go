package openclaw

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
)

// TestWorkspaceSync runs the sync against a real customer database: the
// workspace reaches the agent's directory, the agent's own edits survive
// until the platform changes the file, the agent's memory files come back
// into the database, and links or paths out of the workspace are not
// followed.
func TestWorkspaceSync(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := customerdb.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &WorkspaceSync{
		Dir:   dir,
		Read:  func(ctx context.Context) ([]customerdb.File, error) { return customerdb.ReadWorkspace(ctx, pool) },
		Write: func(ctx context.Context, f ...customerdb.File) error { return customerdb.PutFiles(ctx, pool, f...) },
	}
	put := func(path, content string) {
		t.Helper()
		if err := customerdb.PutFiles(ctx, pool, customerdb.File{Path: path, Content: content}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inDB := func(path string) string {
		t.Helper()
		files, err := customerdb.ReadFiles(ctx, pool, path)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			return "<absent>"
		}
		return files[0].Content
	}

	put("AGENTS.md", "platform rules v1")
	put("memory/2026-12-05.md", "- from the memory API")
	put("openclaw.json", `{"customer's view": true}`)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read("AGENTS.md"); got != "platform rules v1" {
		t.Errorf("AGENTS.md = %q", got)
	}
	if got := read("memory/2026-12-05.md"); got != "- from the memory API" {
		t.Errorf("note = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "openclaw.json")); err == nil {
		t.Error("the workspace's openclaw.json was copied; the gateway runs on the rendered one")
	}

	// The agent edits AGENTS.md: kept while the platform's copy is unchanged.
	write("AGENTS.md", "agent's edit")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read("AGENTS.md"); got != "agent's edit" {
		t.Errorf("the agent's edit was overwritten: %q", got)
	}
	put("AGENTS.md", "platform rules v2")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read("AGENTS.md"); got != "platform rules v2" {
		t.Errorf("AGENTS.md after the platform changed it = %q", got)
	}

	// The agent writes memory: back into the database, links not followed.
	write("memory/2026-12-05.md", "- from the memory API\n- from OpenClaw")
	write("MEMORY.md", "long-term: likes tea")
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("NOT YOURS"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "memory", "2026-12-06.md")); err != nil {
		t.Fatal(err)
	}
	if err := s.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := inDB("memory/2026-12-05.md"); got != "- from the memory API\n- from OpenClaw" {
		t.Errorf("note in the database = %q", got)
	}
	if got := inDB("MEMORY.md"); got != "long-term: likes tea" {
		t.Errorf("MEMORY.md in the database = %q", got)
	}
	if got := inDB("memory/2026-12-06.md"); got != "<absent>" {
		t.Errorf("a symlinked note was followed into the database: %q", got)
	}
	// Collected files are not written back by the next sync.
	write("MEMORY.md", "long-term: likes tea and cake")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read("MEMORY.md"); got != "long-term: likes tea and cake" {
		t.Errorf("MEMORY.md after sync = %q", got)
	}
}
