package chat

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/tools"
)

// stepProvider answers instantly, in process: a memory_search call for
// the first steps of a turn, then text. It records the time from each of
// its answers to the next call of the same turn: the agent loop's own
// work per tool step (dispatch, the tool, storing the call, building the
// next request), with no model in it.
type stepProvider struct {
	steps int
	mu    sync.Mutex
	calls int
	last  time.Time
	gaps  []time.Duration
}

func (*stepProvider) Name() string { return "bench" }

func (p *stepProvider) Chat(_ context.Context, req llm.Request, _ func(string) error) (llm.Reply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(req.Messages); n > 0 && len(req.Messages[n-1].ToolResults) > 0 {
		p.gaps = append(p.gaps, time.Since(p.last))
	}
	p.calls++
	defer func() { p.last = time.Now() }()
	if p.calls%(p.steps+1) != 0 {
		return llm.Reply{InputTokens: 10, OutputTokens: 2, ToolCalls: []llm.ToolCall{
			{ID: "t", Name: "memory_search", Input: json.RawMessage(`{"query":"tea"}`)}}}, nil
	}
	return llm.Reply{Text: "done", InputTokens: 10, OutputTokens: 2}, nil
}

// BenchmarkToolStep measures the agent loop's overhead per tool step,
// excluding the model: p50/p99 over every step of turns of 10 steps,
// against a real Postgres holding 1,000 memories.
func BenchmarkToolStep(b *testing.B) {
	pool := pgtest.NewPool(b)
	ctx := context.Background()
	if err := customerdb.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := customerdb.AddMemory(ctx, pool, "memory number "+string(rune('a'+i%26))+" about tea and things", []string{"bench"}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	plan, _ := plans.Lookup(plans.Starter)
	p := &stepProvider{steps: 10}
	s := &Service{DB: pool, Plan: plan, Model: "bench", Provider: p, Timeout: time.Minute, MaxTokens: 100,
		MaxSteps: 20, Now: time.Now, Log: slog.New(slog.DiscardHandler), Tools: &tools.Box{DB: pool}}
	for b.Loop() {
		if _, err := s.Turn(ctx, Request{Message: "find my tea notes"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	gaps := slices.Clone(p.gaps)
	slices.Sort(gaps)
	if len(gaps) == 0 {
		b.Fatal("no tool steps ran")
	}
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "step-p50-ms")
	b.ReportMetric(float64(gaps[len(gaps)*99/100].Microseconds())/1000, "step-p99-ms")
	b.ReportMetric(float64(len(gaps)), "steps")
}
