package skills

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
)

// rendered is openclaw.json as the workspace service writes it for Starter.
const rendered = `{
  "gateway": {"mode": "local", "port": 18789, "bind": "loopback", "auth": {"mode": "token"}},
  "agents": {"defaults": {"workspace": "~/.openclaw/workspace", "model": {"primary": "anthropic/claude-haiku-4-5"}, "skills": ["chat", "memory", "web-search"]}},
  "skills": {"entries": {"chat": {"enabled": true}, "memory": {"enabled": true}, "web-search": {"enabled": true}, "gmail": {"enabled": false}}}
}`

func TestPatchConfig(t *testing.T) {
	list := []Skill{{Name: "chat", Enabled: true}, {Name: "memory", Enabled: false}, {Name: "web-search", Enabled: true}}
	out, err := PatchConfig(rendered, list)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(rendered), &want); err != nil {
		t.Fatal(err)
	}
	want["agents"].(map[string]any)["defaults"].(map[string]any)["skills"] = []any{"chat", "web-search"}
	want["skills"].(map[string]any)["entries"].(map[string]any)["memory"] = map[string]any{"enabled": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("patched config (-want +got):\n%s", diff)
	}

	none, err := PatchConfig(rendered, []Skill{{Name: "chat"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(none), &got); err != nil {
		t.Fatal(err)
	}
	if s := got["agents"].(map[string]any)["defaults"].(map[string]any)["skills"]; s == nil || len(s.([]any)) != 0 {
		t.Errorf("no skill enabled: allowlist %v, want [] (null would mean all)", s)
	}
	if _, err := PatchConfig("{not json", list); err == nil {
		t.Error("PatchConfig accepted broken JSON")
	}
}

func TestFromFiles(t *testing.T) {
	starter, _ := plans.Lookup(plans.Starter)
	files := []customerdb.File{
		{Path: "skills/chat/SKILL.md", Content: "---\nname: chat\ndescription: \"Talk.\"\n---\n"},
		{Path: "skills/gmail/SKILL.md", Content: "---\nname: gmail\ndescription: \"Mail.\"\n---\n"},
		{Path: "SOUL.md", Content: "---\ndescription: not a skill\n---\n"},
	}
	got := FromFiles(starter, map[string]bool{"memory": false, "gmail": true}, files)
	want := []Skill{{Name: "chat", Description: "Talk.", Enabled: true}, {Name: "memory", Enabled: false}, {Name: "web-search", Enabled: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromFiles (-want +got):\n%s", diff)
	}
}
