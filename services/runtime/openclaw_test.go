package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
	"clawdbot.cloud/services/runtime/internal/openclaw"
)

// gatewayReady bounds the wait for a real OpenClaw gateway: about 10 s on
// an idle machine, several times that on a loaded one.
const gatewayReady = 4 * time.Minute

// openclawDir returns the OpenClaw install the tests run (OPENCLAW_DIR, or
// what `make openclaw` installed in deploy/openclaw). Without one the test
// is skipped, except in CI, where .ci/run installs it.
func openclawDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("OPENCLAW_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "deploy", "openclaw")
	}
	if _, err := openclaw.FindInstall(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI installs it with make openclaw)", err)
		}
		t.Skipf("%v: run make openclaw", err)
	}
	return dir
}

// gatewayProcs returns the pids of the processes running with state
// directory state (bubblewrap and the gateway in it) and the gateway token
// from their environment, found through /proc as an attacker on the
// machine with the runtime's uid would.
func gatewayProcs(t testing.TB, state string) (pids []int, token string) {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("OPENCLAW_STATE_DIR="+state+"\x00")) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie about to be reaped
		}
		pids = append(pids, pid)
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, openclaw.TokenEnv+"="); ok {
				token = v
			}
		}
	}
	return pids, token
}

// TestOpenClawEngine runs a Team instance on the openclaw engine with a
// real OpenClaw gateway in its bubblewrap sandbox, the test model server as
// the gateway's provider: /health waits for the gateway; chat through the
// customer's key (the runtime's own API and the OpenAI-compatible one)
// reaches the gateway, comes back and is metered from the gateway's usage;
// the gateway token is nowhere the customer can read and the customer's key
// does not open the gateway; a memory written through the memory API is in
// the gateway's workspace, and one OpenClaw's agent writes with its own tool
// is in the customer's database; a killed gateway is restarted; and the gateway
// dies with the runtime. Every model call of the gateway goes through the
// runtime's metering model proxy: front-door turns are counted once, turns
// sent to the gateway directly are counted and refused past the quota, and
// the platform's model key is not in the gateway.
func TestOpenClawEngine(t *testing.T) {
	dir := openclawDir(t)
	model := openaitest.New(t)
	state := filepath.Join(t.TempDir(), "openclaw")
	instanceToken := "instance-token-of-the-openclaw-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var sawStarting bool
	// Registered first, so it runs after the instance has stopped.
	t.Cleanup(func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			pids, _ := gatewayProcs(t, state)
			if len(pids) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("gateway processes %v still alive 30s after the runtime stopped", pids)
				for _, p := range pids {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// The customer starts on Pro, on the runtime engine: the workspace
	// rendered, a key, a memory written through the memory API.
	dbURL := pgtest.NewDatabase(t)
	pro := startInstance(t, "cus_openclaw", plans.Pro, withDatabase(dbURL), withOpenAI(model, "test-model"))
	key := pro.addKey(t)
	team, _ := plans.Lookup(plans.Team)
	pro.putFiles(t, workspace(t, time.Now(), "UTC", team)...)
	pro.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": "OPENCLAW-MEMORY: the cat is called Turing"}, http.StatusCreated, nil)
	// The upgrade: the compute service restarts the customer's runtime on
	// Team, which runs on the openclaw engine, with the same database.
	pro.stop()

	started := time.Now()
	in := startInstance(t, "cus_openclaw", plans.Team, withDatabase(dbURL),
		withOpenAI(model, "test-model"),
		withConfig(func(c *runtime.Config) {
			c.Env.Engines = "team=openclaw"
			c.Env.OpenClawDir = dir
			c.InstanceToken = instanceToken
		}),
		// A gateway's first turn after a start loads its agent code (tens of
		// seconds, minutes on a loaded 2-core machine).
		withOptions(runtime.Options{OpenClawStateDir: state, OpenClawBackoff: 100 * time.Millisecond,
			ModelTimeout: 6 * time.Minute, TurnTimeout: 7 * time.Minute}),
		func(s *setup) {
			s.healthWait = gatewayReady
			s.serving = func(url string) {
				// The gateway needs seconds; the runtime answers at once.
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) && !sawStarting {
					resp, err := http.Get(url + "/health")
					if err == nil {
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						sawStarting = resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), `"starting"`)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	t.Logf("openclaw instance ready in %s", time.Since(started).Round(time.Millisecond))
	if !sawStarting {
		t.Error("/health never answered 503 starting while the gateway was starting")
	}
	// The key, the workspace and the memory of before the upgrade: the
	// key still opens the instance (below), and the memory is in the
	// gateway's workspace from its first start.
	var soul bool
	for _, f := range []string{"SOUL.md", "AGENTS.md", "USER.md"} {
		if _, err := os.Stat(filepath.Join(state, "workspace", f)); err == nil {
			soul = true
		}
	}
	if !soul {
		t.Error("the workspace rendered before the upgrade is not in the gateway's workspace")
	}

	model.Enqueue(llmtest.Answer{Text: "REPLY-FROM-OPENCLAW", InputTokens: 1200, OutputTokens: 34})
	var res httpapi.ChatResponse
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "What is my cat called?"}, http.StatusOK, &res)
	if !strings.Contains(res.Reply, "REPLY-FROM-OPENCLAW") {
		t.Fatalf("reply = %+v, want the model's answer through the gateway", res)
	}
	reqs := model.Requests()
	if len(reqs) == 0 {
		t.Fatal("the model server got no request")
	}
	sent := reqs[len(reqs)-1]
	if !strings.Contains(sent.System, "OpenClaw") {
		t.Errorf("the model request did not come from OpenClaw (system prompt %.200q)", sent.System)
	}
	if sent.Model != "test-model" {
		t.Errorf("model = %q, want test-model", sent.Model)
	}
	if res.Usage.InputTokens < 1200 || res.Usage.OutputTokens < 34 {
		t.Errorf("usage of the turn = %+v, want the gateway's (>= 1200 in, 34 out)", res.Usage)
	}
	var st httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &st)
	if st.Usage.Messages != 1 || st.Usage.InputTokens != res.Usage.InputTokens || st.Usage.OutputTokens != res.Usage.OutputTokens {
		t.Errorf("/status usage = %+v, want 1 message and the turn's %+v", st.Usage, res.Usage)
	}
	if st.Model.Provider != openclaw.ProviderName {
		t.Errorf("/status provider = %q, want %q", st.Model.Provider, openclaw.ProviderName)
	}
	if st.Engine != plans.EngineOpenClaw {
		t.Errorf("/status engine = %q, want %q (the dashboard offers the Control UI by it)", st.Engine, plans.EngineOpenClaw)
	}

	// The memory written before the upgrade is in the gateway's workspace,
	// where OpenClaw reads its daily notes.
	notes, _ := filepath.Glob(filepath.Join(state, "workspace", "memory", "*.md"))
	var found bool
	for _, n := range notes {
		if b, _ := os.ReadFile(n); bytes.Contains(b, []byte("OPENCLAW-MEMORY: the cat is called Turing")) {
			found = true
		}
	}
	if !found {
		t.Errorf("the memory is not in the gateway's workspace (notes %v)", notes)
	}

	// And back: OpenClaw's agent writes a memory file with its own write
	// tool (the model asks for it); it reaches the customer's database, so
	// the export and the runtime engine have it.
	var write *llm.ToolSpec
	for i, tool := range sent.Tools {
		if tool.Name == "write" {
			write = &sent.Tools[i]
		}
	}
	if write == nil {
		t.Fatalf("OpenClaw offered no write tool (tools %v)", llmtest.ToolNames(sent))
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(write.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	for name := range schema.Properties {
		switch {
		case strings.Contains(strings.ToLower(name), "path"):
			args[name] = "memory/2020-01-01.md"
		case name == "content":
			args[name] = "# 2020-01-01\n\n- OPENCLAW-WROTE-THIS memory about the garden\n"
		}
	}
	input, _ := json.Marshal(args)
	model.Enqueue(llmtest.Answer{ToolCalls: []llm.ToolCall{{Name: "write", Input: input}}}, llmtest.Answer{Text: "SAVED-IT"})
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "remember this"}, http.StatusOK, &res)
	if !strings.Contains(res.Reply, "SAVED-IT") {
		t.Errorf("reply after the write tool = %q", res.Reply)
	}
	if got := in.readFile(t, "memory/2020-01-01.md"); !strings.Contains(got, "OPENCLAW-WROTE-THIS") {
		t.Errorf("the memory OpenClaw wrote is not in the customer's database: %q (write args %s)", got, input)
	}
	// It is a memory of the memory API: listed and found by its search,
	// once, however many turns sync the workspace.
	var found2 httpapi.SearchResults
	in.call(t, http.MethodGet, "/api/memory/search?q=OPENCLAW-WROTE-THIS+garden", key, nil, http.StatusOK, &found2)
	if len(found2.Results) != 1 || found2.Results[0].Content != "OPENCLAW-WROTE-THIS memory about the garden" || found2.Results[0].NotePath != "memory/2020-01-01.md" {
		t.Errorf("/api/memory/search for the memory OpenClaw wrote = %+v", found2.Results)
	}

	// The OpenAI-compatible API of the instance, with the customer's key.
	model.Enqueue(llmtest.Answer{Text: "SECOND-REPLY", InputTokens: 500, OutputTokens: 7})
	var oc struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	in.call(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{
		"model": "x", "messages": []map[string]any{{"role": "user", "content": "hello again"}},
	}, http.StatusOK, &oc)
	if len(oc.Choices) != 1 || !strings.Contains(oc.Choices[0].Message.Content, "SECOND-REPLY") || oc.Usage.PromptTokens < 500 {
		t.Errorf("/v1/chat/completions = %+v", oc)
	}
	// A message is a model call that answers the user (the calls that
	// answer tool results are not): each counted once, at the model proxy,
	// not again by the front door.
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &st)
	want, calls := turnCalls(model)
	t.Logf("model calls of the three turns: %s", calls)
	if st.Usage.Messages != 3 || want != 3 {
		t.Errorf("/status messages = %d after three turns (%d model calls answered the user), want 3: %s", st.Usage.Messages, want, calls)
	}

	// Streaming through the front door, both APIs.
	t.Run("api chat streams", func(t *testing.T) { checkChatStreams(t, in, key, model) })
	t.Run("v1 chat completions streams", func(t *testing.T) { checkCompletionsStream(t, in, key, model) })

	// The gateway token: it works on the gateway (so it is the right one),
	// the customer's key does not, and it is in nothing the customer reads.
	pids, token := gatewayProcs(t, state)
	if token == "" || len(pids) == 0 {
		t.Fatalf("gateway processes %v, token found %v", pids, token != "")
	}
	gwURL := gatewayURL(t, state)
	for _, tc := range []struct {
		bearer string
		want   int
	}{{token, http.StatusOK}, {key, http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, gwURL+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+tc.bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("gateway /v1/models with the %s: %d, want %d", map[bool]string{true: "gateway token", false: "customer key"}[tc.bearer == token], resp.StatusCode, tc.want)
		}
	}
	// Turns that skip the front door (the Control UI's chat, channels,
	// cron) are metered at the model proxy; the gateway never holds the
	// platform's model key.
	t.Run("metered past the front door", func(t *testing.T) { checkMeteredPastTheFrontDoor(t, in, key, model, gwURL, token) })
	t.Run("model key not in the gateway", func(t *testing.T) { checkModelKeyNotInGateway(t, pids, state, openaitest.APIKey) })
	var readable []string
	for _, p := range []string{"/status", "/health", "/api/workspace/export", "/api/skills", "/api/memory", "/api/usage", "/v1/models", "/api/conversations"} {
		_, body := in.do(t, http.MethodGet, p, key, nil)
		readable = append(readable, p+": "+string(body))
	}
	_, badChat := in.do(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{"model": "x", "messages": "nope"})
	readable = append(readable, "chat error: "+string(badChat), "logs: "+in.logs.String())
	_, export := in.do(t, http.MethodGet, "/api/workspace/export", key, nil)
	files, _ := untar(t, export)
	for name, content := range files {
		readable = append(readable, "export "+name+": "+content)
	}
	_ = filepath.WalkDir(state, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(path); err == nil {
				readable = append(readable, "state file "+path+": "+string(b))
			}
		}
		return nil
	})
	for _, r := range readable {
		if strings.Contains(r, token) {
			t.Errorf("the gateway token is readable in %.120q", r)
		}
	}

	// The Control UI: only through the web app's hop, and the browser sees
	// no secret of the gateway's or the platform's.
	proxyUser := gatewayEnv(t, pids, openclaw.ProxyUserEnv)
	if proxyUser == "" {
		t.Fatal("the gateway has no proxy identity in its environment")
	}
	t.Run("control ui refusals", func(t *testing.T) { checkControlUIRefusals(t, in, key, gwURL, proxyUser) })
	t.Run("control ui in a browser", func(t *testing.T) {
		checkControlUIInBrowser(t, in, instanceToken, map[string]string{
			"gateway token": token, "proxy identity": proxyUser, "instance token": instanceToken, "api key": key})
	})
	if strings.Contains(in.logs.String(), proxyUser) {
		t.Error("the proxy identity is in the runtime's logs")
	}

	// A gateway that dies is restarted, and the instance is ready again.
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	waitStatus(t, in.url+"/health", http.StatusServiceUnavailable, time.Minute)
	waitStatus(t, in.url+"/health", http.StatusOK, gatewayReady)
	model.Enqueue(llmtest.Answer{Text: "AFTER-RESTART"})
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "still there?"}, http.StatusOK, &res)
	if !strings.Contains(res.Reply, "AFTER-RESTART") {
		t.Errorf("reply after restart = %q", res.Reply)
	}
	// Turns synced the workspace again and again: the agent's memory is
	// still one memory.
	in.call(t, http.MethodGet, "/api/memory/search?q=OPENCLAW-WROTE-THIS+garden", key, nil, http.StatusOK, &found2)
	if len(found2.Results) != 1 {
		t.Errorf("/api/memory/search after more turns = %+v, want the one memory", found2.Results)
	}
	// Last: the quota spent, the gateway's own turns are refused too.
	t.Run("quota refuses past the front door", func(t *testing.T) { checkQuotaRefusesPastTheFrontDoor(t, in, key, model, gwURL, token) })
}

// gatewayEnv returns the variable name from the environment of the first
// of pids that has it.
func gatewayEnv(t testing.TB, pids []int, name string) string {
	t.Helper()
	for _, p := range pids {
		env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				return v
			}
		}
	}
	return ""
}

// gatewayURL reads the gateway's port from its rendered openclaw.json.
func gatewayURL(t testing.TB, state string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "openclaw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Gateway struct{ Port int } `json:"gateway"`
	}
	if err := jsonUnmarshal(string(b), &doc); err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + strconv.Itoa(doc.Gateway.Port)
}

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s", url, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOpenClawEngineRefusesToStartMisconfigured: an instance on the
// openclaw engine without the install, with a sandbox that is not there, or
// on a plan too small for it does not start, and says why.
func TestOpenClawEngineRefusesToStartMisconfigured(t *testing.T) {
	model := openaitest.New(t)
	tests := []struct {
		name, plan, engines, dir, sandbox string
		want                              string
	}{
		{"no install", plans.Team, "team=openclaw", filepath.Join(t.TempDir(), "nothing"), "", "openclaw is not installed"},
		{"no bubblewrap", plans.Team, "team=openclaw", openclawDir(t), "/nonexistent/bwrap", "OPENCLAW_SANDBOX"},
		{"plan too small", plans.Pro, "pro=openclaw", openclawDir(t), "", "plan too small for engine"},
		{"bad setting", plans.Team, "team:openclaw", openclawDir(t), "", "RUNTIME_ENGINES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := runtime.Config{
				CustomerID: "cus_bad", Plan: tt.plan, ListenAddr: "127.0.0.1:0",
				DatabaseURL: pgtest.NewDatabase(t), InstanceID: "i", Version: "v",
			}
			cfg.Env.OpenAIBaseURL, cfg.Env.OpenAIAPIKey, cfg.Model = model.URL, openaitest.APIKey, "test-model"
			cfg.Env.Engines, cfg.Env.OpenClawDir, cfg.Env.OpenClawSandbox = tt.engines, tt.dir, tt.sandbox
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err = runtime.ServeWith(ctx, cfg, ln, slog.New(slog.DiscardHandler), runtime.Options{OpenClawStateDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ServeWith = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
