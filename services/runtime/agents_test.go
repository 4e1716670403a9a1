package runtime_test

import (
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
)

// TestAgents: on Team, named agents have their own SOUL.md and IDENTITY.md
// in the prompt and their own conversations; other plans have one agent.
func TestAgents(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_TEAM", plans.Team, withAnthropic(model))
	key := in.addKey(t)
	in.putFiles(t, customerdb.File{Path: "SOUL.md", Content: "The default soul."}, customerdb.File{Path: "IDENTITY.md", Content: "I am Claw."})
	in.call(t, http.MethodPut, "/api/agents/chef", key, map[string]string{"soul": "You cook Portuguese food.", "identity": "I am Chef Rui."}, http.StatusOK, nil)
	in.call(t, http.MethodPut, "/api/agents/Bad_Name", key, map[string]string{"soul": "x"}, http.StatusBadRequest, nil)
	in.call(t, http.MethodPut, "/api/agents/empty", key, map[string]string{}, http.StatusBadRequest, nil)

	var res httpapi.ChatResponse
	in.call(t, http.MethodPost, "/api/chat", key, map[string]string{"message": "dinner ideas?", "agent": "chef"}, http.StatusOK, &res)
	sys := model.Requests()[0].System
	if !strings.Contains(sys, "You cook Portuguese food.") || !strings.Contains(sys, "I am Chef Rui.") || strings.Contains(sys, "The default soul.") || strings.Contains(sys, "I am Claw.") {
		t.Errorf("chef's prompt:\n%s", sys)
	}
	if res.Agent != "chef" {
		t.Errorf("answered by %q", res.Agent)
	}
	// The conversation stays with its agent.
	in.call(t, http.MethodPost, "/api/chat", key, map[string]string{"message": "and dessert?", "conversation_id": res.ConversationID}, http.StatusOK, nil)
	if sys := model.Requests()[1].System; !strings.Contains(sys, "Chef Rui") {
		t.Error("the continued conversation lost its agent")
	}
	in.call(t, http.MethodPost, "/api/chat", key, map[string]string{"message": "x", "conversation_id": res.ConversationID, "agent": "other"}, http.StatusNotFound, nil)
	in.call(t, http.MethodPut, "/api/agents/other", key, map[string]string{"soul": "Other."}, http.StatusOK, nil)
	in.call(t, http.MethodPost, "/api/chat", key, map[string]string{"message": "x", "conversation_id": res.ConversationID, "agent": "other"}, http.StatusConflict, nil)

	// The default agent keeps the workspace's own files.
	in.call(t, http.MethodPost, "/api/chat", key, map[string]string{"message": "hello"}, http.StatusOK, nil)
	if sys := model.Requests()[2].System; !strings.Contains(sys, "I am Claw.") || strings.Contains(sys, "Chef Rui") {
		t.Errorf("default prompt:\n%s", sys)
	}
	var conv httpapi.ConversationDetail
	in.get(t, "/api/conversations/"+res.ConversationID, key, &conv)
	if conv.Agent != "chef" {
		t.Errorf("conversation agent %q", conv.Agent)
	}
	var list httpapi.AgentList
	in.get(t, "/api/agents", key, &list)
	if len(list.Agents) != 2 || list.Agents[0].Name != "chef" {
		t.Errorf("agents = %+v", list.Agents)
	}
	// Through the OpenAI-compatible API, an agent is a model.
	var models struct {
		Data []struct{ ID string } `json:"data"`
	}
	in.get(t, "/v1/models", key, &models)
	if len(models.Data) != 3 || models.Data[1].ID != "chef" {
		t.Errorf("models = %+v", models.Data)
	}
	in.call(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{"model": "chef", "messages": []any{map[string]string{"role": "user", "content": "soup?"}}}, http.StatusOK, nil)
	if sys := model.Requests()[3].System; !strings.Contains(sys, "Chef Rui") {
		t.Error("model \"chef\" did not reach the chef agent")
	}
	in.call(t, http.MethodDelete, "/api/agents/other", key, nil, http.StatusNoContent, nil)
	in.call(t, http.MethodDelete, "/api/agents/other", key, nil, http.StatusNotFound, nil)

	pro := startInstance(t, "cus_PROAGENT", plans.Pro, withAnthropic(model))
	pkey := pro.addKey(t)
	pro.call(t, http.MethodPut, "/api/agents/chef", pkey, map[string]string{"soul": "x"}, http.StatusForbidden, nil)
	pro.call(t, http.MethodPost, "/api/chat", pkey, map[string]string{"message": "hi", "agent": "chef"}, http.StatusForbidden, nil)
}
