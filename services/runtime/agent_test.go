package runtime_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
)

// providers are the two wire formats a tool-using turn is tested over.
var providers = []struct {
	name  string
	start func(t *testing.T) (llmtest.Fake, option)
	// web is what an instance without a search backend offers for the
	// web-search skill: Anthropic's server tools, or the runtime's fetcher.
	web []string
}{
	{"anthropic", func(t *testing.T) (llmtest.Fake, option) {
		m := anthropictest.New(t)
		return m, withAnthropic(m)
	}, []string{"web_search", "web_fetch"}},
	{"openai", func(t *testing.T) (llmtest.Fake, option) {
		m := openaitest.New(t)
		return m, withOpenAI(m, "llama3.2")
	}, []string{"web_fetch"}},
}

func call(name, input string) llm.ToolCall {
	return llm.ToolCall{Name: name, Input: json.RawMessage(input)}
}

// TestAgentMemoryTools drives a three-step turn over both wire formats,
// whole and streamed: the model saves a memory, then searches it and asks
// for a tool the plan lacks, then answers. The memory lands where POST
// /api/memory puts it, the results the model gets are the tools' own,
// every call is stored and every model call's tokens are counted.
func TestAgentMemoryTools(t *testing.T) {
	for _, p := range providers {
		for _, stream := range []bool{false, true} {
			t.Run(p.name+map[bool]string{false: " whole", true: " streamed"}[stream], func(t *testing.T) {
				model, opt := p.start(t)
				in := startInstance(t, "cus_AGENT", plans.Starter, opt)
				key := in.addKey(t)
				model.Enqueue(
					llmtest.Answer{Text: "Noted.", ToolCalls: []llm.ToolCall{call("memory_save", `{"content":"Ana's birthday is 12 May","tags":["family"]}`)}, InputTokens: 100, OutputTokens: 10},
					llmtest.Answer{ToolCalls: []llm.ToolCall{call("memory_search", `{"query":"Ana birthday"}`), call("browser_open", `{"url":"https://example.com"}`)}, InputTokens: 200, OutputTokens: 20},
					llmtest.Answer{Text: "Ana's birthday is on 12 May.", InputTokens: 300, OutputTokens: 30},
				)
				var res httpapi.ChatResponse
				var events []sseEvent
				if stream {
					resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "Remember Ana's birthday, 12 May", Stream: true})
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("stream = %d %s", resp.StatusCode, raw)
					}
					events = parseSSE(t, string(raw))
					if last := events[len(events)-1]; last.name != "done" || jsonUnmarshal(last.data, &res) != nil {
						t.Fatalf("last event = %+v", last)
					}
				} else {
					in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "Remember Ana's birthday, 12 May"}, http.StatusOK, &res)
				}
				if res.Reply != "Noted.\n\nAna's birthday is on 12 May." || res.ToolCalls != 3 {
					t.Errorf("reply %q after %d tool calls", res.Reply, res.ToolCalls)
				}
				if res.Usage.InputTokens != 600 || res.Usage.OutputTokens != 60 {
					t.Errorf("usage = %+v, want the sum of the three model calls", res.Usage)
				}

				reqs := model.Requests()
				if len(reqs) != 3 {
					t.Fatalf("model got %d calls, want 3", len(reqs))
				}
				want := append([]string{"memory_save", "memory_search", "memory_forget"}, p.web...)
				if got := llmtest.ToolNames(reqs[0]); !sameSet(got, want) {
					t.Errorf("offered %v, want %v (Starter: no browser)", got, want)
				}
				saved := llmtest.ToolResults(reqs[1])
				if len(saved) != 1 || saved[0].IsError || !strings.HasPrefix(saved[0].Content, "saved memory ") {
					t.Fatalf("memory_save result = %+v", saved)
				}
				found := llmtest.ToolResults(reqs[2])
				if len(found) != 2 || !strings.Contains(found[0].Content, "Ana's birthday is 12 May") || !strings.Contains(found[0].Content, "tags: family") {
					t.Errorf("memory_search result = %+v", found)
				}
				if len(found) == 2 && (!found[1].IsError || !strings.Contains(found[1].Content, "not available")) {
					t.Errorf("a tool outside the plan gave %+v, want an error result", found[1])
				}

				var mems httpapi.MemoryList
				in.get(t, "/api/memory", key, &mems)
				if len(mems.Memories) != 1 || mems.Memories[0].Content != "Ana's birthday is 12 May" {
					t.Fatalf("memories = %+v", mems.Memories)
				}
				if note := in.readFile(t, mems.Memories[0].NotePath); !strings.Contains(note, "Ana's birthday is 12 May (tags: family)") {
					t.Errorf("daily note = %q", note)
				}

				calls, err := customerdb.ToolCalls(t.Context(), in.pool, res.ConversationID, 10)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range calls {
					got = append(got, c.Tool+":"+c.Outcome)
					if c.UserMessageID != res.UserMessageID || c.Input == "" || c.Result == "" {
						t.Errorf("stored call %+v", c)
					}
				}
				if want := []string{"memory_save:ok", "memory_search:ok", "browser_open:error"}; !slices.Equal(got, want) {
					t.Errorf("stored calls %v, want %v", got, want)
				}

				var conv httpapi.ConversationDetail
				in.get(t, "/api/conversations/"+res.ConversationID, key, &conv)
				if len(conv.ToolCalls) != 3 || conv.ToolCalls[2].Outcome != "error" || conv.ToolCalls[0].Tool != "memory_save" {
					t.Errorf("conversation tool calls = %+v", conv.ToolCalls)
				}

				var st statusBody
				in.get(t, "/status", key, &st)
				if st.Usage.Messages != 1 || st.Usage.InputTokens != 600 || st.Usage.OutputTokens != 60 {
					t.Errorf("usage = %+v", st.Usage)
				}

				if stream {
					var tools []string
					for _, e := range events {
						if e.name == "tool" {
							tools = append(tools, jsonField(t, e.data, "name")+":"+jsonField(t, e.data, "status"))
						}
					}
					want := []string{"memory_save:running", "memory_save:done", "memory_search:running", "memory_search:done", "browser_open:running", "browser_open:failed"}
					if !slices.Equal(tools, want) {
						t.Errorf("tool events %v, want %v", tools, want)
					}
				}
			})
		}
	}
}

// TestAgentSwitchedOffSkill: a skill the customer switched off offers no
// tools, and a call to one anyway runs nothing. The switch applies to the
// next turn without a restart.
func TestAgentSwitchedOffSkill(t *testing.T) {
	model := openaitest.New(t)
	in := startInstance(t, "cus_OFF", plans.Pro, withOpenAI(model, "llama3.2"))
	key := in.addKey(t)
	in.call(t, http.MethodPut, "/api/skills/memory", key, map[string]bool{"enabled": false}, http.StatusOK, nil)
	model.Enqueue(llmtest.Answer{ToolCalls: []llm.ToolCall{call("memory_save", `{"content":"secret plan"}`)}}, llmtest.Answer{Text: "ok"})
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "remember my secret plan"}, http.StatusOK, nil)
	reqs := model.Requests()
	if names := llmtest.ToolNames(reqs[0]); slices.Contains(names, "memory_save") {
		t.Errorf("offered %v with memory switched off", names)
	}
	if r := llmtest.ToolResults(reqs[1]); len(r) != 1 || !r[0].IsError {
		t.Errorf("result of a switched-off tool = %+v", r)
	}
	var mems httpapi.MemoryList
	in.get(t, "/api/memory", key, &mems)
	if len(mems.Memories) != 0 {
		t.Errorf("a switched-off tool saved %+v", mems.Memories)
	}

	in.call(t, http.MethodPut, "/api/skills/memory", key, map[string]bool{"enabled": true}, http.StatusOK, nil)
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "hello again"}, http.StatusOK, nil)
	if names := llmtest.ToolNames(model.Requests()[2]); !slices.Contains(names, "memory_save") {
		t.Errorf("switched back on, offered %v", names)
	}
}

// TestAgentStepLimit: the last step allowed forbids tools (tool_choice
// none); a model that asks anyway ends the turn with a note, not a loop.
func TestAgentStepLimit(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_STEPS", plans.Starter, withAnthropic(model), withConfig(func(c *runtime.Config) { c.MaxToolSteps = 2 }))
	key := in.addKey(t)
	ask := llmtest.Answer{ToolCalls: []llm.ToolCall{call("memory_search", `{"query":"x"}`)}}
	model.Enqueue(ask, ask, ask)
	var res httpapi.ChatResponse
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "loop forever"}, http.StatusOK, &res)
	reqs := model.Requests()
	if len(reqs) != 2 || reqs[0].NoTools || !reqs[1].NoTools {
		t.Fatalf("%d model calls; no-tools flags wrong", len(reqs))
	}
	if !strings.Contains(res.Reply, "limit of 2 steps") {
		t.Errorf("reply = %q", res.Reply)
	}
}

// TestAgentFailedCallKeepsMessageAndTokens: a model call failing after a
// tool step answers 502 naming the conversation; the customer's message,
// the tool call and the tokens of the call that answered are all kept.
func TestAgentFailedCallKeepsMessageAndTokens(t *testing.T) {
	model := openaitest.New(t)
	in := startInstance(t, "cus_FAIL", plans.Starter, withOpenAI(model, "llama3.2"))
	key := in.addKey(t)
	model.Enqueue(llmtest.Answer{ToolCalls: []llm.ToolCall{call("memory_search", `{"query":"x"}`)}, InputTokens: 70, OutputTokens: 7}, llmtest.Answer{Status: 500})
	var e chatErr
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "search my memories"}, http.StatusBadGateway, &e)
	if e.ConversationID == "" {
		t.Fatal("the error does not name the conversation")
	}
	calls, err := customerdb.ToolCalls(t.Context(), in.pool, e.ConversationID, 10)
	if err != nil || len(calls) != 1 {
		t.Fatalf("tool calls = %+v, %v", calls, err)
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Usage.Messages != 0 || st.Usage.InputTokens != 70 || st.Usage.OutputTokens != 7 {
		t.Errorf("usage = %+v, want the answered call's tokens and no message", st.Usage)
	}
}

// TestAgentServerTools: with Anthropic, web search runs on Anthropic's side;
// its use is streamed as tool activity and stored, and the assistant
// message with the server blocks goes back as it came.
func TestAgentServerTools(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_SERVER", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	model.Enqueue(
		llmtest.Answer{Text: "Searching.", ServerToolUses: []llm.ServerToolUse{{ID: "srvtoolu_1", Name: "web_search", Input: json.RawMessage(`{"query":"weather Lisbon"}`)}},
			ToolCalls: []llm.ToolCall{call("memory_save", `{"content":"likes Lisbon"}`)}},
		llmtest.Answer{Text: "Sunny."},
	)
	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "weather in Lisbon?", Stream: true})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d %s", resp.StatusCode, raw)
	}
	var server bool
	for _, e := range parseSSE(t, string(raw)) {
		if e.name == "tool" && jsonField(t, e.data, "name") == "web_search" && strings.Contains(e.data, `"server":true`) {
			server = true
		}
	}
	if !server {
		t.Errorf("no server tool event in %s", raw)
	}
	reqs := model.Requests()
	if len(reqs) != 2 || !slices.Contains(reqs[0].ServerTools, llm.ServerWebSearch) {
		t.Fatalf("requests = %d, server tools %v", len(reqs), reqs[0].ServerTools)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestAgentPlanChangeWithoutRestart: when the workspace service records a
// new plan in the customer's database (as it does on a plan change), the
// running instance offers that plan's tools from the next turn, and its
// skills and status follow — no restart.
func TestAgentPlanChangeWithoutRestart(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_UPGRADE", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "before"}, http.StatusOK, nil)
	if names := llmtest.ToolNames(model.Requests()[0]); slices.Contains(names, "browser_open") {
		t.Fatalf("Starter offers %v", names)
	}
	if err := customerdb.SetPlan(t.Context(), in.pool, plans.Pro); err != nil {
		t.Fatal(err)
	}
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "after"}, http.StatusOK, nil)
	if names := llmtest.ToolNames(model.Requests()[1]); !slices.Contains(names, "browser_open") {
		t.Errorf("after the upgrade, offered %v", names)
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Plan != plans.Pro || st.Quota.MonthlyMessages != 20_000 {
		t.Errorf("status plan %q quota %d", st.Plan, st.Quota.MonthlyMessages)
	}
	in.call(t, http.MethodPut, "/api/skills/browser", key, map[string]bool{"enabled": false}, http.StatusOK, nil)

	if err := customerdb.SetPlan(t.Context(), in.pool, plans.Starter); err != nil {
		t.Fatal(err)
	}
	in.call(t, http.MethodPut, "/api/skills/browser", key, map[string]bool{"enabled": true}, http.StatusForbidden, nil)
}

// TestAgentTurnTimeout: a turn that outruns its time limit (a tool step,
// then a model that does not answer) is a 502 that says so and names the
// conversation; the tool call is kept.
func TestAgentTurnTimeout(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_SLOW", plans.Starter, withAnthropic(model), withOptions(runtime.Options{TurnTimeout: 500 * time.Millisecond}))
	key := in.addKey(t)
	model.Enqueue(llmtest.Answer{ToolCalls: []llm.ToolCall{call("memory_search", `{"query":"x"}`)}}, llmtest.Answer{Hang: true})
	var e chatErr
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "slow one"}, http.StatusBadGateway, &e)
	if !strings.Contains(e.Error, "limit of 500ms") || e.ConversationID == "" {
		t.Errorf("error = %+v", e)
	}
}

// TestAgentCallsPerStep: past 10 tool calls in one step, the rest get an
// error result without running.
func TestAgentCallsPerStep(t *testing.T) {
	model := openaitest.New(t)
	in := startInstance(t, "cus_MANY", plans.Starter, withOpenAI(model, "llama3.2"))
	key := in.addKey(t)
	var many []llm.ToolCall
	for i := range 12 {
		many = append(many, call("memory_save", `{"content":"fact `+string(rune('a'+i))+`"}`))
	}
	model.Enqueue(llmtest.Answer{ToolCalls: many}, llmtest.Answer{Text: "ok"})
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "save a dozen things"}, http.StatusOK, nil)
	r := llmtest.ToolResults(model.Requests()[1])
	if len(r) != 12 || r[9].IsError || !r[10].IsError || !strings.Contains(r[11].Content, "at most 10") {
		t.Fatalf("results = %+v", r)
	}
	var mems httpapi.MemoryList
	in.get(t, "/api/memory?limit=100", key, &mems)
	if len(mems.Memories) != 10 {
		t.Errorf("%d memories saved, want 10", len(mems.Memories))
	}
}
