package customerdb

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func readFile(t *testing.T, db DB, path string) string {
	t.Helper()
	files, err := ReadFiles(t.Context(), db, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		return ""
	}
	return files[0].Content
}

func TestAddMemoryAppendsToDailyNote(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 UTC on March 9 is already March 10 in Berlin: the note is dated
	// in the customer's zone.
	at := time.Date(2026, 3, 9, 23, 30, 0, 0, time.UTC).In(berlin)
	m1, err := AddMemory(ctx, pool, "  Prefers tea over coffee  ", []string{"Food", "food", " drinks "}, at)
	if err != nil {
		t.Fatal(err)
	}
	if m1.NotePath != "memory/2026-03-10.md" || m1.Content != "Prefers tea over coffee" {
		t.Errorf("memory = %+v", m1)
	}
	if diff := cmp.Diff([]string{"food", "drinks"}, m1.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	m2, err := AddMemory(ctx, pool, "Shopping list:\nmilk\n# not a heading", nil, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := "# 2026-03-10\n\n" +
		"- 00:30 Prefers tea over coffee (tags: food, drinks)\n" +
		"- 00:31 Shopping list:\n  milk\n  # not a heading\n"
	if got := readFile(t, pool, m1.NotePath); got != want {
		t.Errorf("daily note:\n%s\nwant:\n%s", got, want)
	}

	// A note the workspace service wrote (without a final newline) is
	// appended to, not overwritten.
	other := time.Date(2026, 3, 11, 9, 0, 0, 0, berlin)
	if err := PutFiles(ctx, pool, File{NotePath(other), "# 2026-03-11\n\n- Workspace created"}); err != nil {
		t.Fatal(err)
	}
	if _, err := AddMemory(ctx, pool, "Dentist on Friday", nil, other); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, pool, NotePath(other)), "# 2026-03-11\n\n- Workspace created\n- 09:00 Dentist on Friday\n"; got != want {
		t.Errorf("appended note = %q, want %q", got, want)
	}

	// Deleting removes the memory and its entry.
	if err := DeleteMemory(ctx, pool, m1.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, pool, m1.NotePath), "# 2026-03-10\n\n- 00:31 Shopping list:\n  milk\n  # not a heading\n"; got != want {
		t.Errorf("note after delete = %q, want %q", got, want)
	}
	if err := DeleteMemory(ctx, pool, m1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
	ms, err := ListMemories(ctx, pool, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[1].ID != m2.ID {
		t.Errorf("memories = %+v", ms)
	}
}

func TestValidateMemory(t *testing.T) {
	many := make([]string, MaxTags+1)
	for i := range many {
		many[i] = string(rune('a' + i))
	}
	for _, tc := range []struct {
		name    string
		content string
		tags    []string
	}{
		{"empty", "   ", nil},
		{"too long", strings.Repeat("é", MaxMemoryChars+1), nil},
		{"control character", "a\x01b", nil},
		{"invalid utf-8", "a\xffb", nil},
		{"empty tag", "ok", []string{" "}},
		{"long tag", "ok", []string{strings.Repeat("t", MaxTagChars+1)}},
		{"tag with newline", "ok", []string{"a\nb"}},
		{"too many tags", "ok", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ValidateMemory(tc.content, tc.tags); !errors.Is(err, ErrInvalidMemory) {
				t.Errorf("ValidateMemory = %v, want ErrInvalidMemory", err)
			}
		})
	}
	if _, _, err := ValidateMemory(strings.Repeat("é", MaxMemoryChars-3)+"\n\tx", []string{"fine"}); err != nil {
		t.Errorf("a memory at the limit: %v", err)
	}
}

func TestListMemoriesPages(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []int64
	for i := range 5 {
		m, err := AddMemory(ctx, pool, strings.Repeat("x", i+1), nil, at)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	var got []int64
	var before int64
	for {
		page, err := ListMemories(ctx, pool, 2, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			got = append(got, m.ID)
		}
		before = page[len(page)-1].ID
	}
	want := []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged ids (-want +got):\n%s", diff)
	}
}
