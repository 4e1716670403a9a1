package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
	"clawdbot.cloud/services/runtime/internal/openclaw"
)

// gatewayTurn sends a turn to the gateway's own OpenAI-compatible endpoint
// on loopback with the gateway password, as OpenClaw's Control UI chat, a
// channel or cron would start one: past the front door. It returns the
// status and the body.
func gatewayTurn(t *testing.T, gwURL, token, message string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "openclaw/default",
		"messages": []map[string]any{{"role": "user", "content": message}}})
	req, _ := http.NewRequest(http.MethodPost, gwURL+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 6 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("gateway turn: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// turnCalls counts the model calls that answered a user's message (no
// tool result since the assistant last spoke; OpenClaw adds a user message
// of its own context after tool results), as the model server saw them,
// and describes every call.
func turnCalls(model *openaitest.Server) (int64, string) {
	var n int64
	var calls []string
	for i, r := range model.Requests() {
		last := r.Messages[len(r.Messages)-1]
		turn := last.Role == llm.User
		for i := len(r.Messages) - 1; i >= 0 && r.Messages[i].Role == llm.User; i-- {
			if len(r.Messages[i].ToolResults) > 0 {
				turn = false
			}
		}
		if turn {
			n++
		}
		calls = append(calls, fmt.Sprintf("#%d starts a turn %v, %d messages, last %s %.60q", i, turn, len(r.Messages), last.Role, last.Content))
	}
	return n, strings.Join(calls, "; ")
}

// proxyCounter reads a counter of the model proxy from the instance's
// /metrics, e.g. `claw_runtime_model_proxy_requests_total{outcome="ok"}`.
func proxyCounter(t *testing.T, in *instance, key, series string) float64 {
	t.Helper()
	_, body := in.do(t, http.MethodGet, "/metrics", key, nil)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("/metrics %s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", series, body)
	return 0
}

// checkMeteredPastTheFrontDoor: a turn that reaches the gateway without
// passing the front door is counted in the customer's usage by the model
// proxy (one message, the model's tokens), exactly as a front-door turn.
func checkMeteredPastTheFrontDoor(t *testing.T, in *instance, key string, model *openaitest.Server, gwURL, token string) {
	var before, after httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &before)
	okBefore := proxyCounter(t, in, key, `claw_runtime_model_proxy_requests_total{outcome="ok"}`)
	calls := len(model.Requests())
	model.Enqueue(llmtest.Answer{Text: "PAST-THE-FRONT-DOOR", InputTokens: 777, OutputTokens: 11})
	status, body := gatewayTurn(t, gwURL, token, "a turn the front door never sees")
	if status != http.StatusOK || !strings.Contains(body, "PAST-THE-FRONT-DOOR") {
		t.Fatalf("gateway turn = %d %.300s", status, body)
	}
	if n := len(model.Requests()) - calls; n != 1 {
		t.Fatalf("the turn made %d model calls, want 1", n)
	}
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &after)
	got := customerdb.UsageTotals{Messages: after.Usage.Messages - before.Usage.Messages,
		InputTokens: after.Usage.InputTokens - before.Usage.InputTokens, OutputTokens: after.Usage.OutputTokens - before.Usage.OutputTokens}
	if want := (customerdb.UsageTotals{Messages: 1, InputTokens: 777, OutputTokens: 11}); got != want {
		t.Errorf("usage counted for the gateway's own turn = %+v, want %+v", got, want)
	}
	if ok := proxyCounter(t, in, key, `claw_runtime_model_proxy_requests_total{outcome="ok"}`); ok != okBefore+1 {
		t.Errorf("proxy ok calls %v → %v, want one more", okBefore, ok)
	}
	if in := proxyCounter(t, in, key, `claw_runtime_model_proxy_tokens_total{direction="input"}`); in < 777 {
		t.Errorf("proxy input tokens = %v, want at least 777", in)
	}
}

// checkModelKeyNotInGateway: the platform's model key is in no gateway
// process's environment and no file of its state directory; the gateway
// holds the model proxy's key instead.
func checkModelKeyNotInGateway(t *testing.T, pids []int, state, modelKey string) {
	for _, p := range pids {
		env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "environ"))
		if err != nil {
			continue
		}
		if bytes.Contains(env, []byte(modelKey)) {
			t.Errorf("the platform's model key is in the environment of gateway process %d", p)
		}
	}
	proxyKey := gatewayEnv(t, pids, openclaw.ModelKeyEnv)
	if proxyKey == "" || proxyKey == modelKey {
		t.Errorf("the gateway's %s is %q, want the model proxy's own key", openclaw.ModelKeyEnv, proxyKey)
	}
	_ = filepath.WalkDir(state, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(path); err == nil && (bytes.Contains(b, []byte(modelKey)) || (proxyKey != "" && bytes.Contains(b, []byte(proxyKey)))) {
				t.Errorf("a model key is in the gateway's state file %s", path)
			}
		}
		return nil
	})
	cfg, err := os.ReadFile(filepath.Join(state, "openclaw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Models struct {
			Providers map[string]struct {
				BaseURL string `json:"baseUrl"`
			} `json:"providers"`
		} `json:"models"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Models.Providers) != 1 || !strings.HasPrefix(doc.Models.Providers["platform"].BaseURL, "http://127.0.0.1:") {
		t.Errorf("the gateway's providers = %+v, want only the model proxy on loopback", doc.Models.Providers)
	}
}

// checkQuotaRefusesPastTheFrontDoor leaves one message of the month: a
// front-door turn takes it (its reservation is lent to the model proxy, so
// the gateway's call is not refused by the turn's own reservation) and is
// counted once. Then, the messages spent, a turn through the gateway's own
// endpoint is refused at the model proxy: the model is not called and
// nothing more is counted. It runs last, on a gateway whose provider has
// just been refused.
func checkQuotaRefusesPastTheFrontDoor(t *testing.T, in *instance, key string, model *openaitest.Server, gwURL, token string) {
	var st httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &st)
	team, _ := plans.Lookup(plans.Team)
	if err := customerdb.AddUsage(t.Context(), in.pool, time.Now(),
		customerdb.UsageTotals{Messages: team.MonthlyMessages - 1 - st.Usage.Messages}); err != nil {
		t.Fatal(err)
	}
	model.Enqueue(llmtest.Answer{Text: "THE-LAST-MESSAGE"})
	var res httpapi.ChatResponse
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "the month's last message"}, http.StatusOK, &res)
	if !strings.Contains(res.Reply, "THE-LAST-MESSAGE") {
		t.Errorf("reply to the last message = %q", res.Reply)
	}
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &st)
	if st.Usage.Messages != team.MonthlyMessages {
		t.Errorf("messages after the last front-door turn = %d, want exactly the plan's %d", st.Usage.Messages, team.MonthlyMessages)
	}
	refusedBefore := proxyCounter(t, in, key, `claw_runtime_model_proxy_requests_total{outcome="quota"}`)
	calls := len(model.Requests())
	model.Enqueue(llmtest.Answer{Text: "MUST-NOT-BE-ANSWERED"})
	status, body := gatewayTurn(t, gwURL, token, "one more, past the quota")
	t.Logf("the gateway's answer to a turn refused by the quota: %d %.400s", status, body)
	if strings.Contains(body, "MUST-NOT-BE-ANSWERED") {
		t.Errorf("the gateway answered past the quota: %d %.300s", status, body)
	}
	if n := len(model.Requests()) - calls; n != 0 {
		t.Errorf("the model was called %d times past the quota", n)
	}
	if got := proxyCounter(t, in, key, `claw_runtime_model_proxy_requests_total{outcome="quota"}`); got <= refusedBefore {
		t.Errorf("proxy quota refusals %v → %v, want more", refusedBefore, got)
	}
	var after httpapi.StatusBody
	in.call(t, http.MethodGet, "/status", key, nil, http.StatusOK, &after)
	if after.Usage != st.Usage {
		t.Errorf("usage changed by a refused turn: %+v → %+v", st.Usage, after.Usage)
	}
	// The front door refuses with its own answer, before the gateway.
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "and through the front door?"}, http.StatusTooManyRequests, nil)
}
