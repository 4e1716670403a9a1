package tools

import (
	"context"
	"fmt"
	"strings"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
)

// Bounds of the web tools' answers.
const (
	maxSearchResults = 8
	maxPageChars     = 20_000
)

// webTools are web_search and web_fetch run by the runtime, for providers
// without server tools. Each is left out when its backend is not set.
func (b *Box) webTools() []Tool {
	var out []Tool
	if b.Search != nil {
		out = append(out, Tool{
			Skill: plans.SkillWebSearch,
			Spec: llm.ToolSpec{Name: "web_search",
				Description: "Search the web. Returns titles, URLs and snippets; fetch a URL with web_fetch to read it. Cite the URLs you use.",
				Schema:      Schema(`{"query":{"type":"string","description":"The search query."}}`, "query")},
			Run: b.webSearch,
		})
	}
	if b.Fetch != nil {
		out = append(out, Tool{
			Skill: plans.SkillWebSearch,
			Spec: llm.ToolSpec{Name: "web_fetch",
				Description: "Fetch a public web page (http or https) and return its readable text.",
				Schema:      Schema(`{"url":{"type":"string","description":"The page's URL."}}`, "url")},
			Run: b.webFetch,
		})
	}
	return out
}

func (b *Box) webSearch(ctx context.Context, c Call) (string, error) {
	var in struct {
		Query string `json:"query"`
	}
	if err := Decode(c.Input, &in); err != nil {
		return "", err
	}
	q := strings.TrimSpace(in.Query)
	if q == "" || len([]rune(q)) > 400 {
		return "", fmt.Errorf("%w: query must be 1 to 400 characters", ErrBadInput)
	}
	rs, err := b.Search.Search(ctx, q, maxSearchResults)
	if err != nil {
		return "", err
	}
	if len(rs) == 0 {
		return "no results for " + q, nil
	}
	var out strings.Builder
	for i, r := range rs {
		fmt.Fprintf(&out, "%d. %s\n   %s\n   %s\n", i+1, oneLine(r.Title), r.URL, oneLine(r.Snippet))
	}
	return out.String(), nil
}

func (b *Box) webFetch(ctx context.Context, c Call) (string, error) {
	var in struct {
		URL string `json:"url"`
	}
	if err := Decode(c.Input, &in); err != nil {
		return "", err
	}
	p, err := b.Fetch.Fetch(ctx, strings.TrimSpace(in.URL))
	if err != nil {
		return "", err
	}
	text := p.Text
	if r := []rune(text); len(r) > maxPageChars {
		text = string(r[:maxPageChars]) + "\n[page cut here]"
	}
	return fmt.Sprintf("URL: %s\nTitle: %s\n\n%s", p.URL, oneLine(p.Title), text), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
