// Package websearch is the web_search tool's backend for providers
// without server-side search: a SearXNG instance's JSON API or the Brave
// Search API, chosen by the environment (SEARCH_BACKEND, SEARXNG_URL,
// BRAVE_API_KEY, BRAVE_BASE_URL). The backend's address is the operator's
// own configuration, so it is reached directly, not through the fetcher's
// address rules.
package websearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/services/runtime/internal/tools"
)

// DefaultBraveURL is the Brave Search API's web search endpoint.
const DefaultBraveURL = "https://api.search.brave.com/res/v1/web/search"

// timeout bounds one search.
const timeout = 15 * time.Second

// maxBody bounds a backend's answer.
const maxBody = 2 << 20

// SearXNG searches through a SearXNG instance: GET {base}/search?q=&format=json
// (the instance must list json among its search formats).
type SearXNG struct {
	// BaseURL is the instance's root.
	BaseURL string
	// Client makes the calls; a 15-second client when nil.
	Client *http.Client
}

// Search implements tools.Searcher.
func (s *SearXNG) Search(ctx context.Context, query string, limit int) ([]tools.SearchResult, error) {
	u := strings.TrimSuffix(s.BaseURL, "/") + "/search?" + url.Values{"q": {query}, "format": {"json"}}.Encode()
	var body struct {
		Results []struct {
			Title   string `json:"title"`
			URL     string `json:"url"`
			Content string `json:"content"`
		} `json:"results"`
	}
	if err := get(ctx, s.Client, u, nil, &body); err != nil {
		return nil, fmt.Errorf("searxng: %w", err)
	}
	var out []tools.SearchResult
	for _, r := range body.Results {
		if len(out) == limit {
			break
		}
		out = append(out, tools.SearchResult{Title: r.Title, URL: r.URL, Snippet: r.Content})
	}
	return out, nil
}

// Brave searches through the Brave Search API: GET ?q=&count= with the
// X-Subscription-Token header.
type Brave struct {
	// APIKey is the subscription token (BRAVE_API_KEY). Secret.
	APIKey string
	// URL is the endpoint; DefaultBraveURL when empty.
	URL string
	// Client makes the calls; a 15-second client when nil.
	Client *http.Client
}

// Search implements tools.Searcher.
func (b *Brave) Search(ctx context.Context, query string, limit int) ([]tools.SearchResult, error) {
	base := b.URL
	if base == "" {
		base = DefaultBraveURL
	}
	u := base + "?" + url.Values{"q": {query}, "count": {strconv.Itoa(limit)}}.Encode()
	var body struct {
		Web struct {
			Results []struct {
				Title       string `json:"title"`
				URL         string `json:"url"`
				Description string `json:"description"`
			} `json:"results"`
		} `json:"web"`
	}
	h := http.Header{"X-Subscription-Token": {b.APIKey}, "Accept": {"application/json"}}
	if err := get(ctx, b.Client, u, h, &body); err != nil {
		return nil, fmt.Errorf("brave search: %w", err)
	}
	var out []tools.SearchResult
	for _, r := range body.Web.Results {
		if len(out) == limit {
			break
		}
		out = append(out, tools.SearchResult{Title: stripTags(r.Title), URL: r.URL, Snippet: stripTags(r.Description)})
	}
	return out, nil
}

// get calls u and decodes its JSON answer into v. Errors never carry the
// URL (it holds the query) or the key.
func get(ctx context.Context, c *http.Client, u string, h http.Header, v any) error {
	if c == nil {
		c = &http.Client{Timeout: timeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return errors.New("bad backend URL")
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("backend unreachable: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backend answered HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(v); err != nil {
		return fmt.Errorf("backend answer is not the expected JSON: %v", err)
	}
	return nil
}

// stripTags removes the <strong> highlights Brave puts in titles and
// descriptions.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
