package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/prompt"
)

// maxSearchHits bounds memory_search's answer.
const maxSearchHits = 10

// memoryTools are memory_save, memory_search and memory_forget. What they
// save lands where POST /api/memory puts it: the memories table and the
// daily note of the customer's day.
func (b *Box) memoryTools() []Tool {
	return []Tool{
		{
			Skill: plans.SkillMemory,
			Spec: llm.ToolSpec{Name: "memory_save",
				Description: "Save a fact worth remembering about the user or their work to long-term memory (also written to today's daily note). Keep it short and self-contained.",
				Schema: Schema(`{"content":{"type":"string","description":"The fact to remember."},`+
					`"tags":{"type":"array","items":{"type":"string"},"description":"A few lowercase tags."}}`, "content")},
			Run: b.memorySave,
		},
		{
			Skill: plans.SkillMemory,
			Spec: llm.ToolSpec{Name: "memory_search",
				Description: "Search long-term memory (full text: words, \"a phrase\", -excluded, or). Returns matching memories with their ids, most relevant first.",
				Schema:      Schema(`{"query":{"type":"string","description":"What to look for."}}`, "query")},
			Run: b.memorySearch,
		},
		{
			Skill: plans.SkillMemory,
			Spec: llm.ToolSpec{Name: "memory_forget",
				Description: "Delete a memory by its id (from memory_search), when the user asks to forget it or it is wrong.",
				Schema:      Schema(`{"id":{"type":"integer","description":"The memory's id."}}`, "id")},
			Run: b.memoryForget,
		},
	}
}

func (b *Box) memorySave(ctx context.Context, c Call) (string, error) {
	var in struct {
		Content string   `json:"content"`
		Tags    []string `json:"tags"`
	}
	if err := Decode(c.Input, &in); err != nil {
		return "", err
	}
	if _, _, err := customerdb.ValidateMemory(in.Content, in.Tags); err != nil {
		return "", err
	}
	loc, err := Timezone(ctx, b.DB)
	if err != nil {
		return "", err
	}
	m, err := customerdb.AddMemory(ctx, b.DB, in.Content, in.Tags, c.Now.In(loc))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("saved memory %d (in %s)", m.ID, m.NotePath), nil
}

func (b *Box) memorySearch(ctx context.Context, c Call) (string, error) {
	var in struct {
		Query string `json:"query"`
	}
	if err := Decode(c.Input, &in); err != nil {
		return "", err
	}
	q := strings.TrimSpace(in.Query)
	if q == "" || len([]rune(q)) > 500 {
		return "", fmt.Errorf("%w: query must be 1 to 500 characters", ErrBadInput)
	}
	hits, err := customerdb.SearchMemories(ctx, b.DB, q, maxSearchHits)
	if err != nil {
		return "", err
	}
	if len(hits) == 0 {
		return "no memories match " + q, nil
	}
	var out strings.Builder
	for _, h := range hits {
		fmt.Fprintf(&out, "- id %d (%s", h.ID, h.CreatedAt.UTC().Format(time.DateOnly))
		if len(h.Tags) > 0 {
			fmt.Fprintf(&out, "; tags: %s", strings.Join(h.Tags, ", "))
		}
		fmt.Fprintf(&out, "): %s\n", strings.ReplaceAll(h.Content, "\n", " "))
	}
	return out.String(), nil
}

func (b *Box) memoryForget(ctx context.Context, c Call) (string, error) {
	var in struct {
		ID int64 `json:"id"`
	}
	if err := Decode(c.Input, &in); err != nil {
		return "", err
	}
	err := customerdb.DeleteMemory(ctx, b.DB, in.ID)
	if errors.Is(err, customerdb.ErrNotFound) {
		return "", fmt.Errorf("no memory has id %d", in.ID)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("forgot memory %d", in.ID), nil
}

// Timezone is the customer's zone from USER.md (UTC when unset), which
// dates daily notes; POST /api/memory uses the same.
func Timezone(ctx context.Context, db customerdb.DB) (*time.Location, error) {
	files, err := customerdb.ReadFiles(ctx, db, "USER.md")
	if err != nil {
		return nil, err
	}
	if len(files) == 1 {
		return prompt.Timezone(files[0].Content), nil
	}
	return time.UTC, nil
}
