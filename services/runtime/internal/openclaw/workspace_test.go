package openclaw

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	newSync := func() *WorkspaceSync {
		return &WorkspaceSync{
			Dir:  dir,
			Read: func(ctx context.Context) ([]customerdb.File, error) { return customerdb.ReadWorkspace(ctx, pool) },
			StoreMemory: func(ctx context.Context, path, base string, haveBase bool, agent string) (string, error) {
				return customerdb.StoreMemoryFile(ctx, pool, path, base, haveBase, agent)
			},
		}
	}
	s := newSync()
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

	// Memories: what the agent writes is found by the memory API's search,
	// once however often the sync runs; what the API writes reaches the
	// agent; an edit on each side between two syncs keeps both.
	search := func(q string) []string {
		t.Helper()
		hits, err := customerdb.SearchMemories(ctx, pool, q, 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hits {
			out = append(out, h.Content)
		}
		return out
	}
	if got := search("OpenClaw"); len(got) != 1 || got[0] != "from OpenClaw" {
		t.Errorf("search for the agent's memory = %q, want [from OpenClaw]", got)
	}
	for range 3 {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Collect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := search("OpenClaw"); len(got) != 1 {
		t.Errorf("search after more syncs = %q, want the one memory", got)
	}
	at := time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)
	if _, err := customerdb.AddMemory(ctx, pool, "API-MEMORY dentist on Friday", nil, at); err != nil {
		t.Fatal(err)
	}
	appendLine := func(path, line string) {
		t.Helper()
		c := read(path)
		if c != "" && !strings.HasSuffix(c, "\n") {
			c += "\n"
		}
		write(path, c+line+"\n")
	}
	appendLine("memory/2026-12-05.md", "- AGENT-MEMORY buy oat milk")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{read("memory/2026-12-05.md"), inDB("memory/2026-12-05.md")} {
		if !strings.Contains(got, "API-MEMORY") || !strings.Contains(got, "AGENT-MEMORY") || !strings.Contains(got, "from OpenClaw") {
			t.Errorf("note after both sides wrote = %q, want both memories", got)
		}
	}
	if got := search("oat milk"); len(got) != 1 {
		t.Errorf("search for the agent's new memory = %q", got)
	}

	// A restarted runtime (no memory of what was last synced) keeps the
	// agent's copy's entries and the database's.
	appendLine("memory/2026-12-05.md", "- WRITTEN-WHILE-DOWN")
	if _, err := customerdb.AddMemory(ctx, pool, "API-WHILE-DOWN", nil, at); err != nil {
		t.Fatal(err)
	}
	s = newSync()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read("memory/2026-12-05.md"); !strings.Contains(got, "WRITTEN-WHILE-DOWN") || !strings.Contains(got, "API-WHILE-DOWN") || !strings.Contains(got, "AGENT-MEMORY") {
		t.Errorf("note after a restart = %q", got)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM memories`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// from the memory API (put as a file, never a row: its one entry
	// became a row once the agent changed the file), from OpenClaw,
	// API-MEMORY, AGENT-MEMORY, WRITTEN-WHILE-DOWN, API-WHILE-DOWN;
	// MEMORY.md's prose line is not a list item.
	if n != 6 {
		rows, _ := customerdb.ListMemories(ctx, pool, 20, 0)
		t.Errorf("%d memories, want 6: %+v", n, rows)
	}
}
