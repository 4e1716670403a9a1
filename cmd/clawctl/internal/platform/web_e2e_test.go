package platform_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/googletest"
	"clawdbot.cloud/pkg/telegramtest"
)

// modelReply is what the test model answers a chat turn with; a turn that
// mentions "drink" first asks for the memory_search tool, then answers
// toolReply quoting what the tool found.
const (
	modelReply = "Hello from the test model."
	toolReply  = "From your memories: "
)

// testModel is an OpenAI-compatible chat-completions server (the wire
// format of services/runtime's openai adapter: streaming chunks, a usage
// chunk, [DONE]) that answers every turn at once, so the browser test
// measures the platform, not a model.
func testModel(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
			return
		}
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Role    string `json:"role"`
				Content any    `json:"content"`
			} `json:"messages"`
			Tools []struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"model and messages are required","type":"invalid_request_error"}}`)
			return
		}
		usage := map[string]int{"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46}
		last := req.Messages[len(req.Messages)-1]
		text, _ := last.Content.(string)
		offered := false
		for _, tl := range req.Tools {
			offered = offered || tl.Function.Name == "memory_search"
		}
		reply := modelReply
		switch {
		case last.Role == "user" && strings.Contains(text, "drink") && offered && req.Stream:
			streamToolCall(w, req.Model, usage)
			return
		case last.Role == "tool":
			reply = toolReply + text
		}
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-web", "object": "chat.completion", "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": reply}}},
				"usage":   usage})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		chunk := func(v any) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "data: %s\n\n", b)
			_ = rc.Flush()
		}
		for _, piece := range []string{reply[:6], reply[6:]} {
			chunk(map[string]any{"id": "chatcmpl-web", "object": "chat.completion.chunk", "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": piece}, "finish_reason": nil}}})
		}
		chunk(map[string]any{"id": "chatcmpl-web", "object": "chat.completion.chunk", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "stop"}}})
		chunk(map[string]any{"id": "chatcmpl-web", "object": "chat.completion.chunk", "model": req.Model, "choices": []any{}, "usage": usage})
		fmt.Fprint(w, "data: [DONE]\n\n")
		_ = rc.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// streamToolCall answers with a streamed call of memory_search, as an
// OpenAI-compatible server streams tool calls.
func streamToolCall(w http.ResponseWriter, model string, usage map[string]int) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	chunk := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	call := map[string]any{"index": 0, "id": "call_web_1", "type": "function",
		"function": map[string]any{"name": "memory_search", "arguments": `{"query":"tea"}`}}
	chunk(map[string]any{"id": "chatcmpl-web", "object": "chat.completion.chunk", "model": model,
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "tool_calls": []any{call}}, "finish_reason": nil}}})
	chunk(map[string]any{"id": "chatcmpl-web", "object": "chat.completion.chunk", "model": model,
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "tool_calls"}}})
	chunk(map[string]any{"id": "chatcmpl-web", "object": "chat.completion.chunk", "model": model, "choices": []any{}, "usage": usage})
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// tgBot is a Telegram test server with one bot.
type tgBot struct {
	*telegramtest.Server
	token string
}

// telegramControl starts a Telegram test server with a bot, and a small
// control server through which the browser test plays the bot's owner in
// Telegram: POST /send {"text"} is a message from the owner, GET /sent the
// texts the bot sent.
func telegramControl(t *testing.T) (tgBot, *httptest.Server) {
	t.Helper()
	tg := tgBot{Server: telegramtest.New(t)}
	tg.token = tg.AddBot("web_e2e_bot")
	owner := telegramtest.User{ID: 4242, FirstName: "Ada"}
	ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/send":
			var body struct{ Text string }
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Text == "" {
				http.Error(w, "send {\"text\"}", http.StatusBadRequest)
				return
			}
			tg.SendText(tg.token, owner, body.Text)
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && r.URL.Path == "/sent":
			texts := []string{}
			for _, m := range tg.Sent(tg.token) {
				texts = append(texts, m.Text)
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(texts)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ctl.Close)
	return tg, ctl
}

// TestWebApp runs the customer's whole story in Chromium (services/web/e2e/
// web.test.mjs): landing → dev checkout → live progress → key shown once →
// chat → memories → usage → skills → keys → export → a Telegram bot
// connected, paired and answering the owner → sign out → sign in by
// the dev mailbox → a second customer, on a phone, who cannot reach the
// first one's pages or data → a plan change. It needs node, the npm
// packages of services/web/e2e and /usr/bin/chromium (.ci/run installs
// them); without them it fails, never skips. A failing step leaves
// screenshots in services/web/e2e/artifacts.
func TestWebApp(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "services", "web", "e2e")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("playwright-core is not installed: run `npm ci --prefix services/web/e2e` (.ci/run does): %v", err)
	}
	model := testModel(t)
	tg, tgControl := telegramControl(t)
	// Google (Connect Google on Ada's Pro dashboard) is the test server,
	// for the web app and the runtimes alike.
	g := googletest.New(t, googletest.Options{})
	h := start(t, map[string]string{
		"OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-test",
		"TELEGRAM_API_BASE_URL": tg.URL,
		"GOOGLE_CLIENT_ID":      g.ClientID(),
		"GOOGLE_CLIENT_SECRET":  g.ClientSecret(),
		"GOOGLE_OAUTH_BASE_URL": g.URL,
		"GOOGLE_API_BASE_URL":   g.URL,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{"web.test.mjs"}
	if n := os.Getenv("WEB_BENCH"); n != "" {
		args = append(args, "--bench", n)
	}
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BASE_URL="+h.WebURL, "ARTIFACTS="+filepath.Join(dir, "artifacts"), "MODEL_REPLY="+modelReply,
		"TELEGRAM_CONTROL_URL="+tgControl.URL, "TELEGRAM_BOT_TOKEN="+tg.token, "GOOGLE_URL="+g.URL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser test failed: %v (screenshots in %s)", err, filepath.Join(dir, "artifacts"))
	}
	// Connect Google went through the real code exchange and the runtime
	// checked the tokens with Gmail; Disconnect revoked the grant.
	if n, r := g.Count("token:authorization_code"), g.Count("revoke"); n != 1 || r != 1 || g.Count("gmail.users.getProfile") != 1 {
		t.Errorf("Google test server saw %d code exchanges, %d revocations, calls %v", n, r, g.Calls())
	}
	if r := g.Refused(); len(r) > 0 {
		t.Errorf("the Google test server refused: %v", r)
	}
}
