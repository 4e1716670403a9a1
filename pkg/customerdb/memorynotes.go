package customerdb

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Memory files are where OpenClaw keeps its memory: MEMORY.md (long-term,
// curated) and memory/*.md (daily notes, where AddMemory appends too). The
// rule that keeps them and the memories table one set:
//
//   - A memory is a top-level Markdown list item of a memory file (with its
//     continuation and nested lines). Headings and paragraphs are the
//     file's prose, not memories.
//   - The memory API writes a row and its list item together (AddMemory,
//     DeleteMemory), so its memories are rows and entries at once.
//   - When the agent changes a memory file, StoreMemoryFile merges its
//     version with the database's entry by entry and makes the file's rows
//     follow the result: an entry without a row gets one (so GET and search
//     of /api/memory find it), a row whose entry is no longer in the file
//     is deleted (the agent edited or removed it; its new text is a new
//     row). Rows are matched to entries by their exact text (note_entry),
//     counted, so a sync that changes nothing adds nothing.
//   - Both sides changed the file since they last agreed: the database's
//     version is kept with the agent's additions and removals applied on
//     top, so neither the memory API's nor the agent's edit is lost.

// IsMemoryFile reports whether p (slash-separated, relative to the
// workspace) is a memory file: MEMORY.md or memory/<name>.md.
func IsMemoryFile(p string) bool {
	if p == "MEMORY.md" {
		return true
	}
	dir, file := path.Split(p)
	return dir == "memory/" && strings.HasSuffix(file, ".md") && len(file) > len(".md")
}

// noteBlock is one block of a memory file: a heading line, a list item
// (an entry: a memory), or a paragraph, with the blank lines after it.
type noteBlock struct {
	raw   string // the block's text as in the file, trailing blank lines included
	key   string // raw without trailing blank space: what identifies it
	entry bool   // a top-level list item
}

// listItem reports whether line begins a list item at the top level
// ("- ", "* ", "+ ", "1. ", "1) ", indented at most three spaces).
func listItem(line string) bool {
	s := strings.TrimLeft(line, " ")
	if len(line)-len(s) > 3 {
		return false
	}
	if len(s) >= 2 && strings.ContainsRune("-*+", rune(s[0])) && (s[1] == ' ' || s[1] == '\t') {
		return true
	}
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(s) && (s[i] == '.' || s[i] == ')') && (s[i+1] == ' ' || s[i+1] == '\t')
}

// parseNote splits a memory file into blocks whose raw texts, joined, are
// the file again. Blank lines belong to the block before them (a leading
// run of them is a block of its own, with an empty key).
func parseNote(content string) []noteBlock {
	var blocks []noteBlock
	var cur *noteBlock
	heading, blankRun := false, false
	flush := func() {
		if cur != nil {
			cur.key = strings.TrimRightFunc(cur.raw, unicode.IsSpace)
			blocks = append(blocks, *cur)
			cur = nil
		}
	}
	start := func(line string, entry bool) {
		flush()
		cur = &noteBlock{raw: line, entry: entry}
		heading, blankRun = false, false
	}
	for _, line := range strings.SplitAfter(content, "\n") {
		if line == "" {
			continue
		}
		text := strings.TrimRight(line, "\r\n")
		indented := strings.HasPrefix(text, "  ") || strings.HasPrefix(text, "\t")
		switch {
		case strings.TrimSpace(text) == "":
			if cur == nil {
				cur = &noteBlock{}
			}
			cur.raw += line
			blankRun = true
		case strings.HasPrefix(strings.TrimLeft(text, " "), "#") && !indented:
			start(line, false)
			heading = true
		case cur != nil && cur.entry && indented:
			// The item's continuation: nested items, its next paragraphs.
			cur.raw += line
		case listItem(text):
			start(line, true)
		case cur != nil && cur.entry && !blankRun,
			cur != nil && !cur.entry && !heading && !blankRun && cur.raw != "":
			// The item's lazy continuation right below it, or the
			// paragraph's next line.
			cur.raw += line
		default:
			start(line, false)
		}
	}
	flush()
	return blocks
}

// noteEntries returns the entries (memories) of a memory file: the raw text
// of each top-level list item.
func noteEntries(content string) []noteBlock {
	var out []noteBlock
	for _, b := range parseNote(content) {
		if b.entry {
			out = append(out, b)
		}
	}
	return out
}

// entryContent is the memory an entry holds: its text without the list
// marker and the continuation lines' indentation, made a valid memory
// (control characters dropped, cut at MaxMemoryChars).
func entryContent(raw string) string {
	lines := strings.Split(strings.TrimRightFunc(raw, unicode.IsSpace), "\n")
	first := strings.TrimLeft(lines[0], " ")
	if i := strings.IndexAny(first, " \t"); i >= 0 {
		first = first[i+1:]
	}
	lines[0] = first
	for i := 1; i < len(lines); i++ {
		lines[i] = strings.TrimPrefix(strings.TrimPrefix(lines[i], "  "), "\t")
	}
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, strings.Join(lines, "\n"))
	s = strings.ToValidUTF8(strings.TrimSpace(s), "")
	if utf8.RuneCountInString(s) > MaxMemoryChars {
		s = string([]rune(s)[:MaxMemoryChars])
	}
	return strings.TrimSpace(s)
}

// MergeNote merges two versions of a memory file that both changed since
// base, block by block: ours (the database's) with the blocks theirs (the
// agent's) added since base inserted after the block they follow in theirs,
// and the blocks theirs removed since base taken out. Without a base
// (haveBase false: the runtime restarted and does not know what both last
// saw) nothing is taken out: the result is ours plus what only theirs has.
func MergeNote(base string, haveBase bool, ours, theirs string) string {
	if !haveBase {
		base = ""
	}
	count := func(blocks []noteBlock) map[string]int {
		m := map[string]int{}
		for _, b := range blocks {
			m[b.key]++
		}
		return m
	}
	bb, ob, tb := parseNote(base), parseNote(ours), parseNote(theirs)
	baseN, theirsN := count(bb), count(tb)

	// Removed by the agent: as many of each block as base has more of.
	removed := map[string]int{}
	if haveBase {
		for k, n := range baseN {
			if d := n - theirsN[k]; d > 0 {
				removed[k] = d
			}
		}
	}
	result := make([]noteBlock, 0, len(ob)+len(tb))
	for _, b := range ob {
		if removed[b.key] > 0 {
			removed[b.key]--
			continue
		}
		result = append(result, b)
	}
	// Added by the agent: the blocks theirs has more of than base, each
	// placed after the block before it in theirs, unless ours has it.
	resultN := count(result)
	seen := map[string]int{}
	anchor := -1 // where in result the previous block of theirs is
	for _, b := range tb {
		seen[b.key]++
		added := seen[b.key] > baseN[b.key] && resultN[b.key] < theirsN[b.key]
		if !added {
			if i := indexOf(result, b.key, anchor+1); i >= 0 {
				anchor = i
			}
			continue
		}
		if anchor >= 0 && !strings.HasSuffix(result[anchor].raw, "\n") {
			result[anchor].raw += "\n"
		}
		result = append(result[:anchor+1], append([]noteBlock{b}, result[anchor+1:]...)...)
		anchor++
		resultN[b.key]++
	}
	var sb strings.Builder
	for i, b := range result {
		sb.WriteString(b.raw)
		if i < len(result)-1 && !strings.HasSuffix(b.raw, "\n") {
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

// indexOf is the index of the first block of blocks at or after from whose
// key is key, or -1.
func indexOf(blocks []noteBlock, key string, from int) int {
	for i := max(from, 0); i < len(blocks); i++ {
		if blocks[i].key == key {
			return i
		}
	}
	return -1
}

// ErrNotMemoryFile is returned by StoreMemoryFile for a path that is not a
// memory file.
var ErrNotMemoryFile = errors.New("customerdb: not a memory file")

// StoreMemoryFile stores the agent's version of the memory file p and
// returns what the file is now (see the rule above): the agent's version
// when the database's is still base, else their merge (MergeNote). In the
// same transaction the memories of p follow its entries: a row for each
// entry that has none, no row for an entry that is gone. base is the
// version the agent's copy started from (haveBase false if unknown).
func StoreMemoryFile(ctx context.Context, db TxBeginner, p string, base string, haveBase bool, agent string) (string, error) {
	if !IsMemoryFile(p) {
		return "", fmt.Errorf("%w: %q", ErrNotMemoryFile, p)
	}
	var stored string
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var ours string
		var exists bool
		err := tx.QueryRow(ctx, `SELECT content FROM workspace_files WHERE path = $1 FOR UPDATE`, p).Scan(&ours)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			exists = true
		}
		switch {
		case !exists || haveBase && ours == base || ours == agent:
			stored = agent
		default:
			stored = MergeNote(base, haveBase, ours, agent)
		}
		if !exists || stored != ours {
			if _, err := tx.Exec(ctx, upsertFiles, []string{p}, []string{stored}); err != nil {
				return err
			}
		}
		return syncNoteRows(ctx, tx, p, stored)
	})
	if err != nil {
		return "", fmt.Errorf("store memory file %s: %w", p, err)
	}
	return stored, nil
}

// syncNoteRows makes the memories of note p the entries of content.
func syncNoteRows(ctx context.Context, tx pgx.Tx, p, content string) error {
	want := map[string]int{}
	entries := noteEntries(content)
	for _, e := range entries {
		want[e.key]++
	}
	rows, err := tx.Query(ctx, `SELECT id, note_entry FROM memories WHERE note_path = $1 AND note_entry <> '' ORDER BY id`, p)
	if err != nil {
		return err
	}
	type row struct {
		id    int64
		entry string
	}
	have, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.entry)
	})
	if err != nil {
		return err
	}
	var gone []int64
	for _, r := range have {
		k := strings.TrimRightFunc(r.entry, unicode.IsSpace)
		if want[k] > 0 {
			want[k]--
			continue
		}
		gone = append(gone, r.id)
	}
	if len(gone) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM memories WHERE id = ANY($1)`, gone); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if want[e.key] == 0 {
			continue
		}
		want[e.key]--
		c := entryContent(e.raw)
		if c == "" {
			continue
		}
		// The entry as DeleteMemory cuts it out: with its line end, without
		// the blank lines after it.
		entry := e.key
		if len(e.raw) > len(e.key) && e.raw[len(e.key)] == '\n' {
			entry += "\n"
		}
		const ins = `INSERT INTO memories (content, note_path, note_entry) VALUES ($1, $2, $3)`
		if _, err := tx.Exec(ctx, ins, c, p, entry); err != nil {
			return err
		}
	}
	return nil
}
