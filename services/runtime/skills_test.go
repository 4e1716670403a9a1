package runtime_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// openclawSkills reads the skill settings of a stored openclaw.json.
func openclawSkills(t *testing.T, config string) (entries map[string]bool, allow []string) {
	t.Helper()
	var c struct {
		Agents struct {
			Defaults struct {
				Skills []string `json:"skills"`
			} `json:"defaults"`
		} `json:"agents"`
		Skills struct {
			Entries map[string]struct {
				Enabled bool `json:"enabled"`
			} `json:"entries"`
		} `json:"skills"`
	}
	if err := json.Unmarshal([]byte(config), &c); err != nil {
		t.Fatalf("openclaw.json: %v", err)
	}
	entries = map[string]bool{}
	for k, v := range c.Skills.Entries {
		entries[k] = v.Enabled
	}
	return entries, c.Agents.Defaults.Skills
}

func TestSkills(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_SKILLS", plans.Pro, withAnthropic(model))
	key := in.addKey(t)
	pro, _ := plans.Lookup(plans.Pro)
	in.putFiles(t, workspace(t, time.Now(), "UTC", pro)...)

	var list httpapi.SkillList
	in.call(t, http.MethodGet, "/api/skills", key, nil, http.StatusOK, &list)
	var names []string
	for _, s := range list.Skills {
		names = append(names, s.Name)
		if !s.Enabled || !strings.Contains(s.Description, s.Name+" skill") {
			t.Errorf("skill %+v", s)
		}
	}
	if list.Plan != "pro" || !slices.Equal(names, pro.Skills) {
		t.Errorf("skills of pro = %s %v, want %v", list.Plan, names, pro.Skills)
	}

	var s skills.Skill
	in.call(t, http.MethodPut, "/api/skills/gmail", key, map[string]bool{"enabled": false}, http.StatusOK, &s)
	if s.Name != "gmail" || s.Enabled {
		t.Errorf("after disabling: %+v", s)
	}
	entries, allow := openclawSkills(t, in.readFile(t, "openclaw.json"))
	if entries["gmail"] || !entries["calendar"] || entries["slack"] || slices.Contains(allow, "gmail") || !slices.Contains(allow, "calendar") {
		t.Errorf("openclaw.json after disabling gmail: entries %v allowlist %v", entries, allow)
	}
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "check my mail"}, http.StatusOK, nil)
	sys := model.Requests()[0].System
	if strings.Contains(sys, "- gmail:") || !strings.Contains(sys, "- calendar:") {
		t.Errorf("prompt's skills after disabling gmail:\n%s", sys[strings.Index(sys, "# Skills"):])
	}

	in.call(t, http.MethodPatch, "/api/skills/gmail", key, map[string]bool{"enabled": true}, http.StatusOK, &s)
	if !s.Enabled {
		t.Errorf("after enabling: %+v", s)
	}
	if entries, allow := openclawSkills(t, in.readFile(t, "openclaw.json")); !entries["gmail"] || !slices.Contains(allow, "gmail") {
		t.Errorf("openclaw.json after enabling gmail: %v %v", entries, allow)
	}

	for _, tc := range []struct {
		path   string
		body   any
		status int
		want   string
	}{
		{"/api/skills/slack", map[string]bool{"enabled": true}, http.StatusForbidden, "not part of the Pro plan"},
		{"/api/skills/teleport", map[string]bool{"enabled": true}, http.StatusNotFound, "unknown skill"},
		{"/api/skills/gmail", map[string]any{}, http.StatusBadRequest, `"enabled" is required`},
		{"/api/skills/gmail", map[string]any{"enabled": "yes"}, http.StatusBadRequest, "must be a JSON boolean"},
	} {
		resp, raw := in.do(t, http.MethodPut, tc.path, key, tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(jsonField(t, string(raw), "error"), tc.want) {
			t.Errorf("PUT %s %v = %d %s, want %d mentioning %q", tc.path, tc.body, resp.StatusCode, raw, tc.status, tc.want)
		}
	}
}
