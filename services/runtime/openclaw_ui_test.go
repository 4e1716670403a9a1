package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"clawdbot.cloud/pkg/controlproxy"
	"clawdbot.cloud/pkg/dashtoken"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
)

// chromiumOrSkip returns Chromium's path; skipped only outside CI.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM_PATH"), "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found in CI")
	}
	t.Skip("chromium not installed")
	return ""
}

// checkControlUIRefusals: at the front door, the Control UI opens only to a
// dashboard token of this instance. Anonymous callers, the customer's own
// API key (pages and WebSocket) and a dashboard token of another instance
// are refused before anything reaches the gateway. And at the gateway
// itself, a local process posing as the trusted proxy (another customer's
// agent shares the network) is refused without the per-start identity,
// which the same request with the identity shows is what decides.
func checkControlUIRefusals(t *testing.T, in *instance, key, gwURL, proxyUser string) {
	for _, c := range []struct {
		name, user string
		want       int
	}{{"a made-up identity", "cus_openclaw", http.StatusUnauthorized}, {"the front door's identity", proxyUser, http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, gwURL+"/v1/models", nil)
		req.Header.Set("X-Claw-Proxy-User", c.user)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("gateway /v1/models as a local proxy with %s = %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	other := dashtoken.Mint(strings.Repeat("another-instance-token-", 2), time.Now().Add(time.Minute))
	for _, c := range []struct {
		name, bearer string
		websocket    bool
		want         int
	}{
		{"anonymous", "", false, http.StatusUnauthorized},
		{"anonymous websocket", "", true, http.StatusUnauthorized},
		{"the customer's api key", key, false, http.StatusForbidden},
		{"the customer's api key, websocket", key, true, http.StatusForbidden},
		{"another instance's dashboard token", other, false, http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, in.url+controlproxy.Path+"/", nil)
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		if c.websocket {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: GET %s/ = %d, want %d", c.name, controlproxy.Path, resp.StatusCode, c.want)
		}
	}
}

// browserSaw is everything a page's browser received or sent: URLs,
// headers, bodies, WebSocket frames, cookies, storage and the final DOM.
type browserSaw struct {
	mu     sync.Mutex
	text   []string
	wsURLs []string
	loaded []network.RequestID
}

func (b *browserSaw) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.text = append(b.text, s)
}

// checkControlUIInBrowser opens the Control UI in headless Chromium through
// a stand-in for the web app's control origin (pkg/controlproxy, the code
// the web app's control origin runs after its control-session and origin
// checks, which services/web tests with the dashboard's link in Chromium)
// on a host of its own, control.localhost (Chromium resolves *.localhost to
// loopback), as in development; the stand-in, like the web app, lets only
// a WebSocket whose Origin is that origin through. It waits until the
// page's WebSocket has completed OpenClaw's handshake (hello-ok). Nothing
// the browser received or stored holds the gateway token, the proxy
// identity or the instance token.
func checkControlUIInBrowser(t *testing.T, in *instance, instanceToken string, secrets map[string]string) {
	chromium := chromiumOrSkip(t)
	var controlOrigin string
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The UI's WebSocket goes to the prefix itself, without a slash.
		if r.URL.Path != controlproxy.Path && !strings.HasPrefix(r.URL.Path, controlproxy.Path+"/") {
			http.NotFound(w, r)
			return
		}
		if controlproxy.IsWebSocket(r) && r.Header.Get("Origin") != controlOrigin {
			t.Errorf("the Control UI's WebSocket came with Origin %q, want %q", r.Header.Get("Origin"), controlOrigin)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		controlproxy.Forward(w, r, controlproxy.Target{URL: in.url, Token: instanceToken}, controlproxy.Options{
			OnError: func(_ *http.Request, err error) { t.Logf("web hop: %v", err) },
		})
	}))
	_, port, _ := net.SplitHostPort(web.Listener.Addr().String())
	controlOrigin = "http://control.localhost:" + port
	web.Start()
	defer web.Close()

	actx, cancelA := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelT()

	saw := &browserSaw{}
	helloOK := make(chan struct{})
	var once sync.Once
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			saw.add("request " + e.Request.URL + " " + headersText(e.Request.Headers))
		case *network.EventResponseReceived:
			saw.add("response " + e.Response.URL + " " + headersText(e.Response.Headers))
		case *network.EventLoadingFinished:
			saw.mu.Lock()
			saw.loaded = append(saw.loaded, e.RequestID)
			saw.mu.Unlock()
		case *network.EventWebSocketCreated:
			saw.mu.Lock()
			saw.wsURLs = append(saw.wsURLs, e.URL)
			saw.mu.Unlock()
			saw.add("websocket " + e.URL)
		case *network.EventWebSocketHandshakeResponseReceived:
			saw.add("websocket handshake " + headersText(e.Response.Headers))
		case *network.EventWebSocketFrameSent:
			saw.add("sent " + string(e.Response.PayloadData))
		case *network.EventWebSocketFrameReceived:
			saw.add("received " + string(e.Response.PayloadData))
			if bytes.Contains(e.Response.PayloadData, []byte(`"hello-ok"`)) {
				once.Do(func() { close(helloOK) })
			}
		case *network.EventWebSocketFrameError:
			saw.add("frame error " + e.ErrorMessage)
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enable network events: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(controlOrigin+controlproxy.Path+"/")); err != nil {
		t.Fatalf("open the control ui: %v", err)
	}
	select {
	case <-helloOK:
	case <-ctx.Done():
		saw.mu.Lock()
		t.Fatalf("the Control UI's WebSocket never completed the handshake; websockets %v; last of what the browser saw:\n%s",
			saw.wsURLs, strings.Join(saw.text[max(0, len(saw.text)-15):], "\n"))
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	storage, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({local: {...localStorage}, session: {...sessionStorage}, url: location.href})`))
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	saw.add("title " + title)
	saw.add("dom " + html)
	saw.add("storage " + storage)
	for _, c := range cookies.Cookies {
		saw.add("cookie " + c.Name + "=" + c.Value)
	}
	saw.mu.Lock()
	ids := append([]network.RequestID(nil), saw.loaded...)
	saw.mu.Unlock()
	var bodies int
	for _, id := range ids {
		if res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id}); err == nil {
			bodies++
			saw.add("body " + string(res.Body))
		}
	}
	t.Logf("control ui %q: %d responses, %d bodies read, websockets %v", title, len(ids), bodies, saw.wsURLs)
	if !strings.Contains(title, "OpenClaw") {
		t.Errorf("page title %q, want OpenClaw's Control UI", title)
	}
	saw.mu.Lock()
	defer saw.mu.Unlock()
	var wsThroughProxy bool
	for _, u := range saw.wsURLs {
		wsThroughProxy = wsThroughProxy || strings.HasPrefix(u, "ws://"+strings.TrimPrefix(controlOrigin, "http://")+controlproxy.Path)
	}
	if !wsThroughProxy {
		t.Errorf("the WebSocket did not go through the control origin: %v", saw.wsURLs)
	}
	for _, s := range saw.text {
		for name, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("the browser saw the %s in %.200q", name, s)
			}
		}
	}
}

func headersText(h network.Headers) string {
	b, _ := json.Marshal(h)
	return string(b)
}

// checkChatStreams: /api/chat with stream:true on the openclaw engine is a
// well-formed event stream (start, deltas, done with the usage), and the
// turn is metered.
func checkChatStreams(t *testing.T, in *instance, key string, model *openaitest.Server) {
	var before httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &before)
	long := strings.Repeat("Streamed through OpenClaw. ", 8)
	model.Enqueue(llmtest.Answer{Text: long, InputTokens: 900, OutputTokens: 60})
	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "stream please", Stream: true})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("POST /api/chat stream = %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	events := parseSSE(t, string(raw))
	if len(events) < 3 || events[0].name != "start" || events[len(events)-1].name != "done" {
		t.Fatalf("events = %+v", events)
	}
	var text strings.Builder
	for _, e := range events[1 : len(events)-1] {
		if e.name != "delta" {
			t.Fatalf("unexpected event %+v", e)
		}
		text.WriteString(jsonField(t, e.data, "text"))
	}
	if !strings.Contains(text.String(), strings.TrimSpace(long)) {
		t.Errorf("deltas make %q, want the model's answer", text.String())
	}
	var done struct {
		Usage struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(events[len(events)-1].data), &done); err != nil {
		t.Fatal(err)
	}
	if done.Usage.InputTokens < 900 || done.Usage.OutputTokens < 60 {
		t.Errorf("done usage = %+v, want the gateway's (>= 900 in, 60 out)", done.Usage)
	}
	var after httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &after)
	if after.Usage.Messages != before.Usage.Messages+1 || after.Usage.InputTokens-before.Usage.InputTokens != done.Usage.InputTokens ||
		after.Usage.OutputTokens-before.Usage.OutputTokens != done.Usage.OutputTokens {
		t.Errorf("/status usage %+v → %+v, want one more message and the streamed turn's %+v", before.Usage, after.Usage, done.Usage)
	}
}

// checkCompletionsStream: our /v1/chat/completions with stream on the
// openclaw engine: every chunk conforms to OpenAI's
// CreateChatCompletionStreamResponse, the stream ends with [DONE], the
// usage chunk comes when asked for, and the turn is metered.
func checkCompletionsStream(t *testing.T, in *instance, key string, model *openaitest.Server) {
	var before httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &before)
	model.Enqueue(llmtest.Answer{Text: "A streamed answer from the gateway, in pieces.", InputTokens: 700, OutputTokens: 11})
	resp, raw := in.do(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{
		"model": "x", "stream": true, "stream_options": map[string]any{"include_usage": true},
		"messages": []any{map[string]any{"role": "user", "content": "stream please"}}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", resp.StatusCode, raw)
	}
	var text strings.Builder
	var chunks int
	var done bool
	var usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Errorf("stream line %q is not a data line", line)
			continue
		}
		if done {
			t.Errorf("data after [DONE]: %q", data)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		chunks++
		conform(t, "CreateChatCompletionStreamResponse", []byte(data))
		var ch struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				PromptTokens     int64 `json:"prompt_tokens"`
				CompletionTokens int64 `json:"completion_tokens"`
				TotalTokens      int64 `json:"total_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatal(err)
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
		}
		if ch.Usage != nil {
			if len(ch.Choices) != 0 {
				t.Errorf("the usage chunk has choices: %s", data)
			}
			usage = ch.Usage
		}
	}
	if !done || chunks < 2 || !strings.Contains(text.String(), "A streamed answer from the gateway, in pieces.") {
		t.Errorf("stream: done %v, %d chunks, text %q", done, chunks, text.String())
	}
	if usage == nil || usage.PromptTokens < 700 || usage.CompletionTokens < 11 || usage.TotalTokens != usage.PromptTokens+usage.CompletionTokens {
		t.Fatalf("usage chunk = %+v, want the gateway's (>= 700 prompt, 11 completion)", usage)
	}
	var after httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &after)
	if after.Usage.Messages != before.Usage.Messages+1 || after.Usage.InputTokens-before.Usage.InputTokens != usage.PromptTokens {
		t.Errorf("/status usage %+v → %+v, want one more message and the stream's %d prompt tokens", before.Usage, after.Usage, usage.PromptTokens)
	}
}
