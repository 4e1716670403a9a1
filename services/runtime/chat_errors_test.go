package runtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// countRows counts a table's rows in the instance's database.
func (in *instance) countRows(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := in.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestChatUpstreamFailures(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_UPSTREAM", plans.Starter, withAnthropic(model),
		withOptions(runtime.Options{ModelTimeout: 300 * time.Millisecond}))
	key := in.addKey(t)
	for _, tc := range []struct {
		name       string
		answer     llmtest.Answer
		status     int
		retryAfter string
		wantError  string
	}{
		{"rate limited", llmtest.Answer{Status: 429, RetryAfter: "7"}, http.StatusTooManyRequests, "7", "rate limiting"},
		{"rate limited without retry-after", llmtest.Answer{Status: 429}, http.StatusTooManyRequests, "30", "rate limiting"},
		{"server error", llmtest.Answer{Status: 500}, http.StatusBadGateway, "", "unavailable"},
		{"overloaded", llmtest.Answer{Status: 529, RetryAfter: "3"}, http.StatusBadGateway, "3", "unavailable"},
		{"timeout", llmtest.Answer{Hang: true}, http.StatusBadGateway, "", "did not answer within 300ms"},
		{"rejected", llmtest.Answer{Status: 400, ErrorType: "invalid_request_error"}, http.StatusBadGateway, "", "rejected the request (HTTP 400)"},
	} {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += " streamed"
			}
			t.Run(name, func(t *testing.T) {
				usersBefore := in.countRows(t, "messages")
				model.Enqueue(tc.answer)
				resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "are you there? " + name, Stream: stream})
				if resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != tc.retryAfter {
					t.Fatalf("status %d Retry-After %q (%s), want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), raw, tc.status, tc.retryAfter)
				}
				var body chatErr
				if err := json.Unmarshal(raw, &body); err != nil || !strings.Contains(body.Error, tc.wantError) {
					t.Fatalf("body %s, want an error mentioning %q", raw, tc.wantError)
				}
				// The customer's message was stored before the call.
				if body.ConversationID == "" {
					t.Fatal("error does not name the conversation holding the message")
				}
				ms, err := customerdb.Messages(t.Context(), in.pool, body.ConversationID, 10)
				if err != nil || len(ms) != 1 || ms[0].Content != "are you there? "+name {
					t.Errorf("stored messages = %+v, %v", ms, err)
				}
				if n := in.countRows(t, "messages"); n != usersBefore+1 {
					t.Errorf("%d messages stored, want 1", n-usersBefore)
				}
			})
		}
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Usage.Messages != 0 {
		t.Errorf("failed turns counted: %+v", st.Usage)
	}
	if strings.Contains(in.logs.String(), anthropictest.APIKey) {
		t.Error("logs contain the provider's API key")
	}
}

func TestChatStreamBreaksAfterItBegan(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_MIDSTREAM", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	model.Enqueue(llmtest.Answer{Text: "This answer will break off halfway.", StreamError: "overloaded_error"})
	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "tell me", Stream: true})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, raw)
	}
	events := parseSSE(t, string(raw))
	last := events[len(events)-1]
	if events[0].name != "start" || events[1].name != "delta" || last.name != "error" ||
		!strings.Contains(last.data, `"status":502`) || !strings.Contains(last.data, "conversation_id") {
		t.Fatalf("events = %+v", events)
	}
	if n := in.countRows(t, "messages"); n != 1 {
		t.Errorf("%d messages stored, want the customer's only", n)
	}
}

func TestChatRejectsBadRequests(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_BADREQ", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	for _, tc := range []struct {
		name        string
		body        any
		contentType string
		status      int
		want        string
	}{
		{"not json", "{message: hi}", "", http.StatusBadRequest, "not valid JSON"},
		{"truncated json", `{"message": "hi"`, "", http.StatusBadRequest, "not valid JSON"},
		{"array", `["hi"]`, "", http.StatusBadRequest, "must be a JSON object"},
		{"empty body", "", "", http.StatusBadRequest, "empty"},
		{"trailing data", `{"message":"hi"} {}`, "", http.StatusBadRequest, "after the JSON object"},
		{"unknown field", `{"message":"hi","model":"gpt"}`, "", http.StatusBadRequest, `unknown field "model"`},
		{"wrong type", `{"message":42}`, "", http.StatusBadRequest, `field "message" must be a JSON string`},
		{"empty message", chatReq{Message: ""}, "", http.StatusBadRequest, "message is empty"},
		{"blank message", chatReq{Message: " \n\t "}, "", http.StatusBadRequest, "message is empty"},
		{"nul in message", chatReq{Message: "a\x00b"}, "", http.StatusBadRequest, "not valid UTF-8 text"},
		{"oversized message", chatReq{Message: strings.Repeat("é", 32_001)}, "", http.StatusRequestEntityTooLarge, "32001 characters, the limit is 32000"},
		{"oversized body", `{"message":"` + strings.Repeat("x", 1<<20) + `"}`, "", http.StatusRequestEntityTooLarge, "over 1048576 bytes"},
		{"form body", "message=hi", "application/x-www-form-urlencoded", http.StatusBadRequest, "not valid JSON"},
		{"text body", `{"message":"hi"}`, "text/plain", http.StatusUnsupportedMediaType, "Content-Type: application/json"},
		{"multipart body", `{"message":"hi"}`, "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType, "Content-Type: application/json"},
		{"unknown conversation", chatReq{Message: "hi", ConversationID: "0b6c3b8e-8a51-4b8e-9f0e-2f1d3c4b5a69"}, "", http.StatusNotFound, "conversation not found"},
		{"malformed conversation id", chatReq{Message: "hi", ConversationID: "42"}, "", http.StatusNotFound, "conversation not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.contentType != "" {
				header = []string{"Content-Type", tc.contentType}
			}
			resp, raw := in.do(t, http.MethodPost, "/api/chat", key, tc.body, header...)
			if resp.StatusCode != tc.status || !strings.Contains(jsonField(t, string(raw), "error"), tc.want) {
				t.Fatalf("status %d %s, want %d mentioning %q", resp.StatusCode, raw, tc.status, tc.want)
			}
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	if n := len(model.Requests()); n != 0 {
		t.Errorf("bad requests reached the model %d times", n)
	}
	if n := in.countRows(t, "messages"); n != 0 {
		t.Errorf("bad requests stored %d messages", n)
	}
}

func TestChatWithoutProvider(t *testing.T) {
	in := startInstance(t, "cus_NOPROVIDER", plans.Starter)
	key := in.addKey(t)
	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "hi"})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), "ANTHROPIC_API_KEY") || !strings.Contains(string(raw), "OPENAI_BASE_URL") {
		t.Fatalf("status %d %s, want 503 naming what to set", resp.StatusCode, raw)
	}
	if n := in.countRows(t, "messages"); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Model.Provider != "" {
		t.Errorf("status reports provider %q", st.Model.Provider)
	}
	// Memory and the rest work without a provider.
	in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": "still works"}, http.StatusCreated, nil)

	// A provider named explicitly but not configured says what it needs.
	other := startInstance(t, "cus_NOOPENAI", plans.Starter, withConfig(func(c *runtime.Config) { c.Provider = "openai" }))
	resp, raw = other.do(t, http.MethodPost, "/api/chat", other.addKey(t), chatReq{Message: "hi"})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), "OPENAI_BASE_URL") {
		t.Fatalf("status %d %s", resp.StatusCode, raw)
	}
}

func TestQuotaAtTheBoundary(t *testing.T) {
	model := anthropictest.New(t)
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	in := startInstance(t, "cus_QUOTA", plans.Starter, withAnthropic(model),
		withOptions(runtime.Options{Now: func() time.Time { return now }}))
	key := in.addKey(t)
	starter, _ := plans.Lookup(plans.Starter)
	ctx := context.Background()
	// Last month's usage does not count; this month's is one short.
	if err := customerdb.AddUsage(ctx, in.pool, now.AddDate(0, -1, 0), customerdb.UsageTotals{Messages: 100_000}); err != nil {
		t.Fatal(err)
	}
	if err := customerdb.AddUsage(ctx, in.pool, now.AddDate(0, 0, -3), customerdb.UsageTotals{Messages: starter.MonthlyMessages - 1}); err != nil {
		t.Fatal(err)
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Quota.Remaining != 1 || st.Quota.Exceeded {
		t.Fatalf("status before the last message = %+v", st.Quota)
	}

	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "the last one"}, http.StatusOK, nil)

	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "one too many"})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over quota: %d %s", resp.StatusCode, raw)
	}
	var body chatErr
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	reset := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if !body.ResetAt.Equal(reset) || !strings.Contains(body.Error, "5000 of 5000") || !strings.Contains(body.Error, "2026-06-01") {
		t.Errorf("quota error = %+v", body)
	}
	if got := resp.Header.Get("Retry-After"); got != "993600" { // 11.5 days
		t.Errorf("Retry-After = %q", got)
	}
	if len(model.Requests()) != 1 || in.countRows(t, "messages") != 2 {
		t.Errorf("the refused turn reached the model or the database")
	}
	in.get(t, "/status", key, &st)
	if st.Usage.Messages != starter.MonthlyMessages || st.Quota.Remaining != 0 || !st.Quota.Exceeded || !st.Quota.ResetAt.Equal(reset) {
		t.Errorf("status at the quota = %+v %+v", st.Usage, st.Quota)
	}

	// A new month, a new quota.
	now = reset.Add(time.Minute)
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "new month"}, http.StatusOK, nil)
}

// A client that goes away mid-stream does not lose the reply: the model
// call goes on, and the reply is stored and counted.
func TestChatReplyOutlivesTheClient(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_GONE", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	text := strings.Repeat("slowly written ", 8)
	model.Enqueue(llmtest.Answer{Text: text, ChunkDelay: 10 * time.Millisecond})

	ctx, cancel := context.WithCancel(t.Context())
	body, _ := json.Marshal(chatReq{Message: "take your time", Stream: true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.url+"/api/chat", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := resp.Body.Read(buf); err != nil { // the stream has begun
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		var content string
		err := in.pool.QueryRow(t.Context(), "SELECT content FROM messages WHERE role = 'assistant'").Scan(&content)
		if err == nil {
			if content != text {
				t.Errorf("stored reply %q", content)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reply stored within 10s of the client leaving: %v", err)
		}
		<-time.After(20 * time.Millisecond)
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Usage.Messages != 1 {
		t.Errorf("usage = %+v", st.Usage)
	}
}
