package runtime_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/httpapi"
)

func TestMemoryAPI(t *testing.T) {
	// 23:30 UTC on June 1 is already June 2 in Berlin: the daily note is
	// dated in the customer's zone, from USER.md.
	now := time.Date(2026, 6, 1, 23, 30, 0, 0, time.UTC)
	in := startInstance(t, "cus_MEMORY", plans.Starter, withOptions(runtime.Options{Now: func() time.Time { return now }}))
	key := in.addKey(t)
	starter, _ := plans.Lookup(plans.Starter)
	in.putFiles(t, workspace(t, now, "Europe/Berlin", starter)...)
	note := "memory/2026-06-02.md"
	before := in.readFile(t, note)
	if !strings.Contains(before, todayMarker) {
		t.Fatalf("fixture's today note is not %s", note)
	}

	corpus := []struct {
		content string
		tags    []string
	}{
		{"My sister Anna lives in Lisbon and works as an architect.", []string{"family"}},
		{"Allergic to peanuts; always check restaurant menus.", []string{"health"}},
		{"Project Falcon: migrate billing to Postgres by Q3.", []string{"work"}},
		{"Mum's birthday is 12 September; she likes orchids.", []string{"family", "birthdays"}},
		{"Prefers oat milk flat white, no sugar.", nil},
	}
	var ids []int64
	for _, c := range corpus {
		var m httpapi.MemoryBody
		in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": c.content, "tags": c.tags}, http.StatusCreated, &m)
		if m.ID == 0 || m.NotePath != note || m.Content != c.content {
			t.Fatalf("created %+v", m)
		}
		ids = append(ids, m.ID)
	}
	after := in.readFile(t, note)
	if !strings.HasPrefix(after, before) || !strings.Contains(after, "- 01:30 My sister Anna lives in Lisbon and works as an architect. (tags: family)\n") {
		t.Errorf("daily note after adding memories:\n%s", after)
	}

	// Search: ranked, highlighted.
	var res httpapi.SearchResults
	in.call(t, http.MethodGet, "/api/memory/search?q="+url.QueryEscape("where does my sister live"), key, nil, http.StatusOK, &res)
	if len(res.Results) == 0 || res.Results[0].ID != ids[0] {
		t.Fatalf("search results %+v, want the sister first", res.Results)
	}
	if h := res.Results[0].Highlight; !strings.Contains(h, "<mark>sister</mark>") || !strings.Contains(h, "<mark>lives</mark>") {
		t.Errorf("highlight = %q", h)
	}
	in.call(t, http.MethodGet, "/api/memory/search?q=birthday+orchids", key, nil, http.StatusOK, &res)
	if len(res.Results) != 1 || res.Results[0].ID != ids[3] {
		t.Errorf("birthday search = %+v", res.Results)
	}
	in.call(t, http.MethodGet, "/api/memory/search?q=zebra", key, nil, http.StatusOK, &res)
	if len(res.Results) != 0 {
		t.Errorf("zebra search = %+v", res.Results)
	}

	// List, paginated, newest first.
	var got []int64
	cursor := ""
	for range 10 {
		var page httpapi.MemoryList
		in.call(t, http.MethodGet, "/api/memory?limit=2&cursor="+cursor, key, nil, http.StatusOK, &page)
		for _, m := range page.Memories {
			got = append(got, m.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if fmt.Sprint(got) != fmt.Sprint([]int64{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Errorf("paged list = %v", got)
	}

	// Delete: gone from the list, the search and the daily note.
	in.call(t, http.MethodDelete, fmt.Sprintf("/api/memory/%d", ids[0]), key, nil, http.StatusNoContent, nil)
	in.call(t, http.MethodDelete, fmt.Sprintf("/api/memory/%d", ids[0]), key, nil, http.StatusNotFound, nil)
	in.call(t, http.MethodDelete, "/api/memory/abc", key, nil, http.StatusNotFound, nil)
	if strings.Contains(in.readFile(t, note), "Anna") {
		t.Error("deleted memory still in the daily note")
	}
	in.call(t, http.MethodGet, "/api/memory/search?q=sister", key, nil, http.StatusOK, &res)
	if len(res.Results) != 0 {
		t.Errorf("deleted memory still found: %+v", res.Results)
	}
	var n int
	if err := in.pool.QueryRow(t.Context(), "SELECT count(*) FROM memories").Scan(&n); err != nil || n != 4 {
		t.Errorf("%d memories left, %v", n, err)
	}
}

func TestMemoryAPIRejects(t *testing.T) {
	in := startInstance(t, "cus_MEMBAD", plans.Starter)
	key := in.addKey(t)
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		want         string
	}{
		{http.MethodPost, "/api/memory", map[string]any{"content": ""}, http.StatusBadRequest, "content is empty"},
		{http.MethodPost, "/api/memory", map[string]any{"content": strings.Repeat("x", customerdb.MaxMemoryChars+1)}, http.StatusRequestEntityTooLarge, "limit is 10000"},
		{http.MethodPost, "/api/memory", map[string]any{"content": "ok", "tags": []string{""}}, http.StatusBadRequest, "empty tag"},
		{http.MethodPost, "/api/memory", map[string]any{"content": "ok", "tags": "family"}, http.StatusBadRequest, `field "tags" must be a JSON array`},
		{http.MethodPost, "/api/memory", map[string]any{"content": "bell\x07"}, http.StatusBadRequest, "control characters"},
		{http.MethodGet, "/api/memory/search", nil, http.StatusBadRequest, "q is required"},
		{http.MethodGet, "/api/memory/search?q=" + strings.Repeat("a", 501), nil, http.StatusBadRequest, "at most 500"},
		{http.MethodGet, "/api/memory?limit=0", nil, http.StatusBadRequest, "limit must be"},
		{http.MethodGet, "/api/memory?limit=101", nil, http.StatusBadRequest, "limit must be"},
		{http.MethodGet, "/api/memory?cursor=x", nil, http.StatusBadRequest, "cursor"},
		{http.MethodGet, "/api/conversations?cursor=x", nil, http.StatusBadRequest, "cursor"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, raw := in.do(t, tc.method, tc.path, key, tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(jsonField(t, string(raw), "error"), tc.want) {
				t.Fatalf("status %d %s, want %d mentioning %q", resp.StatusCode, raw, tc.status, tc.want)
			}
		})
	}
}
