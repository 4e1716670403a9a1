package runtime_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/prompt"
)

type chatReq struct {
	Message        string `json:"message"`
	ConversationID string `json:"conversation_id,omitempty"`
	Stream         bool   `json:"stream,omitempty"`
}

type chatErr struct {
	Error          string    `json:"error"`
	ConversationID string    `json:"conversation_id"`
	ResetAt        time.Time `json:"reset_at"`
}

func TestChatSendsWorkspaceMemoriesAndHistory(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_CHAT", plans.Pro, withAnthropic(model))
	key := in.addKey(t)
	pro, _ := plans.Lookup(plans.Pro)
	in.putFiles(t, workspace(t, time.Now(), "Pacific/Kiritimati", pro)...)
	for _, m := range []map[string]any{
		{"content": "Sister Anna lives in Lisbon and loves sardines", "tags": []string{"family"}},
		{"content": "The car's MOT is due in November", "tags": []string{"car"}},
	} {
		in.call(t, http.MethodPost, "/api/memory", key, m, http.StatusCreated, nil)
	}

	var first httpapi.ChatResponse
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "What does my sister like to eat?"}, http.StatusOK, &first)
	if first.Reply != "Echo: What does my sister like to eat?" || first.ConversationID == "" || first.MessageID == 0 {
		t.Fatalf("first reply = %+v", first)
	}
	if first.Model != pro.Model || first.Usage.InputTokens == 0 || first.Usage.OutputTokens == 0 {
		t.Errorf("model and usage = %q %+v", first.Model, first.Usage)
	}
	sent := model.Requests()[0]
	if sent.Model != pro.Model || sent.Stream || sent.MaxTokens <= 0 {
		t.Errorf("request: model %q stream %v max_tokens %d", sent.Model, sent.Stream, sent.MaxTokens)
	}
	for _, want := range []string{soulMarker, agentsMarker, userMarker, identityMarker, memoryMDMarker,
		todayMarker, yesterdayMarker, "Sister Anna lives in Lisbon and loves sardines", "gmail: Use the gmail skill"} {
		if !strings.Contains(sent.System, want) {
			t.Errorf("system prompt lacks %q", want)
		}
	}
	for _, absent := range []string{bootstrapMarker, oldNoteMarker} {
		if strings.Contains(sent.System, absent) {
			t.Errorf("system prompt contains %q", absent)
		}
	}
	// Both memories are in today's daily note (dated in the customer's
	// zone, UTC+14); only the relevant one is among the relevant memories.
	_, relevant, _ := strings.Cut(sent.System, "# Memories relevant to this message")
	if !strings.Contains(relevant, "Sister Anna") || strings.Contains(relevant, "MOT is due") {
		t.Errorf("relevant memories:\n%s", relevant)
	}
	if len(sent.Messages) != 1 || sent.Messages[0].Content != "What does my sister like to eat?" {
		t.Errorf("first turn messages = %+v", sent.Messages)
	}

	// The second turn continues the conversation with its history.
	var second httpapi.ChatResponse
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "And my car?", ConversationID: first.ConversationID}, http.StatusOK, &second)
	if second.ConversationID != first.ConversationID {
		t.Errorf("second turn went to %s", second.ConversationID)
	}
	msgs := model.Requests()[1].Messages
	want := []llm.Message{
		{Role: llm.User, Content: "What does my sister like to eat?"},
		{Role: llm.Assistant, Content: first.Reply},
		{Role: llm.User, Content: "And my car?"},
	}
	if diff := cmp.Diff(want, msgs, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("second turn messages (-want +got):\n%s", diff)
	}
	if !strings.Contains(model.Requests()[1].System, "MOT is due in November") {
		t.Error("second turn's prompt lacks the memory relevant to it")
	}

	var list struct {
		Conversations []httpapi.ConversationBody `json:"conversations"`
	}
	in.call(t, http.MethodGet, "/api/conversations", key, nil, http.StatusOK, &list)
	if len(list.Conversations) != 1 || list.Conversations[0].Title != "What does my sister like to eat?" {
		t.Errorf("conversations = %+v", list.Conversations)
	}
	var conv httpapi.ConversationDetail
	in.call(t, http.MethodGet, "/api/conversations/"+first.ConversationID, key, nil, http.StatusOK, &conv)
	if len(conv.Messages) != 4 || conv.Messages[3].Content != second.Reply || conv.Messages[3].OutputTokens != second.Usage.OutputTokens {
		t.Errorf("conversation = %+v", conv)
	}

	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Usage.Messages != 2 || st.Usage.InputTokens != first.Usage.InputTokens+second.Usage.InputTokens {
		t.Errorf("status usage = %+v", st.Usage)
	}
	if strings.Contains(in.logs.String(), "sister") {
		t.Errorf("logs contain message content:\n%s", in.logs)
	}

	in.call(t, http.MethodDelete, "/api/conversations/"+first.ConversationID, key, nil, http.StatusNoContent, nil)
	in.call(t, http.MethodGet, "/api/conversations/"+first.ConversationID, key, nil, http.StatusNotFound, nil)
}

func TestChatHonoursWorkspaceCaps(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_CAPS", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	starter, _ := plans.Lookup(plans.Starter)
	files := workspace(t, time.Now(), "UTC", starter)
	for i := range files {
		switch files[i].Path {
		case "AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "MEMORY.md":
			files[i].Content = "HEAD-" + files[i].Path + " " + strings.Repeat("lorem ipsum ", 3000) + " TAIL-" + files[i].Path
		}
	}
	in.putFiles(t, files...)
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "hello"}, http.StatusOK, nil)
	sys := model.Requests()[0].System

	// The workspace part of the prompt: from its heading to the skills,
	// one "## path" section per file.
	_, ws, _ := strings.Cut(sys, "# Workspace files\n")
	ws, _, _ = strings.Cut(ws, "\n# Skills")
	total := 0
	for _, sec := range strings.Split(ws, "\n## ")[1:] {
		path, content, _ := strings.Cut(sec, "\n")
		content = strings.TrimSuffix(content, "\n")
		if strings.HasPrefix(content, "[left out") {
			continue
		}
		n := prompt.Len(content)
		total += n
		if n > prompt.MaxFileChars {
			t.Errorf("%s injected with %d characters, over %d", path, n, prompt.MaxFileChars)
		}
		if strings.HasPrefix(content, "HEAD-") && (!strings.Contains(content, "TAIL-"+path) || !strings.Contains(content, "is cut here")) {
			t.Errorf("%s is not cut head and tail around a marker", path)
		}
	}
	if total > prompt.MaxTotalChars {
		t.Errorf("workspace files take %d characters of the prompt, over %d", total, prompt.MaxTotalChars)
	}
	if total < prompt.MaxTotalChars-1000 {
		t.Errorf("workspace files take only %d characters of the %d allowed", total, prompt.MaxTotalChars)
	}
	if !strings.Contains(ws, "## MEMORY.md\n[left out") {
		t.Error("MEMORY.md, past the total, is not named as left out")
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	var events []sseEvent
	for _, block := range strings.Split(strings.TrimSpace(body), "\n\n") {
		var e sseEvent
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				e.name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				e.data += v
			}
		}
		events = append(events, e)
	}
	return events
}

func TestChatStreams(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_STREAM", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	long := strings.Repeat("A streamed answer. ", 10)
	model.Enqueue(llmtest.Answer{Text: long, InputTokens: 120, OutputTokens: 40})
	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "stream please", Stream: true})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("POST /api/chat stream = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := parseSSE(t, string(raw))
	if len(events) < 4 || events[0].name != "start" || events[len(events)-1].name != "done" {
		t.Fatalf("events = %+v", events)
	}
	var text strings.Builder
	for _, e := range events[1 : len(events)-1] {
		if e.name != "delta" {
			t.Fatalf("unexpected event %+v", e)
		}
		text.WriteString(jsonField(t, e.data, "text"))
	}
	if text.String() != long {
		t.Errorf("deltas make %q", text.String())
	}
	done := events[len(events)-1].data
	if !strings.Contains(done, `"input_tokens":120`) || !strings.Contains(done, `"output_tokens":40`) {
		t.Errorf("done = %s", done)
	}
	if !model.Requests()[0].Stream {
		t.Error("the model was not asked to stream")
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Usage.Messages != 1 || st.Usage.InputTokens != 120 || st.Usage.OutputTokens != 40 {
		t.Errorf("usage after a streamed turn = %+v", st.Usage)
	}
}
