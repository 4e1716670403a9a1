package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// quotaInstance is a Starter instance at a fixed time, without the per-key
// rate limit (which would otherwise refuse a burst of 50), with usage
// arranged for this month.
func quotaInstance(t *testing.T, used customerdb.UsageTotals) (*instance, *anthropictest.Server, string) {
	t.Helper()
	model := anthropictest.New(t)
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	in := startInstance(t, "cus_QUOTA", plans.Starter, withAnthropic(model),
		withConfig(func(c *runtime.Config) { c.RatePerSecond = -1 }),
		withOptions(runtime.Options{Now: func() time.Time { return now }}))
	if err := customerdb.AddUsage(context.Background(), in.pool, now.AddDate(0, 0, -2), used); err != nil {
		t.Fatal(err)
	}
	return in, model, in.addKey(t)
}

// post sends a JSON body with the key and returns the status; safe to call
// from any goroutine.
func post(in *instance, path, key string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPost, in.url+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestQuotaConcurrentTurns sends 50 turns at once with 10 messages left,
// half through /api/chat and half through /v1/chat/completions: exactly 10
// are answered and usage ends at the limit, not past it. Without the
// reservation every turn reads the usage before any of them is counted,
// and all 50 are answered.
func TestQuotaConcurrentTurns(t *testing.T) {
	starter, _ := plans.Lookup(plans.Starter)
	in, model, key := quotaInstance(t, customerdb.UsageTotals{Messages: starter.MonthlyMessages - 10})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 50 {
		wg.Go(func() {
			var code int
			var err error
			if i%2 == 0 {
				code, err = post(in, "/api/chat", key, chatReq{Message: "at the boundary"})
			} else {
				code, err = post(in, "/v1/chat/completions", key, map[string]any{
					"model": "any", "messages": []map[string]string{{"role": "user", "content": "at the boundary"}}})
			}
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] != 10 || codes[http.StatusTooManyRequests] != 40 {
		t.Errorf("answers by status = %v; want 10 × 200 and 40 × 429", codes)
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Usage.Messages != starter.MonthlyMessages || !st.Quota.Exceeded {
		t.Errorf("usage %d of %d (exceeded %v); want exactly the limit", st.Usage.Messages, starter.MonthlyMessages, st.Quota.Exceeded)
	}
	if n := len(model.Requests()); n != 10 {
		t.Errorf("%d model calls; want 10", n)
	}
	if n := in.countRows(t, "quota_reservations"); n != 0 {
		t.Errorf("%d reservations left after the turns", n)
	}
}

// TestQuotaReleasedOnFailure: a turn that fails before its reply is stored
// (the model fails; an unknown conversation) gives its message back, so
// the last message of the month is still there. Without the release the
// reservation would hold it and the last turn get 429.
func TestQuotaReleasedOnFailure(t *testing.T) {
	starter, _ := plans.Lookup(plans.Starter)
	in, model, key := quotaInstance(t, customerdb.UsageTotals{Messages: starter.MonthlyMessages - 1})
	model.Enqueue(llmtest.Answer{Status: 500})
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "the model fails"}, http.StatusBadGateway, nil)
	in.call(t, http.MethodPost, "/api/chat", key,
		chatReq{Message: "no such conversation", ConversationID: "00000000-0000-0000-0000-000000000000"}, http.StatusNotFound, nil)
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Quota.Remaining != 1 || in.countRows(t, "quota_reservations") != 0 {
		t.Fatalf("after two failed turns: remaining %d, %d reservations; want 1 and 0",
			st.Quota.Remaining, in.countRows(t, "quota_reservations"))
	}
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "the last one"}, http.StatusOK, nil)
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "one too many"}, http.StatusTooManyRequests, nil)
}

// TestTokenBudget: a turn that starts with tokens left finishes past the
// budget; the next is refused with 429 naming the token budget, on both
// chat APIs, and /status and /api/usage say so. Without the token check
// the refused turns are answered.
func TestTokenBudget(t *testing.T) {
	starter, _ := plans.Lookup(plans.Starter)
	in, model, key := quotaInstance(t, customerdb.UsageTotals{Messages: 1, InputTokens: starter.MonthlyTokens - 10})
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Quota.MonthlyTokens != starter.MonthlyTokens || st.Quota.TokensRemaining != 10 || st.Quota.Exceeded || st.Quota.TokensExceeded {
		t.Fatalf("status before = %+v", st.Quota)
	}
	model.Enqueue(llmtest.Answer{Text: "long answer", InputTokens: 500, OutputTokens: 100})
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "in flight"}, http.StatusOK, nil)

	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "over budget"})
	var body chatErr
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusTooManyRequests ||
		!strings.Contains(body.Error, "token budget") || resp.Header.Get("Retry-After") == "" || body.ResetAt.IsZero() {
		t.Errorf("over the token budget: %d %s (Retry-After %q)", resp.StatusCode, raw, resp.Header.Get("Retry-After"))
	}
	resp, raw = in.do(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{
		"model": "any", "messages": []map[string]string{{"role": "user", "content": "over budget"}}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(raw), "insufficient_quota") {
		t.Errorf("openai over the token budget: %d %s", resp.StatusCode, raw)
	}
	in.get(t, "/status", key, &st)
	if !st.Quota.TokensExceeded || !st.Quota.Exceeded || st.Quota.TokensRemaining != 0 || st.Quota.Remaining != starter.MonthlyMessages-2 {
		t.Errorf("status after = %+v", st.Quota)
	}
	var usage struct {
		Quota struct {
			MonthlyTokens  int64 `json:"monthly_tokens"`
			TokensExceeded bool  `json:"tokens_exceeded"`
		} `json:"quota"`
	}
	in.get(t, "/api/usage", key, &usage)
	if usage.Quota.MonthlyTokens != starter.MonthlyTokens || !usage.Quota.TokensExceeded {
		t.Errorf("/api/usage quota = %+v", usage.Quota)
	}
	if n := len(model.Requests()); n != 1 {
		t.Errorf("%d model calls; want 1", n)
	}
}
