package runtime_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
)

// Marker lines of the fixture workspace, to find in prompts.
const (
	soulMarker      = "SOUL-MARKER: warm, direct, a little dry."
	agentsMarker    = "AGENTS-MARKER: read SOUL.md first."
	userMarker      = "USER-MARKER: Ada Lovelace"
	identityMarker  = "IDENTITY-MARKER: Claw the crab"
	memoryMDMarker  = "MEMORY-MARKER: prefers short answers"
	todayMarker     = "TODAY-MARKER: dentist at 3pm"
	yesterdayMarker = "YESTERDAY-MARKER: finished the report"
	oldNoteMarker   = "OLD-NOTE-MARKER: ten days ago"
	bootstrapMarker = "BOOTSTRAP-MARKER: first run"
)

// workspace is a workspace shaped like the one the workspace service
// renders (services/workspace/internal/render), for the customer's zone tz.
func workspace(t testing.TB, now time.Time, tz string, plan plans.Plan) []customerdb.File {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	local := now.In(loc)
	files := []customerdb.File{
		{Path: "AGENTS.md", Content: "# AGENTS.md\n\n" + agentsMarker + "\n"},
		{Path: "SOUL.md", Content: "# SOUL.md\n\n" + soulMarker + "\n"},
		{Path: "USER.md", Content: "# USER.md\n\n- **Name:** " + userMarker + "\n- **Timezone:** " + tz + "\n"},
		{Path: "IDENTITY.md", Content: "# IDENTITY.md\n\n" + identityMarker + "\n"},
		{Path: "TOOLS.md", Content: "# TOOLS.md\n"},
		{Path: "HEARTBEAT.md", Content: "# HEARTBEAT.md\n"},
		{Path: "BOOTSTRAP.md", Content: "# BOOTSTRAP.md\n\n" + bootstrapMarker + "\n"},
		{Path: "MEMORY.md", Content: "# MEMORY.md\n\n" + memoryMDMarker + "\n"},
		{Path: customerdb.NotePath(local), Content: "# today\n\n- " + todayMarker + "\n"},
		{Path: customerdb.NotePath(local.AddDate(0, 0, -1)), Content: "# yesterday\n\n- " + yesterdayMarker + "\n"},
		{Path: customerdb.NotePath(local.AddDate(0, 0, -10)), Content: "# old\n\n- " + oldNoteMarker + "\n"},
	}
	entries := map[string]any{}
	for _, p := range plans.All() {
		for _, s := range p.Skills {
			entries[s] = map[string]any{"enabled": plan.Allows(s)}
		}
	}
	for _, s := range plan.Skills {
		desc, _ := json.Marshal(fmt.Sprintf("Use the %s skill when the user asks for %s things.", s, s))
		files = append(files, customerdb.File{
			Path:    "skills/" + s + "/SKILL.md",
			Content: fmt.Sprintf("---\nname: %q\ndescription: %s\nmetadata: {\"openclaw\":{\"emoji\":\"x\"}}\n---\n\n# %s\n", s, desc, s),
		})
	}
	cfg, err := json.MarshalIndent(map[string]any{
		"gateway": map[string]any{"mode": "local", "port": 18789, "bind": "loopback", "auth": map[string]any{"mode": "token"}},
		"agents": map[string]any{"defaults": map[string]any{
			"workspace": "~/.openclaw/workspace",
			"model":     map[string]any{"primary": "anthropic/" + plan.Model},
			"skills":    plan.Skills,
		}},
		"skills": map[string]any{"entries": entries},
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, customerdb.File{Path: "openclaw.json", Content: string(cfg) + "\n"})
}
