package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/prompt"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// maxQueryChars bounds a search query.
const maxQueryChars = 500

// MemoryBody is a memory as the API shows it.
type MemoryBody struct {
	ID        int64     `json:"id"`
	Content   string    `json:"content"`
	Tags      []string  `json:"tags"`
	NotePath  string    `json:"note_path"`
	CreatedAt time.Time `json:"created_at"`
}

// MemoryList is a page of memories; NextCursor, when set, fetches the next.
type MemoryList struct {
	Memories   []MemoryBody `json:"memories"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// SearchHit is one search result. Highlight is HTML: the matched words in
// <mark> elements, everything else escaped.
type SearchHit struct {
	MemoryBody
	Rank      float64 `json:"rank"`
	Highlight string  `json:"highlight"`
}

// SearchResults is the answer to GET /api/memory/search.
type SearchResults struct {
	Query   string      `json:"query"`
	Results []SearchHit `json:"results"`
}

func memoryBody(m customerdb.Memory) MemoryBody {
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	return MemoryBody{ID: m.ID, Content: m.Content, Tags: tags, NotePath: m.NotePath, CreatedAt: m.CreatedAt}
}

// addMemory answers POST /api/memory {"content", "tags"} with 201 and the
// memory. It is also appended to today's daily note, dated in the
// customer's timezone (from USER.md).
func addMemory(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Content string   `json:"content"`
			Tags    []string `json:"tags"`
		}
		if !decode(w, r, &req) {
			return
		}
		if _, _, err := customerdb.ValidateMemory(req.Content, req.Tags); err != nil {
			status := http.StatusBadRequest
			if n := utf8.RuneCountInString(strings.TrimSpace(req.Content)); n > customerdb.MaxMemoryChars {
				status = http.StatusRequestEntityTooLarge
			}
			respond.Error(w, status, strings.TrimPrefix(err.Error(), customerdb.ErrInvalidMemory.Error()+": "))
			return
		}
		loc := time.UTC
		files, err := customerdb.ReadFiles(r.Context(), o.DB, "USER.md")
		if err != nil {
			internalError(w, o, "read USER.md", err)
			return
		}
		if len(files) == 1 {
			loc = prompt.Timezone(files[0].Content)
		}
		m, err := customerdb.AddMemory(r.Context(), o.DB, req.Content, req.Tags, o.Now().In(loc))
		if customerdb.IsStorageFull(err) {
			respond.Error(w, http.StatusInsufficientStorage, storageFullMessage)
			return
		}
		if err != nil {
			internalError(w, o, "add memory", err)
			return
		}
		respond.JSON(w, http.StatusCreated, memoryBody(m))
	})
}

// listMemories answers GET /api/memory?limit=&cursor=, newest first.
func listMemories(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := limitParam(w, r)
		if !ok {
			return
		}
		var before int64
		if v := r.URL.Query().Get("cursor"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				respond.Error(w, http.StatusBadRequest, "cursor is not one this API returned")
				return
			}
			before = n
		}
		ms, err := customerdb.ListMemories(r.Context(), o.DB, limit+1, before)
		if err != nil {
			internalError(w, o, "list memories", err)
			return
		}
		out := MemoryList{Memories: []MemoryBody{}}
		for i, m := range ms {
			if i == limit {
				out.NextCursor = strconv.FormatInt(ms[limit-1].ID, 10)
				break
			}
			out.Memories = append(out.Memories, memoryBody(m))
		}
		respond.JSON(w, http.StatusOK, out)
	})
}

// searchMemories answers GET /api/memory/search?q=&limit=: web-search
// syntax, all words first, any word when nothing has them all.
func searchMemories(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := strings.TrimSpace(r.URL.Query().Get("q"))
		switch n := utf8.RuneCountInString(q); {
		case n == 0:
			respond.Error(w, http.StatusBadRequest, "q is required: the words to search for")
			return
		case n > maxQueryChars || !utf8.ValidString(q) || strings.ContainsRune(q, 0):
			respond.Error(w, http.StatusBadRequest, fmt.Sprintf("q must be valid text of at most %d characters", maxQueryChars))
			return
		}
		limit, ok := limitParam(w, r)
		if !ok {
			return
		}
		hits, err := customerdb.SearchMemories(r.Context(), o.DB, q, limit)
		if err != nil {
			internalError(w, o, "search memories", err)
			return
		}
		out := SearchResults{Query: q, Results: make([]SearchHit, len(hits))}
		for i, h := range hits {
			out.Results[i] = SearchHit{MemoryBody: memoryBody(h.Memory), Rank: h.Rank, Highlight: h.Highlight}
		}
		respond.JSON(w, http.StatusOK, out)
	})
}

// deleteMemory answers DELETE /api/memory/{id} with 204, also removing the
// memory's entry from its daily note.
func deleteMemory(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			respond.Error(w, http.StatusNotFound, "memory not found")
			return
		}
		err = customerdb.DeleteMemory(r.Context(), o.DB, id)
		switch {
		case errors.Is(err, customerdb.ErrNotFound):
			respond.Error(w, http.StatusNotFound, "memory not found")
		case err != nil:
			internalError(w, o, "delete memory", err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}
