package runtime_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// formPage is a local page whose text changes only through JavaScript
// after typing and clicking, so only a real browser can read the result.
const formPage = `<!doctype html><html><head><title>Greeter</title></head><body>
<h1>Greeter</h1>
<label for="name">Name</label><input id="name">
<button id="go" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + '!'">Greet</button>
<p id="out">nobody greeted yet</p>
<script>document.write('<p>rendered by script</p>')</script>
</body></html>`

// TestBrowserTool drives a real headless Chromium through the browser
// tools on Pro: open a local page (opened by the test allowlist), type,
// click, read what JavaScript wrote, take a screenshot (stored and
// served), and refuse the metadata address and a redirect into 10/8.
func TestBrowserTool(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium is not installed (apt-get install chromium; .ci/run installs it)")
	}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "http://10.0.0.1/admin", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, formPage)
		}
	}))
	defer site.Close()
	model := anthropictest.New(t)
	in := startInstance(t, "cus_BROWSER", plans.Pro, withAnthropic(model),
		withOptions(runtime.Options{FetchAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
	key := in.addKey(t)
	model.Enqueue(
		llmtest.Answer{ToolCalls: []llm.ToolCall{call("browser_open", `{"url":"`+site.URL+`/"}`)}},
		llmtest.Answer{ToolCalls: []llm.ToolCall{call("browser_type", `{"selector":"#name","text":"Ana"}`), call("browser_click", `{"selector":"#go"}`)}},
		llmtest.Answer{ToolCalls: []llm.ToolCall{call("browser_read", `{}`), call("browser_screenshot", `{}`)}},
		llmtest.Answer{ToolCalls: []llm.ToolCall{call("browser_open", `{"url":"http://169.254.169.254/latest/meta-data/"}`), call("browser_open", `{"url":"`+site.URL+`/redirect"}`)}},
		llmtest.Answer{Text: "Done."},
	)
	start := time.Now()
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "greet Ana on my page"}, http.StatusOK, nil)
	t.Logf("turn with 7 browser calls took %v", time.Since(start))
	reqs := model.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d model calls", len(reqs))
	}
	for _, name := range []string{"browser_open", "browser_read", "browser_click", "browser_type", "browser_screenshot"} {
		if !strings.Contains(strings.Join(llmtest.ToolNames(reqs[0]), " "), name) {
			t.Errorf("Pro does not offer %s", name)
		}
	}
	opened := llmtest.ToolResults(reqs[1])
	if len(opened) != 1 || opened[0].IsError || !strings.Contains(opened[0].Content, "Title: Greeter") || !strings.Contains(opened[0].Content, "rendered by script") {
		t.Fatalf("browser_open = %+v", opened)
	}
	acted := llmtest.ToolResults(reqs[2])
	if len(acted) != 2 || acted[0].IsError || acted[1].IsError {
		t.Fatalf("type and click = %+v", acted)
	}
	read := llmtest.ToolResults(reqs[3])
	if len(read) != 2 || !strings.Contains(read[0].Content, "Hello, Ana!") {
		t.Fatalf("browser_read = %+v", read)
	}
	var shot int
	if _, err := fmt.Sscanf(read[1].Content, "screenshot %d stored", &shot); err != nil || read[1].IsError {
		t.Fatalf("browser_screenshot = %+v", read[1])
	}
	resp, png := in.do(t, http.MethodGet, fmt.Sprintf("/api/screenshots/%d", shot), key, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("GET screenshot = %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(png))
	}
	refused := llmtest.ToolResults(reqs[4])
	if len(refused) != 2 || !refused[0].IsError || !strings.Contains(refused[0].Content, "not a public internet address") {
		t.Errorf("metadata = %+v", refused)
	}
	if len(refused) == 2 && (strings.Contains(refused[1].Content, "admin") && !strings.Contains(refused[1].Content, "refused")) {
		t.Errorf("redirect into 10/8 = %+v", refused[1])
	}
	if len(refused) == 2 && !strings.Contains(refused[1].Content, "refused by the browser's address rules") {
		t.Errorf("redirect into 10/8 was not refused by the proxy: %+v", refused[1])
	}
}

// TestBrowserIdleStop: the browser starts on first use and stops when idle.
func TestBrowserIdleStop(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<title>t</title>hi") }))
	defer site.Close()
	model := anthropictest.New(t)
	in := startInstance(t, "cus_IDLE", plans.Team, withAnthropic(model),
		withOptions(runtime.Options{BrowserIdle: 300 * time.Millisecond, FetchAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
	key := in.addKey(t)
	model.Enqueue(llmtest.Answer{ToolCalls: []llm.ToolCall{call("browser_open", `{"url":"`+site.URL+`"}`)}}, llmtest.Answer{Text: "ok"})
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "open it"}, http.StatusOK, nil)
	if !strings.Contains(in.logs.String(), "browser started") {
		t.Fatal("no browser started")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(in.logs.String(), "browser stopped: idle") {
		if time.Now().After(deadline) {
			t.Fatal("the browser did not stop when idle")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
