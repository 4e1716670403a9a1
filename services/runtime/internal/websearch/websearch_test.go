package websearch

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/services/runtime/internal/tools"
)

func TestSearXNG(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/search" || r.URL.Query().Get("format") != "json" || r.URL.Query().Get("q") != "lisbon weather" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"query": "lisbon weather", "number_of_results": 3, "results": []any{
			map[string]any{"title": "Lisbon", "url": "https://a.example/", "content": "Sunny", "engine": "x", "score": 1.0},
			map[string]any{"title": "IPMA", "url": "https://b.example/", "content": "Forecast", "engine": "y", "score": 0.5},
			map[string]any{"title": "Third", "url": "https://c.example/", "content": "More"},
		}})
	}))
	defer srv.Close()
	got, err := (&SearXNG{BaseURL: srv.URL + "/"}).Search(t.Context(), "lisbon weather", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []tools.SearchResult{{Title: "Lisbon", URL: "https://a.example/", Snippet: "Sunny"}, {Title: "IPMA", URL: "https://b.example/", Snippet: "Forecast"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestBrave(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Subscription-Token") != "brv-key" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("q") != "go generics" || r.URL.Query().Get("count") != "8" {
			http.Error(w, "bad query", http.StatusUnprocessableEntity)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "search", "web": map[string]any{"type": "search", "results": []any{
			map[string]any{"title": "<strong>Go</strong> generics", "url": "https://go.dev/doc/tutorial/generics", "description": "Tutorial: <strong>generics</strong>"},
		}}})
	}))
	defer srv.Close()
	got, err := (&Brave{APIKey: "brv-key", URL: srv.URL}).Search(t.Context(), "go generics", 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Title != "Go generics" || got[0].Snippet != "Tutorial: generics" {
		t.Errorf("results = %+v", got)
	}
	_, err = (&Brave{APIKey: "wrong", URL: srv.URL}).Search(t.Context(), "go generics", 8)
	if err == nil || err.Error() != "brave search: backend answered HTTP 401" {
		t.Errorf("wrong key = %v", err)
	}
}
