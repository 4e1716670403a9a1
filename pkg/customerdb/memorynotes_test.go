package customerdb

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseNote(t *testing.T) {
	tests := []struct {
		name    string
		content string
		entries []string
	}{
		{"empty", "", nil},
		{"api note", "# 2026-12-05\n\n- 14:05 likes tea (tags: food)\n- 14:06 two\n  lines\n", []string{"- 14:05 likes tea (tags: food)", "- 14:06 two\n  lines"}},
		{"prose is not a memory", "# MEMORY.md\n\nThe curated version.\nSecond line.\n\n## About\n\n- Signed up.\n\n## People\n", []string{"- Signed up."}},
		{"nested and numbered", "* top\n  - nested\n1. first\n2) second\nlazy line\n\n - one space\n", []string{"* top\n  - nested", "1. first", "2) second\nlazy line", " - one space"}},
		{"indented code is no heading", "- item\n  # not a heading\n", []string{"- item\n  # not a heading"}},
		{"no final newline", "\n\n- a\n- b", []string{"- a", "- b"}},
		{"crlf", "- a\r\n- b\r\n", []string{"- a", "- b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var joined strings.Builder
			for _, b := range parseNote(tt.content) {
				joined.WriteString(b.raw)
			}
			if joined.String() != tt.content {
				t.Errorf("blocks joined = %q, want the file back %q", joined.String(), tt.content)
			}
			var got []string
			for _, e := range noteEntries(tt.content) {
				got = append(got, e.key)
			}
			if diff := cmp.Diff(tt.entries, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseNote(f *testing.F) {
	f.Add("# d\n\n- a\n  b\n\npara\n- c")
	f.Fuzz(func(t *testing.T, content string) {
		var joined strings.Builder
		for _, b := range parseNote(content) {
			joined.WriteString(b.raw)
		}
		if joined.String() != content {
			t.Fatalf("blocks joined = %q, want %q", joined.String(), content)
		}
		_ = MergeNote(content, true, content+"- x\n", "- y\n"+content)
	})
}

func TestMergeNote(t *testing.T) {
	tests := []struct {
		name               string
		base               string
		haveBase           bool
		ours, theirs, want string
	}{
		{"both append", "# d\n\n- a\n", true, "# d\n\n- a\n- api\n", "# d\n\n- a\n- agent\n", "# d\n\n- a\n- agent\n- api\n"},
		{"agent removes, api adds", "- a\n- b\n", true, "- a\n- b\n- c\n", "- a\n", "- a\n- c\n"},
		{"agent edits, api adds", "- a\n- b\n", true, "- a\n- b\n- c\n", "- a\n- B, edited\n", "- a\n- B, edited\n- c\n"},
		{"same addition on both sides", "- a\n", true, "- a\n- same\n", "- a\n- same\n", "- a\n- same\n"},
		{"agent adds under a heading", "# A\n- a\n# B\n- b\n", true, "# A\n- a\n# B\n- b\n- api\n", "# A\n- a\n- a2\n# B\n- b\n", "# A\n- a\n- a2\n# B\n- b\n- api\n"},
		{"no base: union, nothing removed", "", false, "- a\n- c\n", "- a\n- old\n", "- a\n- old\n- c\n"},
		{"no final newline", "- a", true, "- a\n- api", "- a\n- agent", "- a\n- agent\n- api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MergeNote(tt.base, tt.haveBase, tt.ours, tt.theirs); got != tt.want {
				t.Errorf("MergeNote = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsMemoryFile(t *testing.T) {
	for p, want := range map[string]bool{
		"MEMORY.md": true, "memory/2026-12-05.md": true, "memory/projects.md": true,
		"memory/.md": false, "memory/a/b.md": false, "AGENTS.md": false, "memory/x.txt": false, "sub/MEMORY.md": false,
	} {
		if got := IsMemoryFile(p); got != want {
			t.Errorf("IsMemoryFile(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestStoreMemoryFile: what the agent writes in a memory file becomes
// memories the API lists and searches, once however often it is stored; an
// edit on each side between two syncs keeps both; the agent's edit of an
// entry replaces its memory, and deleting that memory through the API
// takes it out of the file.
func TestStoreMemoryFile(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	at := time.Date(2026, 12, 5, 14, 5, 0, 0, time.UTC)
	note := NotePath(at)
	if _, err := AddMemory(ctx, pool, "the cat is called Turing", []string{"pets"}, at); err != nil {
		t.Fatal(err)
	}
	base := readFile(t, pool, note)

	// The agent appends an entry to today's note.
	agent := base + "- OpenClaw noted: the user likes green tea\n"
	stored, err := StoreMemoryFile(ctx, pool, note, base, true, agent)
	if err != nil {
		t.Fatal(err)
	}
	if stored != agent || readFile(t, pool, note) != agent {
		t.Errorf("stored %q, file %q; want the agent's version %q", stored, readFile(t, pool, note), agent)
	}
	hits, err := SearchMemories(ctx, pool, "green tea", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Content != "OpenClaw noted: the user likes green tea" || hits[0].NotePath != note {
		t.Fatalf("search for the agent's memory = %+v", hits)
	}
	// Stored again (every sync): nothing added.
	for range 2 {
		if _, err := StoreMemoryFile(ctx, pool, note, stored, true, stored); err != nil {
			t.Fatal(err)
		}
	}
	if n := countMemories(t, pool); n != 2 {
		t.Errorf("%d memories after storing the same file again, want 2", n)
	}

	// Both sides change it before the next sync: the API adds a memory,
	// the agent edits its own entry. Both edits are kept.
	if _, err := AddMemory(ctx, pool, "dentist on Friday", nil, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(stored, "green tea", "jasmine tea", 1)
	merged, err := StoreMemoryFile(ctx, pool, note, stored, true, edited)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the cat is called Turing", "dentist on Friday", "jasmine tea"} {
		if !strings.Contains(merged, want) {
			t.Errorf("merged note %q lost %q", merged, want)
		}
	}
	if strings.Contains(merged, "green tea") {
		t.Errorf("merged note %q kept the agent's old text", merged)
	}
	ms, err := ListMemories(ctx, pool, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var contents []string
	for _, m := range ms {
		contents = append(contents, m.Content)
	}
	want := []string{"OpenClaw noted: the user likes jasmine tea", "dentist on Friday", "the cat is called Turing"}
	if diff := cmp.Diff(want, contents); diff != "" {
		t.Errorf("memories (-want +got):\n%s", diff)
	}

	// Deleting the agent's memory through the API takes it out of the note.
	if err := DeleteMemory(ctx, pool, ms[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, pool, note); strings.Contains(got, "jasmine") || !strings.Contains(got, "dentist") {
		t.Errorf("note after deleting the agent's memory = %q", got)
	}

	// MEMORY.md: its bullets are memories, its prose is not.
	long := "# MEMORY.md\n\nThe curated version of what you know.\n\n## About\n\n- Signed up on the Team plan.\n\n## Preferences\n\n- Answers in French.\n"
	if _, err := StoreMemoryFile(ctx, pool, "MEMORY.md", "", false, long); err != nil {
		t.Fatal(err)
	}
	hits, err = SearchMemories(ctx, pool, "French", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Content != "Answers in French." || hits[0].NotePath != "MEMORY.md" {
		t.Errorf("search in MEMORY.md = %+v", hits)
	}
	if hits, _ := SearchMemories(ctx, pool, "curated", 10); len(hits) != 0 {
		t.Errorf("MEMORY.md's prose became a memory: %+v", hits)
	}

	if _, err := StoreMemoryFile(ctx, pool, "AGENTS.md", "", false, "- x\n"); !errors.Is(err, ErrNotMemoryFile) {
		t.Errorf("StoreMemoryFile(AGENTS.md) = %v, want ErrNotMemoryFile", err)
	}
}

func countMemories(t *testing.T, db DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM memories`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
