package customerdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Limits on a memory, in characters (runes).
const (
	// MaxMemoryChars bounds a memory's content.
	MaxMemoryChars = 10_000
	// MaxTags bounds the number of tags of a memory.
	MaxTags = 20
	// MaxTagChars bounds one tag.
	MaxTagChars = 64
)

// ErrInvalidMemory reports a memory that cannot be stored: empty, too long,
// with control characters, or with bad tags.
var ErrInvalidMemory = errors.New("customerdb: invalid memory")

// Memory is one thing the customer's assistant keeps.
type Memory struct {
	// ID identifies the memory; newer memories have larger ids.
	ID int64
	// Content is the text of the memory.
	Content string
	// Tags label the memory; they weigh more than the content in searches.
	Tags []string
	// NotePath is the daily note the memory was appended to
	// ("memory/YYYY-MM-DD.md").
	NotePath string
	// CreatedAt is when the memory was stored.
	CreatedAt time.Time
}

// MemoryHit is a memory found by SearchMemories.
type MemoryHit struct {
	Memory
	// Rank is the full-text relevance; larger is better. Only the order
	// of ranks within one result means anything.
	Rank float64
	// Highlight is an excerpt of the content around the matched words,
	// which are wrapped in <mark>…</mark>. Everything else is HTML-escaped,
	// so the string is safe to insert into a page as HTML.
	Highlight string
}

// Sentinels ts_headline puts around matches. Memories cannot contain control
// characters (ValidateMemory), so they only ever come from ts_headline.
const (
	markStart = "\x01"
	markStop  = "\x02"
)

// ValidateMemory returns the cleaned content and tags of a memory to store
// (content trimmed; tags trimmed, lowercased and deduplicated), or an error
// wrapping ErrInvalidMemory.
func ValidateMemory(content string, tags []string) (string, []string, error) {
	content = strings.TrimSpace(content)
	switch n := utf8.RuneCountInString(content); {
	case !utf8.ValidString(content):
		return "", nil, fmt.Errorf("%w: content is not valid UTF-8", ErrInvalidMemory)
	case n == 0:
		return "", nil, fmt.Errorf("%w: content is empty", ErrInvalidMemory)
	case n > MaxMemoryChars:
		return "", nil, fmt.Errorf("%w: content is %d characters, the limit is %d", ErrInvalidMemory, n, MaxMemoryChars)
	case hasControl(content, "\n\t"):
		return "", nil, fmt.Errorf("%w: content contains control characters", ErrInvalidMemory)
	}
	if len(tags) > MaxTags {
		return "", nil, fmt.Errorf("%w: %d tags, the limit is %d", ErrInvalidMemory, len(tags), MaxTags)
	}
	clean := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		switch n := utf8.RuneCountInString(t); {
		case n == 0:
			return "", nil, fmt.Errorf("%w: empty tag", ErrInvalidMemory)
		case n > MaxTagChars:
			return "", nil, fmt.Errorf("%w: tag of %d characters, the limit is %d", ErrInvalidMemory, n, MaxTagChars)
		case !utf8.ValidString(t) || hasControl(t, ""):
			return "", nil, fmt.Errorf("%w: tag contains control characters", ErrInvalidMemory)
		}
		if !contains(clean, t) {
			clean = append(clean, t)
		}
	}
	return content, clean, nil
}

func hasControl(s, allowed string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !strings.ContainsRune(allowed, r)
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// NotePath returns the daily note of the calendar day of t, in t's location
// (the customer's timezone): "memory/YYYY-MM-DD.md".
func NotePath(t time.Time) string { return "memory/" + t.Format(time.DateOnly) + ".md" }

// noteEntry is the Markdown bullet a memory becomes in the daily note: the
// local time, the content (continuation lines indented, so they stay in the
// bullet) and the tags.
func noteEntry(at time.Time, content string, tags []string) string {
	var b strings.Builder
	b.WriteString("- ")
	b.WriteString(at.Format("15:04"))
	b.WriteString(" ")
	b.WriteString(strings.ReplaceAll(content, "\n", "\n  "))
	if len(tags) > 0 {
		b.WriteString(" (tags: ")
		b.WriteString(strings.Join(tags, ", "))
		b.WriteString(")")
	}
	b.WriteString("\n")
	return b.String()
}

// appendNote appends an entry to a workspace file, creating it with a date
// heading first. A file not ending in a newline gets one before the entry.
const appendNote = `
INSERT INTO workspace_files (path, content, updated_at) VALUES ($1, $2 || $3, now())
ON CONFLICT (path) DO UPDATE SET
    content = workspace_files.content
        || CASE WHEN workspace_files.content = '' OR right(workspace_files.content, 1) = E'\n' THEN '' ELSE E'\n' END
        || $3,
    updated_at = now()`

// AddMemory validates and stores a memory and, in the same transaction,
// appends it to the daily note of at's calendar day (NotePath), so the
// workspace stays a faithful OpenClaw workspace. Pass at in the customer's
// timezone: it dates the note.
func AddMemory(ctx context.Context, db TxBeginner, content string, tags []string, at time.Time) (Memory, error) {
	content, tags, err := ValidateMemory(content, tags)
	if err != nil {
		return Memory{}, err
	}
	m := Memory{Content: content, Tags: tags, NotePath: NotePath(at)}
	entry := noteEntry(at, content, tags)
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		const ins = `INSERT INTO memories (content, tags, note_path, note_entry, created_at)
VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`
		if err := tx.QueryRow(ctx, ins, content, tags, m.NotePath, entry, at).Scan(&m.ID, &m.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, appendNote, m.NotePath, "# "+at.Format(time.DateOnly)+"\n\n", entry)
		return err
	})
	if err != nil {
		return Memory{}, fmt.Errorf("add memory: %w", err)
	}
	return m, nil
}

// DeleteMemory deletes a memory and removes its entry from the daily note it
// was appended to (if the entry is still there as written), or returns
// ErrNotFound.
func DeleteMemory(ctx context.Context, db TxBeginner, id int64) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var path, entry string
		err := tx.QueryRow(ctx, `DELETE FROM memories WHERE id = $1 RETURNING note_path, note_entry`, id).Scan(&path, &entry)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || entry == "" {
			return err
		}
		// Only the first occurrence: an identical entry written later
		// belongs to another memory.
		const cut = `
UPDATE workspace_files
SET content = overlay(content PLACING '' FROM strpos(content, $2) FOR length($2)), updated_at = now()
WHERE path = $1 AND strpos(content, $2) > 0`
		_, err = tx.Exec(ctx, cut, path, entry)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete memory %d: %w", id, err)
	}
	return nil
}

const memoryColumns = `id, content, tags, note_path, created_at`

func scanMemory(r pgx.CollectableRow) (Memory, error) {
	var m Memory
	err := r.Scan(&m.ID, &m.Content, &m.Tags, &m.NotePath, &m.CreatedAt)
	return m, err
}

// ListMemories returns up to limit memories, newest first, with ids below
// beforeID (0 for the first page).
func ListMemories(ctx context.Context, db DB, limit int, beforeID int64) ([]Memory, error) {
	q := `SELECT ` + memoryColumns + ` FROM memories`
	args := []any{limit}
	if beforeID > 0 {
		q += ` WHERE id < $2`
		args = append(args, beforeID)
	}
	rows, err := db.Query(ctx, q+` ORDER BY id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list memories: %w", err)
	}
	ms, err := pgx.CollectRows(rows, scanMemory)
	if err != nil {
		return nil, fmt.Errorf("list memories: %w", err)
	}
	return ms, nil
}
