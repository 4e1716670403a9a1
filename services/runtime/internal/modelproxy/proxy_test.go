package modelproxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropic"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/llm/openai"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
	"clawdbot.cloud/services/runtime/internal/ratelimit"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// gatewayKey is the secret the gateway holds in the tests.
const gatewayKey = "proxy-key-of-this-start"

// upstream is a test model server: anthropictest or openaitest.
type upstream interface {
	Enqueue(...llmtest.Answer)
	Requests() []llmtest.Request
}

// fixture is a proxy in front of a test model server, metering into a
// real customer database.
type fixture struct {
	api     string
	url     string // the proxy's base URL, as the gateway gets it
	model   upstream
	pool    *pgxpool.Pool
	metrics *Metrics
	turns   *Turns
}

// newFixture starts a proxy for api with plan's quota; opts change its
// options before it starts.
func newFixture(t *testing.T, api string, plan plans.Plan, limiter *ratelimit.Limiter, opts ...func(*Options)) *fixture {
	t.Helper()
	pool := pgtest.NewPool(t)
	if err := customerdb.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	f := &fixture{api: api, pool: pool, metrics: NewMetrics(prometheus.NewRegistry()), turns: &Turns{}}
	o := Options{API: api, Key: gatewayKey, Model: "test-model", Limiter: limiter, Metrics: f.metrics,
		Meter: &DBMeter{DB: pool, Plan: plan, Turns: f.turns, Now: time.Now}, MaxBody: 64 << 10}
	switch api {
	case Anthropic:
		s := anthropictest.New(t)
		f.model, o.Upstream, o.UpstreamKey = s, s.URL, anthropictest.APIKey
	case OpenAI:
		s := openaitest.New(t)
		f.model, o.Upstream, o.UpstreamKey = s, s.URL, openaitest.APIKey
	}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	f.url = BaseURL(api, strings.TrimPrefix(srv.URL, "http://"))
	return f
}

// client is the provider adapter the runtime itself uses for api (built
// on Anthropic's SDK, or OpenAI's wire format), pointed at the proxy with
// the gateway's key.
func (f *fixture) client() llm.Provider {
	if f.api == Anthropic {
		return anthropic.New(anthropic.Config{APIKey: gatewayKey, BaseURL: f.url})
	}
	return openai.New(openai.Config{APIKey: gatewayKey, BaseURL: f.url})
}

func (f *fixture) usage(t *testing.T) customerdb.UsageTotals {
	t.Helper()
	now := time.Now()
	u, err := customerdb.Usage(t.Context(), f.pool, now.AddDate(0, 0, -1), now.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) outcome(o string) float64 {
	return testutil.ToFloat64(f.metrics.requests.WithLabelValues(o))
}

// post sends a raw request body to the proxy's route.
func (f *fixture) post(t *testing.T, path, key string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := f.send(path, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// send is post for any goroutine.
func (f *fixture) send(path, key string, body []byte) (*http.Response, []byte, error) {
	req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(f.url, "/v1")+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	if f.api == Anthropic {
		req.Header.Set("X-Api-Key", key)
	} else {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (f *fixture) path() string {
	if f.api == Anthropic {
		return "/v1/messages"
	}
	return "/v1/chat/completions"
}

// body is a request of the fixture's API; toolTurn makes its last message
// tool results (a turn's later call) instead of the user's words.
func (f *fixture) body(model string, stream, toolTurn bool) []byte {
	var req map[string]any
	if f.api == Anthropic {
		msgs := []any{map[string]any{"role": "user", "content": "hello"}}
		if toolTurn {
			msgs = append(msgs,
				map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": "toolu_1", "name": "read", "input": map[string]any{}}}},
				map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "content": "file text"}}},
				// OpenClaw adds its context as a user message after the
				// results: still the same turn.
				map[string]any{"role": "user", "content": "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>> context"})
		}
		req = map[string]any{"model": model, "max_tokens": 100, "messages": msgs, "stream": stream,
			"tools": []any{map[string]any{"name": "read", "input_schema": map[string]any{"type": "object"}}}}
	} else {
		msgs := []any{map[string]any{"role": "user", "content": "hello"}}
		if toolTurn {
			msgs = append(msgs,
				map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "read", "arguments": "{}"}}}},
				map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "file text"},
				map[string]any{"role": "user", "content": "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>> context"})
		}
		req = map[string]any{"model": model, "messages": msgs, "stream": stream}
	}
	b, _ := json.Marshal(req)
	return b
}

var apis = []string{Anthropic, OpenAI}

func starter(t *testing.T) plans.Plan {
	t.Helper()
	p, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProxyForwardsAndMeters: a call through the proxy, streamed or not,
// reaches the model endpoint with the platform's key (the test servers
// accept only theirs) and not the gateway's, comes back in the API's
// format to the runtime's own SDK-based clients, and its usage is counted
// once in the customer's usage: a message for the call that answers the
// user, tokens only for the calls that answer tool results.
func TestProxyForwardsAndMeters(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			f := newFixture(t, api, starter(t), nil)
			c := f.client()
			f.model.Enqueue(llmtest.Answer{Text: "WHOLE-ANSWER", InputTokens: 120, OutputTokens: 7},
				llmtest.Answer{Text: "STREAMED-ANSWER that is long enough to come in pieces", InputTokens: 300, OutputTokens: 15})
			req := llm.Request{Model: "test-model", MaxTokens: 100, Messages: []llm.Message{{Role: llm.User, Content: "hello"}}}
			reply, err := c.Chat(t.Context(), req, nil)
			if err != nil || reply.Text != "WHOLE-ANSWER" || reply.InputTokens != 120 || reply.OutputTokens != 7 {
				t.Fatalf("whole answer = %+v, %v", reply, err)
			}
			if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 1, InputTokens: 120, OutputTokens: 7}); got != want {
				t.Errorf("usage after one call = %+v, want %+v", got, want)
			}
			var pieces []string
			reply, err = c.Chat(t.Context(), req, func(s string) error { pieces = append(pieces, s); return nil })
			if err != nil || reply.Text != "STREAMED-ANSWER that is long enough to come in pieces" || len(pieces) < 2 {
				t.Fatalf("streamed answer = %+v (pieces %q), %v", reply, pieces, err)
			}
			if reply.InputTokens != 300 || reply.OutputTokens != 15 {
				t.Errorf("the stream's usage reached the client as %d/%d, want 300/15", reply.InputTokens, reply.OutputTokens)
			}
			if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 2, InputTokens: 420, OutputTokens: 22}); got != want {
				t.Errorf("usage after a streamed call = %+v, want %+v", got, want)
			}
			// A turn's later call, answering tool results: tokens, no
			// message.
			f.model.Enqueue(llmtest.Answer{Text: "AFTER-TOOL", InputTokens: 50, OutputTokens: 5})
			resp, body := f.post(t, f.path(), gatewayKey, f.body("test-model", false, true))
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "AFTER-TOOL") {
				t.Fatalf("tool-result call = %d %s", resp.StatusCode, body)
			}
			if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 2, InputTokens: 470, OutputTokens: 27}); got != want {
				t.Errorf("usage after a tool-result call = %+v, want %+v", got, want)
			}
			for i, r := range f.model.Requests() {
				for name, vs := range r.Header {
					for _, v := range vs {
						if strings.Contains(v, gatewayKey) {
							t.Errorf("request %d carried the gateway's key upstream in %s", i, name)
						}
					}
				}
			}
			if ok := f.outcome(outcomeOK); ok != 3 {
				t.Errorf("ok calls = %v, want 3", ok)
			}
			if in := testutil.ToFloat64(f.metrics.tokenCount.WithLabelValues("input")); in != 470 {
				t.Errorf("input tokens counted = %v, want 470", in)
			}
		})
	}
}

// TestProxyStreamUsageOnlyForTheProxy: a client that streams without
// asking for the usage chunk (OpenAI's stream_options) gets none, while
// the proxy asked for it and counts it.
func TestProxyStreamUsageOnlyForTheProxy(t *testing.T) {
	f := newFixture(t, OpenAI, starter(t), nil)
	f.model.Enqueue(llmtest.Answer{Text: "streamed without usage", InputTokens: 40, OutputTokens: 4})
	resp, body := f.post(t, f.path(), gatewayKey, f.body("test-model", true, false))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", resp.StatusCode, body)
	}
	var text strings.Builder
	var done bool
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Usage json.RawMessage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		if len(chunk.Usage) > 0 && string(chunk.Usage) != "null" {
			t.Errorf("the client got a usage chunk it did not ask for: %s", data)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if text.String() != "streamed without usage" || !done {
		t.Errorf("stream text %q, [DONE] %v", text.String(), done)
	}
	if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 1, InputTokens: 40, OutputTokens: 4}); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
}

// TestProxyCountsABrokenStream: a stream that breaks after its first piece
// still counts what it reported so far (Anthropic's message_start carries
// the input); an error answer of the provider passes through as it was
// and counts nothing.
func TestProxyCountsABrokenStream(t *testing.T) {
	f := newFixture(t, Anthropic, starter(t), nil)
	f.model.Enqueue(llmtest.Answer{Text: "cut off after the first piece", InputTokens: 90, CutStream: true},
		llmtest.Answer{Status: http.StatusInternalServerError})
	resp, body := f.post(t, f.path(), gatewayKey, f.body("test-model", true, false))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "message_start") {
		t.Fatalf("cut stream = %d %s", resp.StatusCode, body)
	}
	if got := f.usage(t); got.InputTokens != 90 || got.Messages != 1 {
		t.Errorf("usage of a cut stream = %+v, want its 90 input tokens and the message", got)
	}
	resp, body = f.post(t, f.path(), gatewayKey, f.body("test-model", false, false))
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"api_error"`) {
		t.Errorf("upstream error = %d %s, want the provider's 500 api_error", resp.StatusCode, body)
	}
	if got := f.usage(t); got.InputTokens != 90 || got.Messages != 1 {
		t.Errorf("usage after an upstream error = %+v, want unchanged", got)
	}
	if n := f.outcome(outcomeUpstream); n != 1 {
		t.Errorf("upstream errors counted = %v, want 1", n)
	}
}

// errorOf decodes the API's error document.
func errorOf(t *testing.T, api string, body []byte) (typ, msg string) {
	t.Helper()
	if api == Anthropic {
		var e struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" {
			t.Fatalf("not an Anthropic error document: %s", body)
		}
		return e.Error.Type, e.Error.Message
	}
	var e struct {
		Error *struct {
			Type, Message string
			Code          *string
		}
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("not an OpenAI error document: %s", body)
	}
	if e.Error.Code != nil {
		return e.Error.Type + "/" + *e.Error.Code, e.Error.Message
	}
	return e.Error.Type, e.Error.Message
}

// TestProxyRefuses: what the proxy answers itself, in the API's error
// shape, without calling the model and without counting usage; each
// counted by outcome.
func TestProxyRefuses(t *testing.T) {
	type tc struct {
		name       string
		path, key  string
		body       func(f *fixture) []byte
		status     int
		anthropic  string
		openai     string
		outcome    string
		noRetry    bool
		retryAfter bool
	}
	plain := func(f *fixture) []byte { return f.body("test-model", false, false) }
	cases := []tc{
		{"wrong key", "", "not-the-key", plain, 401, "authentication_error", "invalid_request_error/invalid_api_key", outcomeUnauth, false, false},
		{"no key", "", "", plain, 401, "authentication_error", "invalid_request_error/invalid_api_key", outcomeUnauth, false, false},
		{"other route", "/v1/models", gatewayKey, plain, 404, "not_found_error", "invalid_request_error", outcomeNotFound, false, false},
		{"too large", "", gatewayKey, func(*fixture) []byte { return []byte(`{"model":"` + strings.Repeat("x", 70<<10) + `"}`) }, 413, "request_too_large", "invalid_request_error", outcomeTooLarge, false, false},
		{"not JSON", "", gatewayKey, func(*fixture) []byte { return []byte("{nope") }, 400, "invalid_request_error", "invalid_request_error", outcomeBadRequest, false, false},
		{"no messages", "", gatewayKey, func(*fixture) []byte { return []byte(`{"model":"test-model","messages":[]}`) }, 400, "invalid_request_error", "invalid_request_error", outcomeBadRequest, false, false},
		{"another model", "", gatewayKey, func(f *fixture) []byte { return f.body("claude-opus-4-1", false, false) }, 404, "not_found_error", "invalid_request_error/model_not_found", outcomeWrongModel, false, false},
	}
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			f := newFixture(t, api, starter(t), ratelimit.New(0.001, 1000, nil))
			for _, c := range cases {
				path := c.path
				if path == "" {
					path = f.path()
				}
				resp, body := f.post(t, path, c.key, c.body(f))
				typ, msg := errorOf(t, api, body)
				want := c.anthropic
				if api == OpenAI {
					want = c.openai
				}
				if resp.StatusCode != c.status || typ != want || msg == "" {
					t.Errorf("%s: %d %s %q, want %d %s", c.name, resp.StatusCode, typ, msg, c.status, want)
				}
				if n := f.outcome(c.outcome); n < 1 {
					t.Errorf("%s: outcome %s not counted", c.name, c.outcome)
				}
			}
			if n := len(f.model.Requests()); n != 0 {
				t.Errorf("the model was called %d times by refused requests", n)
			}
			if got := f.usage(t); got != (customerdb.UsageTotals{}) {
				t.Errorf("refused requests counted usage %+v", got)
			}
		})
	}
}

// TestProxyRateLimit: past the burst, calls are refused 429 with
// Retry-After (which the SDKs honour), as the front door does.
func TestProxyRateLimit(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			f := newFixture(t, api, starter(t), ratelimit.New(0.01, 2, nil))
			for i, want := range []int{200, 200, 429} {
				resp, body := f.post(t, f.path(), gatewayKey, f.body("test-model", false, false))
				if resp.StatusCode != want {
					t.Fatalf("call %d = %d %s, want %d", i, resp.StatusCode, body, want)
				}
				if want == 429 {
					if typ, _ := errorOf(t, api, body); resp.Header.Get("Retry-After") == "" || typ == "" {
						t.Errorf("rate limited: Retry-After %q, error type %q", resp.Header.Get("Retry-After"), typ)
					}
				}
			}
			if n := f.outcome(outcomeRateLimited); n != 1 {
				t.Errorf("rate limited counted %v, want 1", n)
			}
		})
	}
}

// TestProxyQuota: when the month's messages are spent, a call that starts
// a turn is refused (429, the API's quota error, x-should-retry: false)
// while a turn under way may finish; when the token budget is spent, every
// call is refused.
func TestProxyQuota(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			plan := starter(t)
			plan.MonthlyMessages, plan.MonthlyTokens = 3, 10_000
			f := newFixture(t, api, plan, nil)
			if err := customerdb.AddUsage(t.Context(), f.pool, time.Now(), customerdb.UsageTotals{Messages: 3, InputTokens: 100}); err != nil {
				t.Fatal(err)
			}
			resp, body := f.post(t, f.path(), gatewayKey, f.body("test-model", true, false))
			typ, msg := errorOf(t, api, body)
			wantType := "rate_limit_error"
			if api == OpenAI {
				wantType = "insufficient_quota/insufficient_quota"
			}
			if resp.StatusCode != http.StatusTooManyRequests || typ != wantType || !strings.Contains(msg, "monthly message quota reached (3 of 3)") {
				t.Errorf("past the messages = %d %s %q", resp.StatusCode, typ, msg)
			}
			if resp.Header.Get("X-Should-Retry") != "false" {
				t.Errorf("x-should-retry = %q, want false (the SDKs would retry a 429)", resp.Header.Get("X-Should-Retry"))
			}
			// The runtime's own SDK-based client sees a quota refusal it
			// does not retry.
			_, err := f.client().Chat(t.Context(), llm.Request{Model: "test-model", MaxTokens: 10,
				Messages: []llm.Message{{Role: llm.User, Content: "hi"}}}, nil)
			var le *llm.Error
			if !errors.As(err, &le) || le.Status != http.StatusTooManyRequests {
				t.Errorf("client error = %v, want the 429", err)
			}
			if n := len(f.model.Requests()); n != 0 {
				t.Errorf("model called %d times past the quota", n)
			}
			// A turn under way finishes its tool steps.
			f.model.Enqueue(llmtest.Answer{Text: "FINISHING", InputTokens: 20, OutputTokens: 2})
			resp, body = f.post(t, f.path(), gatewayKey, f.body("test-model", false, true))
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a tool-result call past the messages = %d %s, want 200", resp.StatusCode, body)
			}
			// The token budget spent: nothing goes through.
			if err := customerdb.AddUsage(t.Context(), f.pool, time.Now(), customerdb.UsageTotals{OutputTokens: 10_000}); err != nil {
				t.Fatal(err)
			}
			resp, body = f.post(t, f.path(), gatewayKey, f.body("test-model", false, true))
			if _, msg := errorOf(t, api, body); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(msg, "monthly token budget reached") {
				t.Errorf("past the token budget = %d %q", resp.StatusCode, msg)
			}
			if n := f.outcome(outcomeQuota); n != 3 {
				t.Errorf("quota refusals counted = %v, want 3", n)
			}
			if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 3, InputTokens: 120, OutputTokens: 10_002}); got != want {
				t.Errorf("usage = %+v, want %+v", got, want)
			}
		})
	}
}

// TestProxyMeterDown: a quota that cannot be read refuses (503), it does
// not wave calls through.
func TestProxyMeterDown(t *testing.T) {
	f := newFixture(t, Anthropic, starter(t), nil)
	f.pool.Close()
	resp, body := f.post(t, f.path(), gatewayKey, f.body("test-model", false, false))
	if typ, _ := errorOf(t, Anthropic, body); resp.StatusCode != http.StatusServiceUnavailable || typ != "api_error" {
		t.Errorf("meter down = %d %s", resp.StatusCode, body)
	}
	if n := len(f.model.Requests()); n != 0 {
		t.Errorf("model called %d times without a quota check", n)
	}
}
