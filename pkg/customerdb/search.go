package customerdb

import (
	"context"
	"fmt"
	"html"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Full-text queries over memories. Both use the English configuration of
// the memories' search column (memory_search_vector in 0002_runtime.sql).
const (
	// allWords is web-search syntax ("quoted phrases", or, -exclusion), all
	// words required.
	allWords = `websearch_to_tsquery('pg_catalog.english', $1)`
	// anyWord matches memories with any of the words of $1. plainto_tsquery
	// normalises the words and quotes the lexemes; its '&'s become '|'s.
	anyWord = `replace(plainto_tsquery('pg_catalog.english', $1)::text, ' & ', ' | ')::tsquery`
)

// headlineOptions shape the highlight of a search hit: up to two fragments of
// the content around the matches, marked with the sentinels.
const headlineOptions = `StartSel=` + markStart + `, StopSel=` + markStop +
	`, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=" … "`

// maxCandidates bounds how many matching memories one search ranks.
// Ranking costs about a microsecond and a half per match, so a query
// matching a large part of 100,000 memories would otherwise take tens of
// milliseconds. Past the cap the first matches the index yields (roughly the
// oldest) are ranked; such a broad query needs more words anyway.
const maxCandidates = 2000

// searchQuery ranks the memories matching the tsquery expression (the
// second %s) and returns the best $2 with their highlights (the first %s,
// or an empty string). Ranking is cover density normalised by document
// length (shorter, focused memories first), tags weighing 2.5 times the
// content; ties go to the newer memory. Highlights are computed for the
// returned rows only. OFFSET 0 keeps the tsquery a computed-once subquery
// rather than an expression inlined into every row's recheck.
const searchQuery = `
SELECT m.id, m.content, m.tags, m.note_path, m.created_at, r.rank, %s
FROM (
    SELECT c.id, c.q, ts_rank_cd(c.search, c.q, 1) AS rank
    FROM (SELECT id, search, query.q FROM memories, (SELECT %s AS q OFFSET 0) query WHERE search @@ query.q LIMIT $3) c
    ORDER BY rank DESC, c.id DESC
    LIMIT $2
) r JOIN memories m ON m.id = r.id
ORDER BY r.rank DESC, r.id DESC`

// SearchMemories finds the limit memories most relevant to a search query
// typed by a person (web-search syntax: words, "phrases", or, -word). Memories
// with all the words come first; when none has them all, memories with any
// of them are returned instead. A query of stop words only finds nothing.
func SearchMemories(ctx context.Context, db DB, query string, limit int) ([]MemoryHit, error) {
	hits, err := search(ctx, db, allWords, query, limit, true)
	if err == nil && len(hits) == 0 {
		hits, err = search(ctx, db, anyWord, query, limit, true)
	}
	if err != nil {
		return nil, fmt.Errorf("search memories: %w", err)
	}
	return hits, nil
}

// RelevantMemories returns the limit memories that share the most with
// text (a chat message): any of its words counts, and memories with more of
// them, or with them as tags, rank higher.
func RelevantMemories(ctx context.Context, db DB, text string, limit int) ([]Memory, error) {
	hits, err := search(ctx, db, anyWord, text, limit, false)
	if err != nil {
		return nil, fmt.Errorf("find memories relevant to the message: %w", err)
	}
	ms := make([]Memory, len(hits))
	for i, h := range hits {
		ms[i] = h.Memory
	}
	return ms, nil
}

// headline is the highlight column of searchQuery; highlighting is the
// costliest part of a search, so only searches shown to people do it.
const headline = `ts_headline('pg_catalog.english', m.content, r.q, '` + headlineOptions + `')`

func search(ctx context.Context, db DB, tsquery, text string, limit int, highlight bool) ([]MemoryHit, error) {
	hl := "''"
	if highlight {
		hl = headline
	}
	rows, err := db.Query(ctx, fmt.Sprintf(searchQuery, hl, tsquery), text, limit, maxCandidates)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MemoryHit, error) {
		var h MemoryHit
		var rank float32
		var headline string
		err := r.Scan(&h.ID, &h.Content, &h.Tags, &h.NotePath, &h.CreatedAt, &rank, &headline)
		h.Rank, h.Highlight = float64(rank), highlightHTML(headline)
		return h, err
	})
}

// highlightHTML turns a ts_headline result with sentinel marks into HTML:
// text escaped, matches in <mark> elements.
func highlightHTML(headline string) string {
	var b strings.Builder
	for {
		start := strings.Index(headline, markStart)
		if start < 0 {
			b.WriteString(html.EscapeString(headline))
			return b.String()
		}
		b.WriteString(html.EscapeString(headline[:start]))
		rest := headline[start+len(markStart):]
		stop := strings.Index(rest, markStop)
		if stop < 0 {
			stop = len(rest)
		}
		b.WriteString("<mark>" + html.EscapeString(rest[:stop]) + "</mark>")
		headline = strings.TrimPrefix(rest[stop:], markStop)
	}
}
